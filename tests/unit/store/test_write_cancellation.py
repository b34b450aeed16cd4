"""A write cancelled at any moment (a trial cancelled by Ctrl-C, a lost lease or its
deadline) leaves the connection usable: never inside a transaction nobody will end."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from chaos_eval.store.store import Store
from tests.unit.store.test_store import new_campaign


async def test_writes_cancelled_at_every_await_leave_the_connection_usable(
    tmp_path: Path,
) -> None:
    async with await Store.open(tmp_path / "e.db") as store:
        cid = await new_campaign(store, n=1)
        (trial,) = await store.trials(cid)
        cancelled = 0
        for steps in range(0, 40):
            task = asyncio.ensure_future(store.event(cid, "probe", f"step {steps}"))
            for _ in range(steps):
                await asyncio.sleep(0)
            if not task.done():
                task.cancel()
                cancelled += 1
            with contextlib.suppress(asyncio.CancelledError):
                await task
            # whatever happened to that write, the next one works
            await asyncio.wait_for(store.mark_trial_error(trial.id, f"after {steps}"), 10)
        assert cancelled > 5
        assert (await store.trial(trial.id)).error == "after 39"
