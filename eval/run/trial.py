"""One trial, top to bottom: fresh cluster, workload, one fault, recovery, verdict.

    record running -> up -> wait healthy (node helpers starting beside it) -> take a turn
    -> start workload -> warm-up (before-snapshot beside it) -> ledger row, inject, verify
    active -> hold -> finally: cleanup_chaos, verify removed (after-snapshot beside it),
    close ledger -> observe recovery -> stop workload, final reads -> metrics + verdict ->
    give the turn back -> finally: tear the cluster down -> record

A turn (eval/run/warm_pool.py) is what `parallel` bounds; with a warm pool, the next trial's
cluster starts while this one runs, and this one tears down while the next one runs.

Every phase boundary is written to the store, so a crash anywhere leaves a record resume
can act on. Cleanup and teardown are shielded from cancellation and bounded by their own
timeouts. Harness failures end the trial as `error`; a fault that cannot be proven removed
ends it as `cleanup_failed`; only the subject's own behaviour can make it `failed`. A trial
during which the Docker engine went away (its daemon stopped or restarted: every container
stopped with it) is `error` whatever else happened, with that as its reason.

The phases live in their rooms: the plan (eval/run/plan.py), the fault phase from targets
to proof of removal (eval/run/fault_phase.py), what the trial records (eval/run/results.py),
and steps that finish despite cancellation (eval/run/shield.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from chaos_eval.cleanup.removal_proof import RemovalCheck, snapshot_before
from chaos_eval.engine.client import Docker
from chaos_eval.engine.helper_containers import HELPER_IMAGE_DEFAULT
from chaos_eval.engine.helper_exec import NODE_HELPER_ROLE
from chaos_eval.errors import ChaosEvalError, CleanupError, EngineUnreachable, StoreWriteFailed
from chaos_eval.outcomes import TrialPhase, TrialStatus
from chaos_eval.run.budgets import CleanupBudget
from chaos_eval.run.fault_phase import fault_phase
from chaos_eval.run.plan import RunControl, TrialPlan
from chaos_eval.run.results import (
    TrialRecord,
    keep_evidence,
    record_verdict,
    state_json,
    write_record,
)
from chaos_eval.run.shield import shielded
from chaos_eval.run.traffic import Traffic, build_workload, check_history
from chaos_eval.run.warm_pool import Turn, TurnWithdrawn
from chaos_eval.spec import registry
from chaos_eval.spec.config import SubjectSpec
from chaos_eval.store.store import Store
from chaos_eval.subject import Node, Subject, TrialContext

log = logging.getLogger(__name__)


def build_subject(spec: SubjectSpec, ctx: TrialContext, docker: Docker) -> Subject:
    cls = registry.subject_class(spec.type)
    subject: Subject = cls.from_spec(spec, ctx, docker)
    return subject


def ctx_of(plan: TrialPlan) -> TrialContext:
    return TrialContext(plan.campaign_id, plan.key, plan.seed, plan.campaign_uid)


def start_node_helpers(
    plan: TrialPlan, docker: Docker, ctx: TrialContext, subject: Subject
) -> asyncio.Task[Any] | None:
    """A fault trial on a subject whose images include the helper: one long-lived helper per
    node (eval/engine/helper_exec.py), started in the background as soon as the cluster's
    containers exist, so the health wait and the warm-up hide it; the fault and the
    snapshots exec their commands into them."""
    if plan.chaos is None or "helper" not in registry.SUBJECT_IMAGES.get(plan.subject.type, ()):
        return None

    async def start() -> None:
        nodes = await subject.nodes()
        await docker.start_node_helpers(
            [(n.container_id, n.data_volume) for n in nodes],
            labels=ctx.labels(NODE_HELPER_ROLE), image=HELPER_IMAGE_DEFAULT,
        )

    return asyncio.create_task(start(), name=f"node-helpers-{plan.key[:8]}")


def start_snapshot_before(
    plan: TrialPlan, docker: Docker, ctx: TrialContext, nodes: Sequence[Node],
    rec: TrialRecord, starting: asyncio.Task[Any] | None,
) -> asyncio.Task[RemovalCheck] | None:
    """A fault trial's before-snapshot, taken during the warm-up (once the node helpers are
    up): it observes and changes nothing, and nothing of the harness touches a node between
    the warm-up and the fault's ledger row."""
    if plan.chaos is None:
        return None

    async def take() -> RemovalCheck:
        if starting is not None:
            await settle(starting)
        return await snapshot_before(plan.subject.type, docker, ctx, nodes, rec.proof,
                                     plan.timing.cleanup_timeout_s)

    return asyncio.create_task(take(), name=f"snapshot-before-{plan.key[:8]}")


