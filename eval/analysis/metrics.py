"""Per-trial metrics computed from the recorded ops and the fault window. Pure functions.

Definitions (also in the README):
- availability(phase) = ok / attempted for reads and writes started in that phase; `unknown`
  ops count as attempted and are reported separately.
- latency p50/p99 (ms) over ok ops started in the phase.
- lost writes = acknowledged writes whose final read found the key absent;
  unexpected values = final reads that returned a value we never wrote for that key.
- per node: the same availability and latency figures for the ops sent to each node.
- active: the same figures for the ops that started and ended while the fault was proven in
  force (from verify_active returning to cleanup starting), a subset of `during`, whose
  window also spans injecting, proving and removing the fault (seconds each, under load).
- workload recovery = from the fault's removal (and separately from its injection) until the
  start of the first window of `window_s` seconds in which every node that served the
  workload before the fault succeeds at no less than its pre-fault success ratio (minus 5 pts),
  with at least one op on each; measured at the resolution of the workload's op start times.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

from chaos_eval.outcomes import OpOutcome
from chaos_eval.workload import FINAL_ABSENT, FINAL_MISMATCH, Op, OpKind

TOLERANCE = 0.05


@dataclass(frozen=True)
class FaultWindow:
    """Trial-clock seconds. For a baseline trial, the window is the equivalent hold period.
    [injected_at, removed_at): inject starts .. cleanup_chaos returns. [active_from,
    active_to]: verify_active returned .. cleanup started (None: not known, e.g. baseline)."""

    injected_at: float
    removed_at: float
    active_from: float | None = None
    active_to: float | None = None

    def to_json(self) -> dict[str, float | None]:
        return {
            "injected_at": self.injected_at,
            "removed_at": self.removed_at,
            "active_from": self.active_from,
            "active_to": self.active_to,
        }


@dataclass(frozen=True)
class Counts:
    ok: int = 0
    fail: int = 0
    unknown: int = 0

    @property
    def attempted(self) -> int:
        return self.ok + self.fail + self.unknown

    @property
    def availability(self) -> float | None:
        return self.ok / self.attempted if self.attempted else None


@dataclass(frozen=True)
class NodePhase:
    """One node's figures in one phase: counts and latency of the ops sent to that node."""

    counts: Counts
    p50_ms: float | None
    p99_ms: float | None

    def to_json(self) -> dict[str, object]:
        c = self.counts
        return {
            "ok": c.ok,
            "fail": c.fail,
            "unknown": c.unknown,
            "availability": c.availability,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
        }


@dataclass(frozen=True)
class TrialMetrics:
    counts: dict[str, Counts]  # before | during | after (| active, within during)
    latency_ms: dict[str, dict[str, float | None]]  # phase -> {p50, p99}
    errors: dict[str, int]  # error class -> count (fail and unknown ops)
    acked_writes: int
    lost_writes: int
    unexpected_values: int
    unverified_writes: int  # final read could not reach any node
    workload_recovery_s: float | None
    workload_recovery_from_injection_s: float | None
    lost_keys: tuple[str, ...] = field(default=())
    per_node: dict[str, dict[str, NodePhase]] = field(default_factory=dict)  # node -> phase

    def availability(self, phase: str) -> float | None:
        return self.counts[phase].availability

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["availability"] = {p: c.availability for p, c in self.counts.items()}
        d["lost_keys"] = list(self.lost_keys[:50])
        d["per_node"] = {
            n: {p: np.to_json() for p, np in phases.items()} for n, phases in self.per_node.items()
        }
        return d


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def phase_of(t: float, w: FaultWindow) -> str:
    if t < w.injected_at:
        return "before"
    if t < w.removed_at:
        return "during"
    return "after"


def _count(ops: Iterable[Op]) -> Counts:
    c = Counter(o.outcome for o in ops)
    return Counts(c[OpOutcome.OK], c[OpOutcome.FAIL], c[OpOutcome.UNKNOWN])


def workload_recovery(ops: Sequence[Op], w: FaultWindow, window_s: float) -> float | None:
    """Seconds from removal to the first fully healthy window (see module doc), or None."""
    live = [o for o in ops if o.kind != OpKind.FINAL_READ]
    before = [o for o in live if o.start < w.injected_at]
    nodes = sorted({o.node for o in before})
    if not nodes:
        return None
    level = {}
    for n in nodes:
        c = _count(o for o in before if o.node == n)
        level[n] = (c.availability or 0.0) - TOLERANCE
    after = sorted((o for o in live if o.start >= w.removed_at), key=lambda o: o.start)
    if not after:
        return None
    last = after[-1].start
    for i, first in enumerate(after):
        c0 = first.start
        if c0 + window_s > last:
            return None  # not enough observation left to see a full window
        window = [o for o in after[i:] if o.start < c0 + window_s]
        if all(
            (cnt := _count(o for o in window if o.node == n)).attempted > 0
            and (cnt.availability or 0.0) >= level[n]
            for n in nodes
        ):
            return c0 - w.removed_at
    return None


