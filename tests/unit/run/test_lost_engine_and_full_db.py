"""A trial whose Docker engine goes away, or whose eval.db stops taking writes (issue 11):
the fault is removed all the same, the trial is an `error` that says why, and what could
not be settled or recorded is left as an open ledger row that resume's repair undoes. The
no-op fault and subject; an engine double; no Docker."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from chaos_eval.chaos.noop import NoopFault
from chaos_eval.cleanup.repair import undo_open_ledger
from chaos_eval.engine.containers import ContainerInfo
from chaos_eval.errors import EngineUnreachable, StoreWriteFailed
from chaos_eval.outcomes import LedgerState, TrialStatus
from chaos_eval.run import trial as trial_module
from chaos_eval.run.plan import RunControl, TrialPlan
from chaos_eval.run.trial import run_trial
from chaos_eval.spec.config import parse_campaign
from chaos_eval.spec.matrix import expand
from chaos_eval.store.connection import Connection
from chaos_eval.store.store import Store
from tests.unit.run.test_lifecycle_errors import UID, UndoEngine


class LostEngine(UndoEngine):
    """An engine that stops answering once `lost` is set (its daemon stopped)."""

    lost = False

    async def inspect(self, container: str) -> ContainerInfo:
        if self.lost:
            self.engine_losses += 1
            self.last_loss = f"inspect {container}: connection refused"
            raise EngineUnreachable(f"the Docker engine is unreachable ({self.last_loss})")
        return await super().inspect(container)


async def _setup(store: Store, params: dict[str, Any]) -> TrialPlan:
    cfg = parse_campaign({
        "name": "lost", "subjects": ["noop"], "include_baseline": False,
        "chaos_types": [{"type": "noop", "params": params}],
        "timing": {"warmup_s": 0.01, "fault_duration_s": 0.05, "recovery_timeout_s": 1,
                   "cleanup_timeout_s": 0.3},
        "workload": {"rate_per_s": 100, "concurrency": 1},
    }, "mem")
    ((planned, coords),) = expand(cfg)
    cid = await store.create_campaign(
        name="lost", spec_hash="h", spec_json="{}", config_path="c.yaml", seed=1,
        harness_version="t", git_sha="x", argv=["eval"], trials=[planned])
    (row,) = await store.trials(cid)
    return TrialPlan(row.id, cid, UID, row.key, row.seed, coords.subject, coords.chaos,
                     coords.params, cfg.timing, cfg.workload, cfg.slo)


@pytest.fixture(autouse=True)
def _fresh() -> None:
    NoopFault.made.clear()


async def test_an_engine_lost_mid_fault_is_an_error_and_leaves_the_ledger_open_for_resume(
    tmp_path: Path,
) -> None:
    engine = LostEngine()
    async with await Store.open(tmp_path / "e.db") as store:
        # cleanup_chaos fails and the fault cannot be seen gone; the undo plan finds no engine
        plan = await _setup(store, {"cleanup": "fail", "stuck": True})
        engine.lost = True
        status = await run_trial(plan, store, engine, RunControl())  # type: ignore[arg-type]
        final = await store.trial(plan.trial_id)
        (ledger,) = await store.trial_ledger(plan.trial_id)
        assert status == final.status == TrialStatus.ERROR  # not cleanup_failed, not failed
        assert "Docker engine went away while noop was in place" in final.error
        assert "connection refused" in final.error and "resume" in final.error
        assert ledger.state == LedgerState.OPEN  # unsettled: for resume, not closed as failed
        # the engine is back: resume's repair runs the undo plan and closes the row
        engine.lost = False
        await undo_open_ledger(store, engine, plan.campaign_id, UID)  # type: ignore[arg-type]
        (ledger,) = await store.trial_ledger(plan.trial_id)
        assert ledger.state == LedgerState.CLEANED
        assert engine.unpaused == [NoopFault.made[0].targets[0].container_id]


async def test_a_verdict_reached_while_the_engine_was_away_is_void(tmp_path: Path) -> None:
    engine = LostEngine()

    async def loses_the_engine(self: NoopFault) -> None:  # the engine fails once, mid-fault
        engine.engine_losses += 1
        engine.last_loss = "inspect c1: connection refused"
        self.active = False

    async with await Store.open(tmp_path / "e.db") as store:
        plan = await _setup(store, {})
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(NoopFault, "cleanup_chaos", loses_the_engine)
            status = await run_trial(plan, store, engine, RunControl())  # type: ignore[arg-type]
        final = await store.trial(plan.trial_id)
    assert status == final.status == TrialStatus.ERROR
    assert "Docker engine went away during the trial" in final.error
    assert "the verdict would have been passed" in final.reasons_list


async def test_a_db_that_stops_taking_writes_after_the_ledger_row_still_removes_the_fault(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ledger row is written, then the disk is full: the fault is removed and verified
    all the same, the cluster is torn down, the failure is raised (the campaign stops on it),
    and the row left open is what resume's repair (its undo loop) undoes once writes work again."""
    full = False
    real = Connection.transaction

    @asynccontextmanager
    async def transaction(self: Connection) -> AsyncIterator[Any]:
        if full:
            raise StoreWriteFailed(f"{self.path}: cannot write (database or disk is full)")
        async with real(self) as db:
            yield db

    monkeypatch.setattr(Connection, "transaction", transaction)
    subjects: list[Any] = []
    build = trial_module.build_subject
    monkeypatch.setattr(trial_module, "build_subject",
                        lambda *a: subjects.append(build(*a)) or subjects[-1])
    engine = UndoEngine()
    async with await Store.open(tmp_path / "e.db") as store:
        plan = await _setup(store, {})
        planned = store.record_fault_planned

        async def then_full(*a: Any, **k: Any) -> int:
            nonlocal full
            ledger_id = await planned(*a, **k)
            full = True
            return ledger_id

        monkeypatch.setattr(store, "record_fault_planned", then_full)
        with pytest.raises(StoreWriteFailed, match="disk is full"):
            await run_trial(plan, store, engine, RunControl())  # type: ignore[arg-type]
        (fault,) = NoopFault.made
        assert fault.calls[-2:] == ["cleanup_chaos", "verify_removed"] and not fault.active
        assert "teardown" in subjects[0].calls  # teardown does not depend on the store
        full = False
        (ledger,) = await store.trial_ledger(plan.trial_id)
        assert ledger.state == LedgerState.OPEN
        ((_, problems),) = await undo_open_ledger(
            store, engine, plan.campaign_id, UID)  # type: ignore[arg-type]
        assert problems == []
        (ledger,) = await store.trial_ledger(plan.trial_id)
        assert ledger.state == LedgerState.CLEANED


