"""eval/run/deadline.py: a trial task is never abandoned, and its exception never dropped."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest

from chaos_eval.errors import StoreWriteFailed
from chaos_eval.run.deadline import run_to_deadline


async def test_a_trial_that_fails_while_cancelled_is_said_not_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Cancelled, the trial cleans up and its final write fails (a full disk): the waiter is
    cancelled as asked, and the failure is logged once, not left as 'Task exception was
    never retrieved'."""
    started = asyncio.Event()

    async def trial() -> str:
        try:
            started.set()
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            await asyncio.sleep(0.01)  # its cleanup
            raise StoreWriteFailed("eval.db: cannot write (database or disk is full)") from None
        return "done"

    waiter = asyncio.ensure_future(run_to_deadline(trial(), 60))
    await started.wait()
    waiter.cancel()
    with caplog.at_level(logging.ERROR), pytest.raises(asyncio.CancelledError):
        await waiter
    gc.collect()
    await asyncio.sleep(0)
    messages = [r.getMessage() for r in caplog.records]
    assert any("StoreWriteFailed while being cancelled" in m and "disk is full" in m
               for m in messages), messages
    assert not any("never retrieved" in m for m in messages), messages


async def test_a_trial_past_its_deadline_is_cancelled_and_reported() -> None:
    async def slow() -> str:
        await asyncio.sleep(30)
        return "late"

    assert await run_to_deadline(slow(), 0.05) == (None, True)
    assert await run_to_deadline(asyncio.sleep(0, "x"), 5) == ("x", False)
