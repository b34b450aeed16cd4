"""The trial lifecycle's error paths (issue 11, classes 8 and 10), through the no-op fault's
failure switches on the no-op subject: no Docker. Each test asserts the trial's final
status, the ledger row's state, and that cleanup ran (and, where cleanup_chaos failed or
hung, that the ledger's undo plan ran in its place)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos_eval.chaos.noop import NoopFault
from chaos_eval.engine.containers import ContainerInfo, Labelled
from chaos_eval.outcomes import LedgerState, TrialStatus
from chaos_eval.run.budgets import REMOVAL_STEPS, CleanupBudget
from chaos_eval.run.plan import RunControl, TrialPlan
from chaos_eval.run.trial import run_trial
from chaos_eval.spec.config import parse_campaign
from chaos_eval.spec.matrix import expand
from chaos_eval.store.store import Store
from chaos_eval.subject import LABEL_CAMPAIGN

UID = "uid-lifecycle"


class UndoEngine:
    """The engine as the undo plan sees it: every container exists, paused, labelled with
    this campaign; unpausing a no-op fault's target removes that fault (what its undo plan
    is for). Anything else the harness asks of Docker fails the test."""

    engine_losses = 0  # calls that found no engine at all (eval/engine/connection.py)
    last_loss = ""

    def __init__(self) -> None:
        self.unpaused: list[str] = []

    async def inspect(self, container: str) -> ContainerInfo:
        return ContainerInfo(container, container, "paused", True, True, 0, "",
                             labels={LABEL_CAMPAIGN: UID})

    async def unpause(self, container: str) -> bool:
        self.unpaused.append(container)
        for fault in NoopFault.made:
            if fault.targets and fault.targets[0].container_id == container:
                fault.active = False
        return True

    async def labelled(self, *a: Any, **k: Any) -> Labelled:
        return Labelled((), (), ())

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"Docker.{name} called in a Docker-free test")


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    NoopFault.made.clear()
    yield
    NoopFault.made.clear()


async def trial(
    tmp_path: Path, params: dict[str, Any], *, cleanup_s: float = 0.3, fault_s: float = 0.05,
    cancel_after_s: float | None = None,
) -> tuple[TrialStatus, str, LedgerState | None, NoopFault | None, UndoEngine, float]:
    cfg = parse_campaign({
        "name": "lc", "subjects": ["noop"], "include_baseline": False,
        "chaos_types": [{"type": "noop", "params": params}],
        "timing": {"warmup_s": 0.01, "fault_duration_s": fault_s, "recovery_timeout_s": 1,
                   "cleanup_timeout_s": cleanup_s},
        "workload": {"rate_per_s": 100, "concurrency": 1},
    }, "mem")
    ((planned, coords),) = expand(cfg)
    engine = UndoEngine()
    async with await Store.open(tmp_path / "e.db") as store:
        cid = await store.create_campaign(
            name="lc", spec_hash="h", spec_json="{}", config_path="c.yaml", seed=1,
            harness_version="t", git_sha="x", argv=["eval"], trials=[planned])
        (row,) = await store.trials(cid)
        plan = TrialPlan(row.id, cid, UID, row.key, row.seed, coords.subject, coords.chaos,
                         coords.params, cfg.timing, cfg.workload, cfg.slo)
        t0 = time.monotonic()
        task = asyncio.ensure_future(run_trial(plan, store, engine, RunControl()))  # type: ignore[arg-type]
        if cancel_after_s is not None:
            await asyncio.sleep(cancel_after_s)
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        took = time.monotonic() - t0
        final = await store.trial(row.id)
        ledger = await store.trial_ledger(row.id)
    fault = NoopFault.made[0] if NoopFault.made else None
    state = ledger[0].state if ledger else None
    return final.status, final.error, state, fault, engine, took


async def test_all_well(tmp_path: Path) -> None:
    status, _, state, fault, engine, _ = await trial(tmp_path, {})
    assert (status, state) == (TrialStatus.PASSED, LedgerState.CLEANED)
    assert fault is not None and fault.calls == [
        "inject", "verify_active", "cleanup_chaos", "verify_removed"]
    assert engine.unpaused == []  # cleanup_chaos worked: no fallback


async def test_inject_fails(tmp_path: Path) -> None:
    status, error, state, fault, _, _ = await trial(tmp_path, {"fail_inject": True})
    assert status == TrialStatus.ERROR and "injection" in error
    assert state == LedgerState.CLEANED  # cleanup ran after the half-done inject
    assert fault is not None and "cleanup_chaos" in fault.calls


async def test_verify_active_fails(tmp_path: Path) -> None:
    status, error, state, fault, _, _ = await trial(tmp_path, {"fail_verify": True})
    assert status == TrialStatus.ERROR and "did not take effect" in error
    assert state == LedgerState.CLEANED
    assert fault is not None and fault.calls[-2:] == ["cleanup_chaos", "verify_removed"]


async def test_cleanup_fails_then_the_undo_plan_removes_it(tmp_path: Path) -> None:
    status, _, state, fault, engine, _ = await trial(tmp_path, {"cleanup": "fail"})
    assert fault is not None
    assert engine.unpaused == [fault.targets[0].container_id]  # the ledger's undo plan ran
    assert (status, state) == (TrialStatus.PASSED, LedgerState.CLEANED)


async def test_cleanup_hangs_is_bounded_then_the_undo_plan_removes_it(tmp_path: Path) -> None:
    status, _, state, fault, engine, took = await trial(tmp_path, {"cleanup": "hang"},
                                                        cleanup_s=0.3)
    assert fault is not None and fault.calls.count("cleanup_chaos") == 1
    assert engine.unpaused == [fault.targets[0].container_id]
    assert (status, state) == (TrialStatus.PASSED, LedgerState.CLEANED)
    assert took < 10  # bounded by cleanup_timeout_s, not hung


async def test_cleanup_hangs_after_removing_it_still_runs_the_undo_plan(tmp_path: Path) -> None:
    status, _, state, _, engine, _ = await trial(tmp_path, {"cleanup": "remove_then_hang"})
    assert len(engine.unpaused) == 1
    assert (status, state) == (TrialStatus.PASSED, LedgerState.CLEANED)


async def test_a_fault_that_cannot_be_removed_is_cleanup_failed(tmp_path: Path) -> None:
    status, error, state, _, engine, _ = await trial(tmp_path, {"cleanup": "hang", "stuck": True})
    assert len(engine.unpaused) == 1  # the fallback was tried
    assert status == TrialStatus.CLEANUP_FAILED and "could not be proven removed" in error
    assert state == LedgerState.CLEANUP_FAILED  # the ledger row is closed, not left open


@pytest.mark.parametrize(("params", "at"), [
    ({"hang_on": "inject"}, "inject"),
    ({"hang_on": "verify_active"}, "verify_active"),
    ({}, "hold"),
])
async def test_cancellation_at_each_phase_still_cleans_up(
    tmp_path: Path, params: dict[str, Any], at: str
) -> None:
    status, _, state, fault, _, _ = await trial(tmp_path, params, fault_s=30, cancel_after_s=0.5)
    assert fault is not None, "the fault phase was reached"
    assert status == TrialStatus.INTERRUPTED
    assert "cleanup_chaos" in fault.calls and "verify_removed" in fault.calls
    assert state == LedgerState.CLEANED


async def test_cancellation_during_a_hanging_cleanup_still_closes_the_ledger(
    tmp_path: Path,
) -> None:
    status, _, state, fault, engine, _ = await trial(
        tmp_path, {"cleanup": "hang"}, fault_s=0.05, cleanup_s=0.6, cancel_after_s=0.3)
    assert fault is not None and status == TrialStatus.INTERRUPTED
    assert len(engine.unpaused) == 1 and state == LedgerState.CLEANED


def test_cleanup_limits_nest_by_construction() -> None:
    for step in (0.1, 1, 60, 600):
        b = CleanupBudget(step)
        assert b.removal_s > REMOVAL_STEPS * step  # every inner step fits in the outer limit
        assert b.finish_s > step
