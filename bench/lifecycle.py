"""Where a trial's time went, read back from what the store records (no new instrumentation).

The trial lifecycle writes an event at every phase boundary (`trial_started`, `phase_<p>`,
`trial_<status>`, wall clock) and keeps, in its measurements, the trial-clock fault window
and the inject / cleanup / verify-removed durations, and in its proof how long each
snapshot took. From those, per trial (seconds; None where a phase did not happen):

    compose_up        trial_started -> phase_cluster_up        (compose up)
    wait_healthy      cluster_up -> phase_healthy              (first passing probe, nodes, state)
    queued            healthy -> its turn                       (measurements.queued_s: a warm
                                                                pool's cluster waiting to run)
    start_workload    healthy -> phase_warmup, less queued
    warmup*           configured steady state before the fault
    pre_inject        end of warm-up -> inject starts          (leader, targets, baseline,
                                                                snapshot before, ledger row)
    snapshot_before   proof.snapshot_before.seconds            (part of pre_inject)
    inject_observed   inject starts -> verify_active returns   (measurements.inject_s)
    hold*             configured fault duration
    cleanup           cleanup_chaos                            (measurements.cleanup_s)
    verify_removed    the fault's own proof of removal         (measurements.verify_removed_s)
    snapshot_after    proof.snapshot_after.seconds             (beside verify_removed)
    removal_rest      rest until phase_fault_removed (ledger close; hold overrun): what the
                      longer of verify_removed and snapshot_after leaves (campaigns run
                      before the two ran at once read high here by the snapshot)
    recovery_wait     phase_recovery -> the subject healthy again (only the part not hidden
                      behind the proofs of removal: it is the subject's time, not ours)
    measure           recovered -> phase_measured              (state, stop workload, final
                                                                reads, record ops, verdict)
    teardown          measured -> phase_torn_down
    record            torn_down -> trial_<status>
    wall              trial_started -> trial_<status>

    overhead = wall - warmup* - hold* - recovery_wait - queued   (what the harness itself
                                                                    costs this trial)

Over the campaign, trials overlap (a warm pool, `parallel`), so a trial's own overhead is not
what a trial costs the campaign. `amortised_overhead_s` is:

    (campaign wall * parallel - sum over trials of (warmup* + hold* + recovery_wait)) / trials

the time a turn was taken per trial beyond the configured phases and the subject's recovery;
at parallel 1 it is the campaign's wall time per trial less what was configured.

Pure: give it rows from `Store.trials` and `Store.events`.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from chaos_eval.store.records import EventRow, TrialRow

PHASES = (
    "compose_up", "wait_healthy", "queued", "start_workload", "warmup", "pre_inject",
    "snapshot_before", "inject_observed", "hold", "cleanup", "verify_removed", "snapshot_after",
    "removal_rest", "recovery_wait", "measure", "teardown", "record", "wall", "overhead",
)
FINAL = ("trial_passed", "trial_failed", "trial_error", "trial_cleanup_failed")


@dataclass(frozen=True)
class Configured:
    warmup_s: float
    hold_s: float

    @property
    def total(self) -> float:
        return self.warmup_s + self.hold_s


def _last_attempt(events: Sequence[EventRow]) -> dict[str, float]:
    """kind -> time, for the trial's last attempt (events after its last trial_started)."""
    start = max((i for i, e in enumerate(events) if e.kind == "trial_started"), default=None)
    if start is None:
        return {}
    return {e.kind: e.at for e in events[start:]}


def _gap(at: dict[str, float], a: str, b: str) -> float | None:
    return at[b] - at[a] if a in at and b in at else None


