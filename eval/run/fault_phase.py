"""The fault phase of a trial: pick targets, snapshot, ledger row, inject, verify active,
hold; then, always and shielded: cleanup_chaos (or the undo plan), verify removed, compare
snapshots, close the ledger row. Recovery is observed from the moment the fault is gone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace

from chaos_eval.analysis.metrics import FaultWindow
from chaos_eval.cleanup.removal_proof import RemovalCheck, snapshot_before
from chaos_eval.cleanup.undo import run_undo
from chaos_eval.engine.client import Docker
from chaos_eval.errors import ChaosEvalError, CleanupError, FaultError
from chaos_eval.fault import BaselineAware, Evidence, Fault, undo_plan_to_json
from chaos_eval.outcomes import LedgerState, TrialPhase
from chaos_eval.polling import poll_until
from chaos_eval.run.plan import TrialPlan
from chaos_eval.run.results import TrialRecord
from chaos_eval.run.shield import shielded
from chaos_eval.spec import registry
from chaos_eval.spec.targeting import select_targets
from chaos_eval.store.store import Store
from chaos_eval.subject import Health, LeaderAware, Node, Subject, TrialContext

log = logging.getLogger(__name__)
POLL_S = 0.25

Recovery = asyncio.Task[tuple[bool, float | None, Health]]


def build_fault(
    plan: TrialPlan,
    targets: tuple[Node, ...],
    cluster: tuple[Node, ...],
    ctx: TrialContext,
    docker: Docker,
) -> Fault:
    assert plan.chaos is not None
    params = registry.fault_params_model(plan.chaos.type).model_validate(dict(plan.params))
    fault: Fault = registry.fault_class(plan.chaos.type)(params, targets, cluster, ctx, docker)
    return fault


async def fault_phase(
    plan: TrialPlan,
    subject: Subject,
    nodes: tuple[Node, ...],
    ctx: TrialContext,
    docker: Docker,
    store: Store,
    rec: TrialRecord,
    clock: Callable[[], float],
) -> tuple[FaultWindow, Recovery]:
    """Inject, hold, and always remove the fault. Returns the fault window on the trial clock
    and the recovery observation, which starts the moment `cleanup_chaos` returns and runs
    while `verify_removed` gathers its proof."""

    def observe(removed_at: float) -> Recovery:
        return asyncio.create_task(
            observe_recovery(subject, plan.timing.recovery_timeout_s, clock, removed_at)
        )

    if plan.chaos is None:  # baseline: the same hold, no fault
        start = clock()
        await asyncio.sleep(plan.timing.fault_duration_s)
        end = clock()
        return FaultWindow(start, end), observe(end)
    leader = None
    if isinstance(subject, LeaderAware):
        node = await subject.leader(plan.chaos.role)
        leader = node.name if node else None
    targets = select_targets(plan.chaos.target, nodes, plan.seed, leader, plan.chaos.role)
    await store.record_targets(plan.trial_id, [n.name for n in targets])
    fault = build_fault(plan, targets, nodes, replace(ctx, subject=subject), docker)
    if isinstance(fault, BaselineAware):
        await fault.measure_baseline()
    # Generic proof of removal (eval/cleanup/removal_proof.py): every node now, compared later.
    check = await snapshot_before(
        plan.subject.type, docker, ctx, nodes, rec.proof, plan.timing.cleanup_timeout_s
    )
    ledger_id = await store.record_fault_planned(
        plan.trial_id,
        kind=fault.kind,
        description=fault.describe(),
        targets=[n.container_id for n in targets],
        undo=undo_plan_to_json(fault.undo_plan()),
    )
    injected_at = clock()
    try:
        await fault.inject()
        active = await fault.verify_active()
        rec.proof["active"] = active.to_json()
        rec.measurements["inject_s"] = round(clock() - injected_at, 3)
        await store.record_phase(plan.trial_id, TrialPhase.FAULT_ACTIVE, active.summary)
        if not active.holds:
            raise FaultError(f"{fault.kind} did not take effect: {active.summary}")
        await asyncio.sleep(plan.timing.fault_duration_s)  # configured phase: hold the fault
    finally:
        # One shielded unit: cleanup, proof of removal and the ledger close all happen even
        # if the trial is cancelled (again) meanwhile.
        holder: list[Recovery] = []
        try:
            removed_at, removed = await shielded(
                _remove(
                    plan, fault, docker, ctx, store, ledger_id, rec, clock, observe, holder, check
                ),
                2 * plan.timing.cleanup_timeout_s + 30,
            )
        except BaseException:
            for task in holder:
                task.cancel()
            raise
        (recovery,) = holder
        if not removed.holds:
            recovery.cancel()
            raise CleanupError(f"{fault.kind} could not be proven removed: {removed.summary}")
    return FaultWindow(injected_at, removed_at), recovery


async def _remove(
    plan: TrialPlan,
    fault: Fault,
    docker: Docker,
    ctx: TrialContext,
    store: Store,
    ledger_id: int,
    rec: TrialRecord,
    clock: Callable[[], float],
    observe: Callable[[float], Recovery],
    holder: list[Recovery],
    check: RemovalCheck,
) -> tuple[float, Evidence]:
    """cleanup_chaos -> (fault gone: start observing recovery) -> verify_removed -> snapshot
    comparison -> close the ledger row. Returns when the fault was gone and the proof of
    removal (failing if the snapshots differ)."""
    removing_at = clock()
    try:
        await asyncio.wait_for(_cleanup(fault, docker, ctx), plan.timing.cleanup_timeout_s)
    except TimeoutError:
        log.warning("cleanup_chaos of %s timed out; proving removal anyway", fault.kind)
    removed_at = clock()
    rec.measurements["cleanup_s"] = round(removed_at - removing_at, 3)
    holder.append(observe(removed_at))
    try:
        removed = await asyncio.wait_for(_verify_removed(fault), plan.timing.cleanup_timeout_s)
    except TimeoutError:
        removed = Evidence(False, f"verify_removed timed out ({plan.timing.cleanup_timeout_s}s)")
    rec.proof["removed"] = removed.to_json()
    rec.measurements["verify_removed_s"] = round(clock() - removed_at, 3)
    removed = await check.confirm(removed, rec.proof)  # any snapshot difference fails it
    state = LedgerState.CLEANED if removed.holds else LedgerState.CLEANUP_FAILED
    await store.close_ledger(ledger_id, state)
    await store.record_phase(plan.trial_id, TrialPhase.FAULT_REMOVED, removed.summary)
    return removed_at, removed


async def _cleanup(fault: Fault, docker: Docker, ctx: TrialContext) -> None:
    """cleanup_chaos, and if that raises, the ledger's undo plan."""
    try:
        await fault.cleanup_chaos()
    except ChaosEvalError as e:
        log.warning("cleanup_chaos of %s failed (%s); running its undo plan", fault.kind, e)
        await run_undo(docker, fault.undo_plan(), ctx.labels("helper"))


async def _verify_removed(fault: Fault) -> Evidence:
    try:
        return await fault.verify_removed()
    except ChaosEvalError as e:
        return Evidence(False, f"verify_removed failed: {e}")


async def observe_recovery(
    subject: Subject, timeout_s: float, clock: Callable[[], float], removed_at: float
) -> tuple[bool, float | None, Health]:
    """Probe health every POLL_S until healthy or timeout_s: (recovered, seconds since the
    fault was removed, on the trial clock, or None; the last health)."""
    last, _ = await poll_until(subject.health, lambda h: h.healthy, timeout_s, POLL_S)
    if last.healthy:
        return True, round(clock() - removed_at, 3), last
    return False, None, last