async def take_turn(turn: Turn, plan: TrialPlan, store: Store, rec: TrialRecord) -> None:
    """Wait for this trial's turn (eval/run/warm_pool.py); a wait is recorded as the phase
    `queued` and its length as measurements.queued_s."""
    if turn.queued:
        await store.record_phase(plan.trial_id, TrialPhase.QUEUED)
    await turn.take()
    if turn.queued:
        rec.measurements["queued_s"] = round(turn.waited_s, 3)


async def settle(task: asyncio.Task[Any]) -> None:
    """Wait for a node-helper task; a failure only means one-shot helpers (logged)."""
    try:
        await task
    except ChaosEvalError as e:
        log.warning("node helpers: %s (commands run in one-shot helpers)", e)


async def release_node_helpers(
    docker: Docker, ctx: TrialContext, tasks: Sequence[asyncio.Task[Any]]
) -> None:
    """Stop starting node helpers, then remove every one of the trial (by label)."""
    for task in tasks:
        if not task.done():
            task.cancel()
        with contextlib.suppress(BaseException):
            await task
    try:
        await docker.remove_node_helpers(ctx.labels(NODE_HELPER_ROLE))
    except ChaosEvalError as e:  # teardown removes whatever is labelled with the trial
        log.warning("removing node helpers: %s", e)


async def run_trial(
    plan: TrialPlan, store: Store, docker: Docker, control: RunControl, turn: Turn | None = None
) -> TrialStatus:
    turn = turn or Turn()
    attempt = await store.record_trial_started(plan.trial_id)
    ctx = ctx_of(plan)
    rec = TrialRecord()
    t0 = time.monotonic()

    def clock() -> float:
        return time.monotonic() - t0

    subject: Subject | None = None
    workload: Traffic | None = None
    losses = docker.engine_losses
    helpers: list[asyncio.Task[Any]] = []
    before: asyncio.Task[RemovalCheck] | None = None
    try:
        subject = build_subject(plan.subject, ctx, docker)
        await subject.up()
        await store.record_phase(plan.trial_id, TrialPhase.CLUSTER_UP, ctx.project)
        starting = start_node_helpers(plan, docker, ctx, subject)
        helpers += [starting] if starting is not None else []
        health = await subject.wait_healthy(plan.timing.healthy_timeout_s)
        if not health.healthy:
            raise ChaosEvalError(
                f"cluster never became healthy within {plan.timing.healthy_timeout_s}s: "
                + "; ".join(health.reasons)
            )
        rec.measurements["healthy_after_s"] = round(clock(), 3)
        nodes = await subject.nodes()
        rec.proof["state_before"] = state_json(await subject.state())
        await store.record_phase(plan.trial_id, TrialPhase.HEALTHY)
        await take_turn(turn, plan, store, rec)  # nothing touches a cluster waiting its turn

        workload = build_workload(plan, subject, nodes, attempt, clock)
        wl_task = asyncio.create_task(workload.run(), name=f"workload-{plan.key[:8]}")
        await store.record_phase(plan.trial_id, TrialPhase.WARMUP)
        before = start_snapshot_before(plan, docker, ctx, nodes, rec, starting)
        await asyncio.sleep(plan.timing.warmup_s)  # configured phase: steady state before fault

        window, recovery = await fault_phase(plan, subject, nodes, ctx, docker, store, rec, clock,
                                             before)
        if starting is not None:  # no helper command after the fault phase: overlap removal
            helpers.append(asyncio.create_task(
                docker.remove_node_helpers(ctx.labels(NODE_HELPER_ROLE))))
        await store.record_phase(plan.trial_id, TrialPhase.RECOVERY)
        recovered, rec.recovery_s, last = await recovery
        rec.proof["state_after"] = state_json(await subject.state())
        workload.stop()
        await wl_task
        await workload.final_read()
        ops = workload.ops()
        await store.record_ops(plan.trial_id, attempt, ops)
        lin = await check_history(plan, workload, store, attempt)
        record_verdict(rec, ops, window, recovered, last, plan.slo, lin)
        await store.record_phase(plan.trial_id, TrialPhase.MEASURED)
        turn.give_back()  # the next trial may run while this one tears down
    except asyncio.CancelledError:
        rec.status, rec.error = TrialStatus.INTERRUPTED, "interrupted"
        raise
    except TurnWithdrawn:
        rec.status, rec.error = TrialStatus.INTERRUPTED, (
            "the run stopped before this trial's turn (its cluster had been started ahead, "
            "in the warm pool); it runs on resume")
    except CleanupError as e:
        rec.status, rec.error = TrialStatus.CLEANUP_FAILED, str(e)
    except EngineUnreachable as e:
        rec.status, rec.error = TrialStatus.ERROR, f"{e}; not counted against the subject"
    except (ChaosEvalError, OSError) as e:
        rec.status, rec.error = TrialStatus.ERROR, f"{type(e).__name__}: {e}"
    except Exception as e:  # a harness bug must not stop the campaign; record it
        log.exception("unexpected error in trial %s", plan.key)
        rec.status, rec.error = TrialStatus.ERROR, f"harness bug: {type(e).__name__}: {e}"
    finally:
        turn.give_back()
        if before is not None:
            before.cancel()  # unless the fault phase had it already
        # One shielded unit: a second cancellation (Ctrl-C twice) must not skip any step.
        await shielded(
            _finish(plan, store, docker, control, subject, workload, rec, clock, attempt,
                    losses, helpers),
            CleanupBudget(plan.timing.cleanup_timeout_s).finish_s,
        )
    return rec.status