async def test_a_full_disk_is_a_store_write_failure_naming_the_file(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "e.db") as store:
        await _setup(store, {})
        db = tmp_path / "e.db"
        con = sqlite3.connect(db)
        pages = con.execute("PRAGMA page_count").fetchone()[0]
        con.close()
        # SQLite's own limit on the file's size: the same SQLITE_FULL a full filesystem gives
        await store._conn._db.execute(f"PRAGMA max_page_count = {pages}")  # type: ignore[attr-defined]
        with pytest.raises(StoreWriteFailed) as caught:
            for _ in range(200):
                await store.event(1, "filler", "x" * 4000)
        assert str(caught.value).startswith(f"{db}: cannot write (database or disk is full)")
        assert await store.integrity_check() == "ok"  # what was committed is intact


async def test_after_an_error_the_runner_waits_for_a_missing_engine_then_aborts_on_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon does not come back: after each `error` the runner waits for the engine
    (bounded), then goes on; max_consecutive_errors in a row abort the campaign."""
    from chaos_eval.outcomes import CampaignStatus
    from chaos_eval.run.campaign import CampaignRunner
    from chaos_eval.run.resolve import resolve_campaign
    from chaos_eval.spec import registry
    from tests.unit.fakes import Tracker
    from tests.unit.run.test_harness import NoDocker, doc

    class GoneEngine(NoDocker):
        def __init__(self) -> None:
            self.waits: list[float] = []

        async def reachable(self) -> bool:
            return False

        async def wait_reachable(self, timeout_s: float) -> bool:
            self.waits.append(timeout_s)
            return False

    monkeypatch.setitem(registry.SUBJECTS, "fake", "tests.unit.fakes:FakeSubject")
    Tracker.reset()
    d = doc(parallel=1, max_retries=0, max_consecutive_errors=2)
    cfg = parse_campaign(d, "mem")
    Tracker.fail_up_for = {p.key for p, _ in expand(cfg)}  # every trial: no engine
    engine, events = GoneEngine(), []
    async with await Store.open(tmp_path / "e.db") as store:
        res = await resolve_campaign(store, cfg, "mem.yaml", ["eval"], new=False)
        runner = CampaignRunner(cfg, res.campaign, store, engine,  # type: ignore[arg-type]
                                progress=lambda event, *_: events.append(event))
        assert await runner.run() == CampaignStatus.ABORTED
        assert "consecutive" in (await store.campaign(res.campaign.id)).reason
    assert events.count("engine_lost") == 1  # waited after the first error, not the last
    assert len(engine.waits) == 1
