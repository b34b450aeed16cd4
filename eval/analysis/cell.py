"""One cell's summary (subject x fault x grid point), and its tally: the figures a cell needs
of each of its trials, taken as the trials stream past (in run order) and summarised once the
cell is complete. Nothing of a trial's measurements is kept beyond its tally. Pure.

`error` and `cleanup_failed` trials are counted but never held against the subject: pass rate
is passed / (passed + failed). `active` figures cover the ops that started and ended while the
fault was proven in force. Per-node figures (`per_node` by node name, `by_role` for the fault's
targets vs the other nodes of each trial): availability per phase is the mean over judged
trials, p50 latency per phase the median of the trials' per-node p50s.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from chaos_eval.analysis.intervals import Interval, bootstrap_median, wilson
from chaos_eval.analysis.intervals import rounded as _r
from chaos_eval.analysis.linearizability import history_counts
from chaos_eval.analysis.metrics import percentile
from chaos_eval.outcomes import TrialStatus
from chaos_eval.store.figures import PHASES
from chaos_eval.store.results import TrialResult

JUDGED = (TrialStatus.PASSED, TrialStatus.FAILED)
UNFINISHED = (TrialStatus.PENDING, TrialStatus.RUNNING, TrialStatus.INTERRUPTED)
NodeFigures = dict[str, dict[str, dict[str, float | None]]]


@dataclass(frozen=True)
class Spread:
    min: float | None
    median: float | None
    max: float | None
    p95: float | None = None
    median_ci: Interval | None = None

    def to_json(self) -> dict[str, object]:
        d: dict[str, object] = {
            "min": _r(self.min),
            "median": _r(self.median),
            "max": _r(self.max),
            "p95": _r(self.p95),
        }
        if self.median_ci is not None:
            d["median_ci95"] = [_r(self.median_ci.low), _r(self.median_ci.high)]
        return d


@dataclass(frozen=True)
class Cell:
    subject: str
    fault: str
    params: dict[str, Any]
    trials: int
    passed: int
    failed: int
    errors: int
    cleanup_failed: int
    unfinished: int
    recovery_s: Spread
    pass_rate: Interval
    availability_during: float | None
    availability_after: float | None
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    lost_writes: int
    reasons: tuple[str, ...] = field(default=())
    trial_ids: tuple[int, ...] = field(default=())
    availability_active: float | None = None  # ops wholly within the proven-active part
    per_node: NodeFigures = field(default_factory=dict)
    by_role: NodeFigures = field(default_factory=dict)
    histories: dict[str, int] | None = None  # register workload: linearizable / not / unknown
    ended: str | None = None  # a sampled cell: which rule ended it (analysis/cell_ends.py)

    @property
    def params_json(self) -> str:
        return json.dumps(self.params, sort_keys=True)

    @property
    def label(self) -> str:
        p = ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.subject} / {self.fault}" + (f" ({p})" if p else "")

    @property
    def missed_slo(self) -> bool:
        return self.failed > 0

    def to_json(self) -> dict[str, object]:
        return {
            "subject": self.subject,
            "fault": self.fault,
            "params": self.params,
            "trials": self.trials,
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "cleanup_failed": self.cleanup_failed,
            "unfinished": self.unfinished,
            "recovery_s": self.recovery_s.to_json(),
            "pass_rate": self.pass_rate.to_json(),
            "availability": {
                "during": _r(self.availability_during),
                "active": _r(self.availability_active),
                "after": _r(self.availability_after),
            },
            "latency_ms": {"p50": _r(self.latency_p50_ms), "p99": _r(self.latency_p99_ms)},
            "lost_writes": self.lost_writes,
            "reasons": list(self.reasons),
            "per_node": self.per_node,
            "by_role": self.by_role,
        } | ({} if self.histories is None else {"histories": self.histories}) | (
            {} if self.ended is None else {"ended": self.ended})


def _mean(xs: Sequence[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return statistics.fmean(vals) if vals else None  # fsum: the order of xs does not matter


def _median(xs: Sequence[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return statistics.median(vals) if vals else None


class _Groups:
    """group -> each trial's figures of a node: [node, availability per phase, then p50 per
    phase] (a trial's per-node entry as it is: no copy per node and trial)."""

    def __init__(self) -> None:
        self.rows: dict[str, list[Sequence[Any]]] = {}

    def add(self, group: str, entry: Sequence[Any]) -> None:
        rows = self.rows.get(group)
        if rows is None:
            rows = self.rows[group] = []
        rows.append(entry)

    def figures(self) -> NodeFigures:
        out: NodeFigures = {}
        for g in sorted(self.rows):
            cols = list(zip(*self.rows[g], strict=True))[1:]  # without the node's name
            out[g] = {
                "availability": {ph: _r(_mean(cols[i])) for i, ph in enumerate(PHASES)},
                "latency_p50_ms": {ph: _r(_median(cols[4 + i])) for i, ph in enumerate(PHASES)},
            }
        return out


class CellTally:
    """What a cell's summary needs of its trials, added one by one in run order."""

    def __init__(self, subject: str, fault: str, params: dict[str, Any]) -> None:
        self.subject, self.fault, self.params = subject, fault, params
        self.ids: list[int] = []
        self.count = dict.fromkeys(TrialStatus, 0)
        # recovery times of the passed trials, then of the failed ones: the order the seeded
        # bootstrap draws from (eval/analysis/intervals.py)
        self.rec: dict[TrialStatus, list[float]] = {s: [] for s in JUDGED}
        self.judged: list[tuple[Any, ...]] = []  # per judged trial: the cell-wide figures
        self.why: dict[TrialStatus, list[Any]] = {
            TrialStatus.FAILED: [], TrialStatus.CLEANUP_FAILED: [], TrialStatus.ERROR: []
        }  # fmt: skip
        self.nodes, self.roles = _Groups(), _Groups()
        self.lin: list[Any] = []  # the register checks' records (linearizability)

    def add(self, t: TrialResult) -> None:
        self.ids.append(t.id)
        self.count[t.status] += 1
        f = t.figures
        if (lin := f.linearizability) is not None:
            self.lin.append(lin)
        if t.status in self.why:
            self.why[t.status] += [*t.reasons, *([t.error] if t.error else [])]
        if t.status not in JUDGED:
            return
        if t.recovery_s is not None:
            self.rec[t.status].append(t.recovery_s)
        self.judged.append(f[3:9])  # availability during/after/active, p50, p99, lost writes
        nodes, roles, targets = self.nodes.rows, self.roles.rows, t.targets
        for entry in f.per_node:  # [node, figures...] (hot: inlines _Groups.add)
            node = entry[0]
            (nodes.get(node) or nodes.setdefault(node, [])).append(entry)
            role = "target" if node in targets else "other"
            (roles.get(role) or roles.setdefault(role, [])).append(entry)

    def cell(self, seed: int) -> Cell:
        c, rec = self.count, self.rec[TrialStatus.PASSED] + self.rec[TrialStatus.FAILED]
        cols = list(zip(*self.judged, strict=True)) or [()] * 6
        reasons = (*self.why[TrialStatus.FAILED], *self.why[TrialStatus.CLEANUP_FAILED],
                   *self.why[TrialStatus.ERROR])  # fmt: skip
        return Cell(
            subject=self.subject,
            fault=self.fault,
            params=self.params,
            trials=len(self.ids),
            passed=c[TrialStatus.PASSED],
            failed=c[TrialStatus.FAILED],
            errors=c[TrialStatus.ERROR],
            cleanup_failed=c[TrialStatus.CLEANUP_FAILED],
            unfinished=sum(c[s] for s in UNFINISHED),
            recovery_s=Spread(
                min(rec) if rec else None,
                statistics.median(rec) if rec else None,
                max(rec) if rec else None,
                percentile(rec, 95),
                bootstrap_median(rec, seed) if len(rec) >= 2 else None,
            ),
            pass_rate=wilson(c[TrialStatus.PASSED], c[TrialStatus.PASSED] + c[TrialStatus.FAILED]),
            availability_during=_mean(cols[0]),
            availability_after=_mean(cols[1]),
            latency_p50_ms=_median(cols[3]),
            latency_p99_ms=_median(cols[4]),
            lost_writes=sum(int(x or 0) for x in cols[5]),
            reasons=tuple(dict.fromkeys(reasons)),
            trial_ids=tuple(self.ids),
            availability_active=_mean(cols[2]),
            per_node=self.nodes.figures(),
            by_role=self.roles.figures(),
            histories=history_counts(self.lin),
        )