async def _finish(
    plan: TrialPlan,
    store: Store,
    docker: Docker,
    control: RunControl,
    subject: Subject | None,
    workload: Traffic | None,
    rec: TrialRecord,
    clock: Callable[[], float],
    attempt: int,
    losses: int,
    helpers: Sequence[asyncio.Task[Any]] = (),
) -> None:
    """Stop the workload, keep the evidence of a trial that did not pass (container logs,
    compose config), tear the cluster down (unless hurrying), write the final record (an
    `error` if the engine went away since `losses` was counted)."""
    if workload is not None:
        workload.stop()
        await workload.aclose()
    if subject is not None and rec.status != TrialStatus.PASSED:
        try:
            await keep_evidence(subject, docker, store, plan.trial_id, attempt, rec)
        except StoreWriteFailed as e:  # the teardown below must not depend on the store
            log.error("trial %s: evidence not kept: %s", plan.key, e)
    if helpers:
        await release_node_helpers(docker, ctx_of(plan), helpers)
    if subject is not None and not control.hurry:
        try:
            await asyncio.wait_for(subject.teardown(), plan.timing.cleanup_timeout_s)
            await store.record_phase(plan.trial_id, TrialPhase.TORN_DOWN)
        except (ChaosEvalError, TimeoutError) as e:
            rec.reasons.append(f"teardown failed: {e}")
    rec.measurements["wall_s"] = round(clock(), 3)
    if docker.engine_losses > losses:
        _engine_lost(rec, docker.last_loss)
    await write_record(store, plan.trial_id, rec)


def _engine_lost(rec: TrialRecord, what: str) -> None:
    """The engine went away during the trial: a verdict is void (its containers stopped with
    the daemon), and an error says so."""
    if rec.status in (TrialStatus.PASSED, TrialStatus.FAILED):
        rec.reasons.append(f"the verdict would have been {rec.status.value}")
        rec.status, rec.error = TrialStatus.ERROR, (
            f"the Docker engine went away during the trial ({what}); its containers stopped "
            "with it, so nothing it measured counts against the subject")
    elif rec.status == TrialStatus.ERROR and "Docker engine" not in rec.error:
        rec.error += f" (the Docker engine went away during the trial: {what})"