def _ok_ms(ops: Iterable[Op]) -> list[float]:
    return [(o.end - o.start) * 1000 for o in ops if o.outcome == OpOutcome.OK]


def per_node(by_phase: dict[str, list[Op]]) -> dict[str, dict[str, NodePhase]]:
    """node -> phase -> its counts and ok-latency percentiles (every phase present)."""
    nodes = sorted({o.node for lst in by_phase.values() for o in lst})
    out: dict[str, dict[str, NodePhase]] = {}
    for n in nodes:
        out[n] = {}
        for p, lst in by_phase.items():
            mine = [o for o in lst if o.node == n]
            ms = _ok_ms(mine)
            out[n][p] = NodePhase(_count(mine), percentile(ms, 50), percentile(ms, 99))
    return out


def timeseries(
    ops: Sequence[Op], bucket_s: float = 1.0, span: tuple[float, float] | None = None
) -> list[tuple[float, float, float | None]]:
    """(bucket start, ok ops/s, p50 ms of those ok ops) per bucket of op start times, over
    `span` (default: first to last live op); empty buckets have throughput 0 and no p50."""
    live = [o for o in ops if o.kind != OpKind.FINAL_READ]
    if span is None:
        if not live:
            return []
        span = (min(o.start for o in live), max(o.start for o in live))
    t0 = span[0]
    n = int((span[1] - t0) // bucket_s) + 1
    buckets: list[list[Op]] = [[] for _ in range(n)]
    for o in live:
        i = int((o.start - t0) // bucket_s)
        if 0 <= i < n:
            buckets[i].append(o)
    return [
        (t0 + i * bucket_s, len(ms) / bucket_s, percentile(ms, 50))
        for i, b in enumerate(buckets)
        for ms in (_ok_ms(b),)
    ]


def compute(
    ops: Sequence[Op], w: FaultWindow, *, window_s: float = 3.0, durability: bool = True
) -> TrialMetrics:
    """`durability=False` (a register workload: its final reads are part of the history the
    checker judges) leaves lost, unexpected and unverified writes at zero."""
    live = [o for o in ops if o.kind != OpKind.FINAL_READ]
    finals = [o for o in ops if o.kind == OpKind.FINAL_READ]
    by_phase: dict[str, list[Op]] = {"before": [], "during": [], "after": []}
    for o in live:
        by_phase[phase_of(o.start, w)].append(o)
    measured = dict(by_phase)
    if w.active_from is not None and w.active_to is not None:
        lo, hi = w.active_from, w.active_to
        measured["active"] = [o for o in live if lo <= o.start and o.end <= hi]
    latency = {
        p: {"p50": percentile(_ok_ms(lst), 50), "p99": percentile(_ok_ms(lst), 99)}
        for p, lst in measured.items()
    }
    errors = Counter(o.error or o.outcome.value for o in live if o.outcome != OpOutcome.OK)
    acked = {o.key for o in live if o.kind == OpKind.WRITE and o.outcome == OpOutcome.OK}
    checked = acked if durability else set()  # keys whose durability the final reads judge
    final_by_key = {o.key: o for o in finals}
    lost = sorted(
        k
        for k in checked
        if (f := final_by_key.get(k)) is not None and f.outcome == "ok" and f.error == FINAL_ABSENT
    )
    unexpected = sum(1 for o in finals if o.outcome == "ok" and o.error == FINAL_MISMATCH)
    unverified = sum(
        1 for k in checked if (f := final_by_key.get(k)) is None or f.outcome != OpOutcome.OK
    )
    rec = workload_recovery(ops, w, window_s)
    return TrialMetrics(
        counts={p: _count(lst) for p, lst in measured.items()},
        latency_ms=latency,
        errors=dict(sorted(errors.items())),
        acked_writes=len(acked),
        lost_writes=len(lost),
        unexpected_values=unexpected,
        unverified_writes=unverified,
        workload_recovery_s=rec,
        workload_recovery_from_injection_s=(
            None if rec is None else rec + (w.removed_at - w.injected_at)
        ),
        lost_keys=tuple(lost),
        per_node=per_node(measured),
    )