def trial_phases(t: TrialRow, events: Sequence[EventRow], cfg: Configured) -> dict[str, Any]:
    """One trial's phases (module docstring), in seconds, None where unknown."""
    at = _last_attempt(events)
    end = next((k for k in FINAL if k in at), None)
    m: dict[str, Any] = json.loads(t.measurements)
    proof: dict[str, Any] = json.loads(t.proof)
    p: dict[str, Any] = dict.fromkeys(PHASES)
    p["compose_up"] = _gap(at, "trial_started", "phase_cluster_up")
    p["wait_healthy"] = _gap(at, "phase_cluster_up", "phase_healthy")
    p["queued"] = m.get("queued_s")
    start = _gap(at, "phase_healthy", "phase_warmup")
    p["start_workload"] = None if start is None else start - (p["queued"] or 0.0)
    if "phase_warmup" in at:
        p["warmup"] = cfg.warmup_s
    window = m.get("window") or {}
    t0 = at.get("trial_started")
    injected = removed = None
    if t0 is not None and window:
        injected, removed = t0 + window["injected_at"], t0 + window["removed_at"]
    if injected is not None and "phase_warmup" in at:
        p["pre_inject"] = injected - at["phase_warmup"] - cfg.warmup_s
    p["hold"] = cfg.hold_s if "phase_recovery" in at else None
    for key, src in (("inject_observed", "inject_s"), ("cleanup", "cleanup_s"),
                     ("verify_removed", "verify_removed_s")):
        p[key] = m.get(src)
    for key in ("snapshot_before", "snapshot_after"):
        snap = proof.get(key)
        p[key] = snap.get("seconds") if isinstance(snap, dict) else None
    if removed is not None and "phase_fault_removed" in at:
        known = max(p[k] or 0.0 for k in ("verify_removed", "snapshot_after"))
        p["removal_rest"] = at["phase_fault_removed"] - removed - known
    recovered = removed + t.recovery_s if removed is not None and t.recovery_s is not None else None
    if recovered is not None and "phase_recovery" in at:
        p["recovery_wait"] = max(0.0, recovered - at["phase_recovery"])
        if "phase_measured" in at:
            p["measure"] = at["phase_measured"] - max(recovered, at["phase_recovery"])
    p["teardown"] = _gap(at, "phase_measured", "phase_torn_down")
    if end is not None:
        p["record"] = _gap(at, "phase_torn_down", end)
        p["wall"] = _gap(at, "trial_started", end)
    if p["wall"] is not None and p["hold"] is not None:
        p["overhead"] = p["wall"] - cfg.total - (p["recovery_wait"] or 0.0) - (p["queued"] or 0.0)
    return p


def spread(xs: Iterable[float | None]) -> dict[str, float | int | None]:
    """n, median, min, max and the interquartile range of the values that are known."""
    v = sorted(x for x in xs if x is not None)
    if not v:
        return {"n": 0, "median": None, "min": None, "max": None, "iqr": None}
    q = statistics.quantiles(v, n=4) if len(v) >= 2 else [v[0], v[0], v[0]]
    return {"n": len(v), "median": round(statistics.median(v), 3), "min": round(v[0], 3),
            "max": round(v[-1], 3), "iqr": round(q[2] - q[0], 3)}


def campaign_phases(
    trials: Sequence[TrialRow], events: Sequence[EventRow], cfg: Configured
) -> dict[str, Any]:
    """Per-phase spread over the campaign, and per fault kind; the overhead ratio."""
    by_trial: dict[int, list[EventRow]] = {}
    for e in events:
        if e.trial_id is not None:
            by_trial.setdefault(e.trial_id, []).append(e)
    rows = [(t, trial_phases(t, by_trial.get(t.id, []), cfg)) for t in trials]
    overall = {k: spread(p[k] for _, p in rows) for k in PHASES}
    per_fault: dict[str, dict[str, Any]] = {}
    for fault in sorted({t.fault for t, _ in rows}):
        mine = [p for t, p in rows if t.fault == fault]
        per_fault[fault] = {k: spread(p[k] for p in mine) for k in PHASES}
    med = overall["overhead"]["median"]
    configured = sum((p["warmup"] or 0.0) + (p["hold"] or 0.0) + (p["recovery_wait"] or 0.0)
                     for _, p in rows)
    return {
        "configured_and_recovery_s": round(configured, 3),
        "trials": len(trials),
        "statuses": {s: sum(1 for t in trials if t.status.value == s)
                     for s in sorted({t.status.value for t in trials})},
        "configured_s": cfg.total,
        "overall": overall,
        "per_fault": per_fault,
        "overhead_ratio": None if med is None else round(med / cfg.total, 3),
    }
