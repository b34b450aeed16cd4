"""Compare two campaigns cell by cell: did B get worse than A? Pure over two analyses.

Cells match on (subject, fault, params). For each matched cell and each metric, the judged
trials (passed or failed; harness errors never count) of A and B are compared with a
two-sided Mann-Whitney U test (eval/analysis/stats.py):
- recovery_s: per-trial recovery time; a judged trial that never recovered counts as
  infinitely slow (ranked above every recovered one). Summary: the median of recovered trials.
- availability_during: per-trial availability during the fault. Summary: the mean.
A metric regressed when p < alpha and B's values rank on the bad side (recovery higher,
availability lower): U_B > n_A n_B / 2 for recovery, U_B < n_A n_B / 2 for availability.
Cells present in only one campaign are listed as unmatched.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chaos_eval.analysis.analyze import Analysis, Cell, TrialBrief
from chaos_eval.analysis.intervals import rounded as _r
from chaos_eval.analysis.stats import mann_whitney_u
from chaos_eval.outcomes import TrialStatus

ALPHA = 0.05


@dataclass(frozen=True)
class MetricChange:
    a: float | None  # summary of A (median recovery / mean availability)
    b: float | None
    n_a: int
    n_b: int
    p: float | None  # None: a side has no value
    method: str
    worse: bool  # B ranks on the bad side (whatever p)
    regressed: bool  # worse and p < alpha
    excluded_a: int = 0  # judged trials in the test but not in the summary (never recovered)
    excluded_b: int = 0

    @property
    def change(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a

    def to_json(self) -> dict[str, object]:
        return {
            "a": _r(self.a),
            "b": _r(self.b),
            "change": _r(self.change),
            "n_a": self.n_a,
            "n_b": self.n_b,
            "p": _r(self.p, 6),
            "method": self.method,
            "worse": self.worse,
            "regressed": self.regressed,
            "not_recovered": [self.excluded_a, self.excluded_b],
        }


@dataclass(frozen=True)
class CellComparison:
    subject: str
    fault: str
    params: dict[str, Any]
    recovery_s: MetricChange
    availability_during: MetricChange

    @property
    def label(self) -> str:
        p = ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.subject} / {self.fault}" + (f" ({p})" if p else "")

    @property
    def regressed(self) -> bool:
        return self.recovery_s.regressed or self.availability_during.regressed

    def to_json(self) -> dict[str, object]:
        return {
            "subject": self.subject,
            "fault": self.fault,
            "params": self.params,
            "regressed": self.regressed,
            "recovery_s": self.recovery_s.to_json(),
            "availability_during": self.availability_during.to_json(),
        }


@dataclass(frozen=True)
class Comparison:
    a: Analysis
    b: Analysis
    cells: tuple[CellComparison, ...]
    only_a: tuple[Cell, ...]
    only_b: tuple[Cell, ...]
    alpha: float = ALPHA

    @property
    def regressions(self) -> tuple[CellComparison, ...]:
        return tuple(c for c in self.cells if c.regressed)

    def to_json(self) -> dict[str, object]:
        def camp(x: Analysis) -> dict[str, object]:
            return {"id": x.campaign.id, "name": x.campaign.name, "status": x.campaign.status.value}

        def ref(c: Cell) -> dict[str, object]:
            return {"subject": c.subject, "fault": c.fault, "params": c.params}

        return {
            "a": camp(self.a),
            "b": camp(self.b),
            "alpha": self.alpha,
            "regressions": len(self.regressions),
            "cells": [c.to_json() for c in self.cells],
            "unmatched": {
                "only_a": [ref(c) for c in self.only_a],
                "only_b": [ref(c) for c in self.only_b],
            },
        }


def _key(c: Cell) -> tuple[str, str, str]:
    return c.subject, c.fault, json.dumps(c.params, sort_keys=True)


def _judged(a: Analysis, cell: Cell) -> list[TrialBrief]:
    by_id = a.by_id
    ok = (TrialStatus.PASSED, TrialStatus.FAILED)
    return [by_id[i] for i in cell.trial_ids if by_id[i].status in ok]


def _test(
    xa: Sequence[float], xb: Sequence[float], higher_is_worse: bool, alpha: float
) -> tuple[float | None, str, bool, bool]:
    """(p, method, worse, regressed) for B against A."""
    if not xa or not xb:
        return None, "", False, False
    r = mann_whitney_u(xb, xa)  # U of B: > n n / 2 means B's values tend to be larger
    mid = len(xa) * len(xb) / 2
    worse = r.u > mid if higher_is_worse else r.u < mid
    return r.p, r.method, worse, worse and r.p < alpha


def _recovery(ta: list[TrialBrief], tb: list[TrialBrief], alpha: float) -> MetricChange:
    xa = [math.inf if t.recovery_s is None else t.recovery_s for t in ta]
    xb = [math.inf if t.recovery_s is None else t.recovery_s for t in tb]
    fa, fb = [v for v in xa if v != math.inf], [v for v in xb if v != math.inf]
    p, method, worse, reg = _test(xa, xb, True, alpha)
    return MetricChange(
        statistics.median(fa) if fa else None,
        statistics.median(fb) if fb else None,
        len(xa),
        len(xb),
        p,
        method,
        worse,
        reg,
        len(xa) - len(fa),
        len(xb) - len(fb),
    )


def _availability(ta: list[TrialBrief], tb: list[TrialBrief], alpha: float) -> MetricChange:
    def values(ts: list[TrialBrief]) -> list[float]:
        vals = (t.availability_during for t in ts)
        return [float(v) for v in vals if v is not None]

    xa, xb = values(ta), values(tb)
    p, method, worse, reg = _test(xa, xb, False, alpha)
    return MetricChange(
        statistics.fmean(xa) if xa else None,
        statistics.fmean(xb) if xb else None,
        len(xa),
        len(xb),
        p,
        method,
        worse,
        reg,
    )


def compare(a: Analysis, b: Analysis, alpha: float = ALPHA) -> Comparison:
    cells_b = {_key(c): c for c in b.cells}
    keys_a = {_key(c) for c in a.cells}
    out = []
    for ca in a.cells:
        cb = cells_b.get(_key(ca))
        if cb is None:
            continue
        ta, tb = _judged(a, ca), _judged(b, cb)
        out.append(
            CellComparison(
                ca.subject,
                ca.fault,
                ca.params,
                _recovery(ta, tb, alpha),
                _availability(ta, tb, alpha),
            )
        )
    return Comparison(
        a,
        b,
        tuple(out),
        only_a=tuple(c for c in a.cells if _key(c) not in cells_b),
        only_b=tuple(c for c in b.cells if _key(c) not in keys_a),
        alpha=alpha,
    )
