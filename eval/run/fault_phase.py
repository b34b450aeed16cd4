"""The fault phase of a trial: pick targets, snapshot, ledger row, inject, verify active,
hold; then, always and shielded: cleanup_chaos (and if it fails or times out, the ledger's
undo plan), verify removed, compare snapshots; and, outside the removal's time limit, close
the ledger row with the result. Recovery is observed from the moment the fault is gone.
The limits are eval/run/budgets.py's, which nest by construction.

If the Docker engine went away meanwhile (its daemon stopped or restarted) and the removal
could not be proven, that says nothing about the fault: the ledger row stays open, for
resume (or gc) to undo once the engine answers again, and the trial is a harness error
(EngineUnreachable), not `cleanup_failed`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from chaos_eval.analysis.metrics import FaultWindow
from chaos_eval.cleanup.removal_proof import RemovalCheck
from chaos_eval.cleanup.undo import run_undo
from chaos_eval.engine.client import Docker
from chaos_eval.errors import ChaosEvalError, CleanupError, EngineUnreachable, FaultError
from chaos_eval.fault import BaselineAware, Evidence, Fault, undo_plan_to_json
from chaos_eval.outcomes import LedgerState, TrialPhase
from chaos_eval.polling import poll_until
from chaos_eval.run.budgets import RECORD_S, CleanupBudget
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
    before: Awaitable[RemovalCheck] | None,
) -> tuple[FaultWindow, Recovery]:
    """Inject, hold, and always remove the fault. Returns the fault window on the trial clock
    and the recovery observation, which starts the moment `cleanup_chaos` returns and runs
    while `verify_removed` gathers its proof. `before`: the before-snapshot of a fault trial,
    which the trial started taking during the warm-up (None for a baseline)."""

    def observe(removed_at: float) -> Recovery:
        return asyncio.create_task(
            observe_recovery(subject, plan.timing.recovery_timeout_s, clock, removed_at)
        )

    if plan.chaos is None:  # baseline: the same hold, no fault
        start = clock()
        await asyncio.sleep(plan.timing.fault_duration_s)
        end = clock()
        return FaultWindow(start, end), observe(end)
    assert before is not None  # a fault trial always starts its before-snapshot
    leader = None
    if isinstance(subject, LeaderAware):
        node = await subject.leader(plan.chaos.role)
        leader = node.name if node else None
    targets = select_targets(plan.chaos.target, nodes, plan.seed, leader, plan.chaos.role)
    await store.record_targets(plan.trial_id, [n.name for n in targets])
    fault = build_fault(plan, targets, nodes, replace(ctx, subject=subject), docker)
    # The fault's own baseline and the generic proof of removal's before-snapshot (eval/
    # cleanup/removal_proof.py: every node, compared later; started by the trial during the
    # warm-up) observe, change nothing and are independent: awaited at once.
    check, *baseline = await asyncio.gather(
        before,
        *([fault.measure_baseline()] if isinstance(fault, BaselineAware) else []),
        return_exceptions=True,  # both run to their end; then the first failure is raised
    )
    for failed in (check, *baseline):
        if isinstance(failed, BaseException):
            raise failed
    assert isinstance(check, RemovalCheck)
    ledger_id = await store.record_fault_planned(
        plan.trial_id,
        kind=fault.kind,
        description=fault.describe(),
        targets=[n.container_id for n in targets],
        undo=undo_plan_to_json(fault.undo_plan()),
    )
    injected_at = clock()
    losses = docker.engine_losses
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
        # The removal is one shielded unit bounded by the sum of its steps; whatever becomes
        # of it (done, overran, cancelled again), the ledger row is closed with its result.
        budget = CleanupBudget(plan.timing.cleanup_timeout_s)
        holder: list[Recovery] = []
        outcome: list[tuple[float, Evidence]] = []
        try:
            await shielded(
                _remove(plan, fault, docker, ctx, store, rec, clock, observe, holder, check,
                        outcome),
                budget.removal_s,
            )
        except TimeoutError:
            log.error("removing %s overran its %ss budget", fault.kind, budget.removal_s)
        except BaseException:
            for task in holder:
                task.cancel()
            raise
        finally:
            removed = outcome[0][1] if outcome else Evidence(
                False, f"removal did not finish within its {budget.removal_s:g}s budget")
            engine_lost = docker.engine_losses > losses and not removed.holds
            state = LedgerState.CLEANED if removed.holds else LedgerState.CLEANUP_FAILED
            if not engine_lost:  # else left open: resume undoes it once the engine is back
                await shielded(store.close_ledger(ledger_id, state), RECORD_S)
        if not removed.holds:
            for task in holder:
                task.cancel()
            if engine_lost:
                raise EngineUnreachable(
                    f"the Docker engine went away while {fault.kind} was in place "
                    f"({docker.last_loss}); its removal could not be proven, so its ledger "
                    "row stays open for resume to undo")
            raise CleanupError(f"{fault.kind} could not be proven removed: {removed.summary}")
        (recovery,) = holder
        removed_at = outcome[0][0]
    return FaultWindow(injected_at, removed_at), recovery


async def _remove(
    plan: TrialPlan,
    fault: Fault,
    docker: Docker,
    ctx: TrialContext,
    store: Store,
    rec: TrialRecord,
    clock: Callable[[], float],
    observe: Callable[[float], Recovery],
    holder: list[Recovery],
    check: RemovalCheck,
    outcome: list[tuple[float, Evidence]],
) -> None:
    """cleanup_chaos (or the undo plan) -> (fault gone: start observing recovery) ->
    verify_removed beside the after-snapshot -> snapshot comparison. Appends (when the fault
    was gone, the proof of removal, failing if the snapshots differ) to `outcome`. Each step
    is bounded by step_s."""
    step_s = CleanupBudget(plan.timing.cleanup_timeout_s).step_s
    removing_at = clock()
    await cleanup_or_undo(fault, docker, ctx, step_s)
    removed_at = clock()
    rec.measurements["cleanup_s"] = round(removed_at - removing_at, 3)
    holder.append(observe(removed_at))
    after = asyncio.create_task(check.take_after())  # beside verify_removed: both observe
    try:
        try:
            removed = await asyncio.wait_for(_verify_removed(fault), step_s)
        except TimeoutError:
            removed = Evidence(False, f"verify_removed timed out ({step_s}s)")
        rec.proof["removed"] = removed.to_json()
        rec.measurements["verify_removed_s"] = round(clock() - removed_at, 3)
        # any snapshot difference fails it
        removed = await check.confirm(removed, rec.proof, await after)
    finally:
        after.cancel()
    outcome.append((removed_at, removed))
    await store.record_phase(plan.trial_id, TrialPhase.FAULT_REMOVED, removed.summary)


async def cleanup_or_undo(fault: Fault, docker: Docker, ctx: TrialContext, step_s: float) -> None:
    """cleanup_chaos within step_s; if it raises or times out, the ledger's undo plan (the
    same one resume and gc would run) within step_s. Never raises but CancelledError; what
    is left is for verify_removed to find."""
    try:
        await asyncio.wait_for(fault.cleanup_chaos(), step_s)
        return
    except TimeoutError:
        why = f"timed out after {step_s}s"
    except Exception as e:  # any failure of cleanup_chaos: fall back to the undo plan
        why = f"{type(e).__name__}: {e}"
    log.warning("cleanup_chaos of %s failed (%s); running its undo plan", fault.kind, why)
    try:
        problems = await asyncio.wait_for(
            run_undo(docker, fault.undo_plan(), ctx.labels("helper")), step_s
        )
    except TimeoutError:
        problems = [f"the undo plan timed out after {step_s}s"]
    except ChaosEvalError as e:
        problems = [str(e)]
    for problem in problems:
        log.warning("undo plan of %s: %s", fault.kind, problem)


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
