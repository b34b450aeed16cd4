"""The one loop that undoes open fault-ledger rows (eval/cleanup/repair.py), as resume's
repair and `eval gc` run it: each row closed `cleaned` or `cleanup_failed`; repair records a
`ledger_repaired` event per row, gc records none (its one `gc` event is per campaign)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from chaos_eval.cleanup.gc import plan_gc, run_gc
from chaos_eval.cleanup.repair import repair, undo_open_ledger
from chaos_eval.engine.containers import ContainerInfo, Labelled
from chaos_eval.errors import DockerError
from chaos_eval.fault import UndoAction, UndoOp, undo_plan_to_json
from chaos_eval.outcomes import CampaignStatus, LedgerState
from chaos_eval.store.store import Store
from chaos_eval.subject import LABEL_CAMPAIGN
from tests.unit.store.test_store import new_campaign


class FakeDocker:
    """Removing container "stuck" fails; every other undo action succeeds."""

    def __init__(self, campaign: str = "") -> None:
        self.removed: list[str] = []
        self.campaign = campaign  # the campaign label every container carries

    async def inspect(self, container: str) -> ContainerInfo:
        return ContainerInfo(container, container, "running", True, False, 0, "",
                             labels={LABEL_CAMPAIGN: self.campaign})

    async def remove(self, container: str) -> None:
        if container == "stuck":
            raise DockerError("simulated: cannot remove stuck")
        self.removed.append(container)

    async def labelled(self, label: str, value: str | None = None) -> Labelled:
        return Labelled((), (), ())

    async def label_values(self, label: str) -> dict[str, Labelled]:
        return {}

    async def remove_labelled(self, res: Labelled) -> None:
        pass


async def two_open_rows(store: Store) -> tuple[int, list[int]]:
    cid = await new_campaign(store, n=2)
    trials = await store.trials(cid)
    ids = []
    for t, name in zip(trials, ("gone", "stuck"), strict=True):
        undo = undo_plan_to_json((UndoAction(UndoOp.REMOVE_CONTAINER, name),))
        ids.append(await store.record_fault_planned(
            t.id, kind="noop", description=f"fault on {name}", targets=[name], undo=undo
        ))
    return cid, ids


def states(store: Store, cid: int) -> list[str]:
    raw = sqlite3.connect(store.path)
    try:
        rows = raw.execute(
            "SELECT state FROM fault_ledger WHERE campaign_id = ? ORDER BY id", (cid,)
        ).fetchall()
    finally:
        raw.close()
    return [r[0] for r in rows]


async def test_undo_open_ledger_closes_each_row_and_returns_its_problems(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "eval.db") as store:
        cid, ids = await two_open_rows(store)
        label = (await store.campaign(cid)).uid
        docker: Any = FakeDocker(label)
        done = await undo_open_ledger(store, docker, cid, label)
        assert [(r.id, bool(p)) for r, p in done] == [(ids[0], False), (ids[1], True)]
        assert docker.removed == ["gone"]
        assert states(store, cid) == [LedgerState.CLEANED, LedgerState.CLEANUP_FAILED]
        assert await store.open_ledger(cid) == []
        assert not [e for e in await store.events(cid) if e.kind == "ledger_repaired"]


async def test_repair_counts_and_records_each_row(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "eval.db") as store:
        cid, _ = await two_open_rows(store)
        label = (await store.campaign(cid)).uid
        report = await repair(store, FakeDocker(label), cid)  # type: ignore[arg-type]
        assert report == {
            "ledger_undone": 1, "ledger_failed": 1, "interrupted": 0, "containers_removed": 0
        }
        events = await store.events(cid, "ledger_repaired")
        assert [e.detail for e in events] == [
            "fault on gone",
            "remove_container stuck: simulated: cannot remove stuck",
        ]


async def test_gc_undoes_a_dead_campaigns_ledger_without_repair_events(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "eval.db") as store:
        cid, _ = await two_open_rows(store)
        await store.set_campaign_status(cid, CampaignStatus.INTERRUPTED)
        docker: Any = FakeDocker((await store.campaign(cid)).uid)
        items = await plan_gc(store, docker, include_foreign=False)
        assert [(i.campaign_id, i.open_ledger, i.action) for i in items] == [(cid, 2, "remove")]
        assert await run_gc(store, docker, items) == 1
        assert states(store, cid) == [LedgerState.CLEANED, LedgerState.CLEANUP_FAILED]
        kinds = [e.kind for e in await store.events(cid)]
        assert "gc" in kinds and "ledger_repaired" not in kinds
        assert docker.removed == ["gone"]
