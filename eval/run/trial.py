"""One trial, top to bottom: fresh cluster, workload, one fault, recovery, verdict.

    record running -> up -> wait healthy -> start workload -> warm-up -> ledger row,
    inject, verify active -> hold -> finally: cleanup_chaos, verify removed, close ledger
    -> observe recovery -> stop workload, final reads -> metrics + verdict -> record
    -> finally: tear the cluster down

Every phase boundary is written to the store, so a crash anywhere leaves a record resume
can act on. Cleanup and teardown are shielded from cancellation and bounded by their own
timeouts. Harness failures end the trial as `error`; a fault that cannot be proven removed
ends it as `cleanup_failed`; only the subject's own behaviour can make it `failed`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from eval.analysis.metrics import FaultWindow, compute
from eval.analysis.verdict import judge
from eval.cleanup.snapshot import RemovalCheck, snapshot_before
from eval.cleanup.undo import run_undo
from eval.engine.client import Docker
from eval.errors import ChaosEvalError, CleanupError, FaultError
from eval.fault import BaselineAware, Evidence, Fault, undo_plan_to_json
from eval.outcomes import LedgerState, TrialPhase, TrialStatus
from eval.spec import registry
from eval.spec.config import SLO, ChaosSpec, Scalar, SubjectSpec, Timing, WorkloadSpec
from eval.spec.targeting import select_targets
from eval.store.store import Store
from eval.subject import Health, LeaderAware, Node, Subject, TrialContext
from eval.workload import KVWorkload

log = logging.getLogger(__name__)
T = TypeVar("T")
POLL_S = 0.25


@dataclass(frozen=True)
class TrialPlan:
    trial_id: int
    campaign_id: int
    campaign_uid: str
    key: str
    seed: int
    subject: SubjectSpec
    chaos: ChaosSpec | None  # None: a baseline trial
    params: Mapping[str, Scalar]
    timing: Timing
    workload: WorkloadSpec
    slo: SLO


@dataclass
class RunControl:
    """Shared by the trials of one campaign run."""

    hurry: bool = False  # a second Ctrl-C: skip cluster teardown (faults are still removed)


@dataclass
class _Record:
    status: TrialStatus = TrialStatus.ERROR
    recovery_s: float | None = None
    reasons: list[str] = field(default_factory=list)
    error: str = ""
    measurements: dict[str, Any] = field(default_factory=dict)
    proof: dict[str, Any] = field(default_factory=dict)


async def shielded(aw: Awaitable[T], timeout_s: float) -> T:
    """Run `aw` to completion (bounded by timeout_s) even if the caller is cancelled meanwhile;
    re-raise the cancellation afterwards."""
    task = asyncio.ensure_future(asyncio.wait_for(aw, timeout_s))
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
        except Exception:
            break
    if cancelled:
        if not task.cancelled() and task.exception() is not None:
            log.warning("shielded step failed during cancellation: %s", task.exception())
        raise asyncio.CancelledError
    return task.result()


def build_subject(spec: SubjectSpec, ctx: TrialContext, docker: Docker) -> Subject:
    cls = registry.subject_class(spec.type)
    subject: Subject = cls.from_spec(spec, ctx, docker)
    return subject


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


async def run_trial(
    plan: TrialPlan, store: Store, docker: Docker, control: RunControl
) -> TrialStatus:
    attempt = await store.record_trial_started(plan.trial_id)
    ctx = TrialContext(plan.campaign_id, plan.key, plan.seed, plan.campaign_uid)
    rec = _Record()
    t0 = time.monotonic()

    def clock() -> float:
        return time.monotonic() - t0

    subject: Subject | None = None
    workload: KVWorkload | None = None
    try:
        subject = build_subject(plan.subject, ctx, docker)
        await subject.up()
        await store.record_phase(plan.trial_id, TrialPhase.CLUSTER_UP, ctx.project)
        health = await subject.wait_healthy(plan.timing.healthy_timeout_s)
        if not health.healthy:
            raise ChaosEvalError(
                f"cluster never became healthy within {plan.timing.healthy_timeout_s}s: "
                + "; ".join(health.reasons)
            )
        rec.measurements["healthy_after_s"] = round(clock(), 3)
        nodes = await subject.nodes()
        rec.proof["state_before"] = _state_json(await subject.state())
        await store.record_phase(plan.trial_id, TrialPhase.HEALTHY)

        workload = KVWorkload(
            {n.name: subject.client(n, plan.workload.op_timeout_s) for n in nodes},
            prefix=f"chaos-eval/{plan.key[:8]}/{attempt}",
            rate_per_s=plan.workload.rate_per_s,
            concurrency=plan.workload.concurrency,
            read_fraction=plan.workload.read_fraction,
            clock=clock,
            seed=plan.seed,
        )
        wl_task = asyncio.create_task(workload.run(), name=f"workload-{plan.key[:8]}")
        await store.record_phase(plan.trial_id, TrialPhase.WARMUP)
        await asyncio.sleep(plan.timing.warmup_s)  # configured phase: steady state before fault

        window, recovery = await _fault_phase(plan, subject, nodes, ctx, docker, store, rec, clock)
        await store.record_phase(plan.trial_id, TrialPhase.RECOVERY)
        recovered, rec.recovery_s, last = await recovery
        rec.proof["state_after"] = _state_json(await subject.state())
        workload.stop()
        await wl_task
        await workload.final_read()
        ops = workload.ops()
        await store.record_ops(plan.trial_id, attempt, ops)
        window = _proven(window, rec.measurements)
        metrics = compute(ops, window)
        verdict = judge(metrics, rec.recovery_s, recovered, plan.slo)
        rec.status, rec.reasons = verdict.status, list(verdict.reasons)
        if not recovered:
            rec.reasons.append("last health: " + "; ".join(last.reasons))
        rec.measurements.update(
            metrics=metrics.to_json(),
            checks={k: v.value for k, v in verdict.checks.items()},
            window=window.to_json(),
            ops=len(ops),
        )
        await store.record_phase(plan.trial_id, TrialPhase.MEASURED)
    except asyncio.CancelledError:
        rec.status, rec.error = TrialStatus.INTERRUPTED, "interrupted"
        raise
    except CleanupError as e:
        rec.status, rec.error = TrialStatus.CLEANUP_FAILED, str(e)
    except (ChaosEvalError, OSError) as e:
        rec.status, rec.error = TrialStatus.ERROR, f"{type(e).__name__}: {e}"
    except Exception as e:  # a harness bug must not stop the campaign; record it
        log.exception("unexpected error in trial %s", plan.key)
        rec.status, rec.error = TrialStatus.ERROR, f"harness bug: {type(e).__name__}: {e}"
    finally:
        # One shielded unit: a second cancellation (Ctrl-C twice) must not skip any step.
        await shielded(
            _finish(plan, store, control, subject, workload, rec, clock),
            plan.timing.cleanup_timeout_s + 60,
        )
    return rec.status


async def _finish(
    plan: TrialPlan,
    store: Store,
    control: RunControl,
    subject: Subject | None,
    workload: KVWorkload | None,
    rec: _Record,
    clock: Callable[[], float],
) -> None:
    """Stop the workload, tear the cluster down (unless hurrying), write the final record."""
    if workload is not None:
        workload.stop()
        await workload.aclose()
    if subject is not None and not control.hurry:
        try:
            await asyncio.wait_for(subject.teardown(), plan.timing.cleanup_timeout_s)
            await store.record_phase(plan.trial_id, TrialPhase.TORN_DOWN)
        except (ChaosEvalError, TimeoutError) as e:
            rec.reasons.append(f"teardown failed: {e}")
    rec.measurements["wall_s"] = round(clock(), 3)
    await store.record_trial_finished(
        plan.trial_id,
        rec.status,
        recovery_s=rec.recovery_s,
        measurements=rec.measurements,
        proof=rec.proof,
        reasons=rec.reasons,
        error=rec.error,
    )


Recovery = asyncio.Task[tuple[bool, float | None, Health]]


async def _fault_phase(
    plan: TrialPlan,
    subject: Subject,
    nodes: tuple[Node, ...],
    ctx: TrialContext,
    docker: Docker,
    store: Store,
    rec: _Record,
    clock: Callable[[], float],
) -> tuple[FaultWindow, Recovery]:
    """Inject, hold, and always remove the fault. Returns the fault window on the trial clock
    and the recovery observation, which starts the moment `cleanup_chaos` returns and runs
    while `verify_removed` gathers its proof."""

    def observe(removed_at: float) -> Recovery:
        return asyncio.create_task(
            _observe_recovery(subject, plan.timing.recovery_timeout_s, clock, removed_at)
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
    fault = build_fault(plan, targets, nodes, ctx, docker)
    if isinstance(fault, BaselineAware):
        await fault.measure_baseline()
    # Generic proof of removal (eval/cleanup/snapshot.py): every node now, compared after removal.
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
    rec: _Record,
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


async def _observe_recovery(
    subject: Subject, timeout_s: float, clock: Callable[[], float], removed_at: float
) -> tuple[bool, float | None, Health]:
    deadline = clock() + timeout_s
    last = Health(False, None, ("not probed",))
    while True:
        last = await subject.health()
        if last.healthy:
            return True, round(clock() - removed_at, 3), last
        if clock() >= deadline:
            return False, None, last
        await asyncio.sleep(POLL_S)


def _proven(w: FaultWindow, m: dict[str, Any]) -> FaultWindow:
    """The window with the part where the fault was proven in force: from verify_active
    returning (inject_s after injection) to cleanup starting (cleanup_s before removal)."""
    if m.get("inject_s") is None or m.get("cleanup_s") is None:
        return w
    return replace(
        w, active_from=w.injected_at + m["inject_s"], active_to=w.removed_at - m["cleanup_s"]
    )


def _state_json(state: Any) -> dict[str, Any]:
    return {
        "members": list(state.members),
        "leader": state.leader,
        "term": state.term,
        "index": state.index,
        "extra": dict(state.extra),
    }
