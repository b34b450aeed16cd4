"""What a trial found, gathered as its phases end and written once, at its end: status,
recovery time, reasons, measurements (phase timings, metrics, the verdict's checks) and
proof (cluster state before and after, the fault's evidence, snapshots)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from chaos_eval.analysis.linearizability import CheckResult
from chaos_eval.analysis.metrics import FaultWindow, compute
from chaos_eval.analysis.verdict import judge
from chaos_eval.engine.client import Docker
from chaos_eval.outcomes import TrialStatus
from chaos_eval.spec.config import SLO
from chaos_eval.store.store import Store
from chaos_eval.subject import ComposeBacked, Health, Subject
from chaos_eval.workload import Op

log = logging.getLogger(__name__)


@dataclass
class TrialRecord:
    status: TrialStatus = TrialStatus.ERROR
    recovery_s: float | None = None
    reasons: list[str] = field(default_factory=list)
    error: str = ""
    measurements: dict[str, Any] = field(default_factory=dict)
    proof: dict[str, Any] = field(default_factory=dict)


def record_verdict(
    rec: TrialRecord,
    ops: Sequence[Op],
    window: FaultWindow,
    recovered: bool,
    last: Health,
    slo: SLO,
    lin: CheckResult | None = None,
) -> None:
    """Metrics over the part of the window where the fault was proven in force, and the
    verdict on them (with the last health when the cluster never recovered, and the
    linearizability check of a register history), into `rec`."""
    window = proven(window, rec.measurements)
    metrics = compute(ops, window, durability=lin is None)
    verdict = judge(metrics, rec.recovery_s, recovered, slo, lin)
    if lin is not None:
        rec.measurements["linearizability"] = lin.to_json()
    rec.status, rec.reasons = verdict.status, list(verdict.reasons)
    if not recovered:
        rec.reasons.append("last health: " + "; ".join(last.reasons))
    rec.measurements.update(
        metrics=metrics.to_json(),
        checks={k: v.value for k, v in verdict.checks.items()},
        window=window.to_json(),
        ops=len(ops),
    )


async def write_record(store: Store, trial_id: int, rec: TrialRecord) -> None:
    """The trial's final row: its status and everything gathered."""
    await store.record_trial_finished(
        trial_id,
        rec.status,
        recovery_s=rec.recovery_s,
        measurements=rec.measurements,
        proof=rec.proof,
        reasons=rec.reasons,
        error=rec.error,
    )


def proven(w: FaultWindow, m: dict[str, Any]) -> FaultWindow:
    """The window with the part where the fault was proven in force: from verify_active
    returning (inject_s after injection) to cleanup starting (cleanup_s before removal)."""
    if m.get("inject_s") is None or m.get("cleanup_s") is None:
        return w
    return replace(
        w, active_from=w.injected_at + m["inject_s"], active_to=w.removed_at - m["cleanup_s"]
    )


def state_json(state: Any) -> dict[str, Any]:
    return {
        "members": list(state.members),
        "leader": state.leader,
        "term": state.term,
        "index": state.index,
        "extra": dict(state.extra),
    }


LOG_TAIL_BYTES = 1 << 20  # the last MiB of each node's log


async def keep_evidence(
    subject: Subject, docker: Docker, store: Store, trial_id: int, attempt: int, rec: TrialRecord
) -> None:
    """For the failure bundle of a trial that did not pass: each node's container log (its
    last MiB, stored apart) and the compose project's effective configuration (in the proof).
    Best effort, never raises: this is evidence, and failing to read it (a cluster half
    gone, an engine that refuses) must not change what the trial records."""
    if isinstance(subject, ComposeBacked):
        try:
            rec.proof["compose_config"] = await subject.effective_config()
        except Exception as e:
            log.warning("compose config of trial %s: %s: %s", trial_id, type(e).__name__, e)
    logs: dict[str, str] = {}
    try:
        for node in await subject.nodes():
            text = await docker.logs(node.container_id)
            logs[node.name] = text[-LOG_TAIL_BYTES:]
    except Exception as e:
        log.warning("container logs of trial %s: %s: %s", trial_id, type(e).__name__, e)
    if logs:
        await store.record_container_logs(trial_id, attempt, logs)
