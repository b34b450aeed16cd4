"""Turn a campaign's trials into per-cell summaries and statistics. Pure over store rows.

A cell is subject x fault x grid point. `error` and `cleanup_failed` trials are counted but
never held against the subject: pass rate is passed / (passed + failed).

`active` figures cover the ops that started and ended while the fault was proven in force.
Per-node figures (`per_node` by node name, `by_role` for the fault's targets vs the other
nodes of each trial): availability per phase is the mean over judged trials, p50 latency per
phase the median of the trials' per-node p50s.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos_eval.analysis.intervals import Interval, bootstrap_median, wilson
from chaos_eval.analysis.intervals import rounded as _r
from chaos_eval.analysis.linearizability import history_counts
from chaos_eval.analysis.metrics import percentile
from chaos_eval.commands import rerun_command
from chaos_eval.outcomes import TrialStatus
from chaos_eval.store.records import CampaignRow, TrialRow


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
    per_node: dict[str, dict[str, dict[str, float | None]]] = field(default_factory=dict)
    by_role: dict[str, dict[str, dict[str, float | None]]] = field(default_factory=dict)
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


@dataclass(frozen=True)
class Analysis:
    campaign: CampaignRow
    cells: tuple[Cell, ...]
    trials: tuple[TrialRow, ...]

    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {s.value: 0 for s in TrialStatus}
        for t in self.trials:
            out[t.status.value] += 1
        return out

    def to_json(self, db: str | Path | None = None) -> dict[str, object]:
        """The campaign and its cells; each cell lists its trials with the command that
        re-runs each one (naming `db` when given)."""
        c = self.campaign
        by_id = {t.id: t for t in self.trials}
        cells = []
        for cell in self.cells:
            d = cell.to_json()
            d["per_trial"] = [trial_json(by_id[i], c.id, db) for i in cell.trial_ids]
            cells.append(d)
        return {
            "campaign": {
                "id": c.id,
                "name": c.name,
                "status": c.status.value,
                "reason": c.reason,
                "seed": c.seed,
                "git_sha": c.git_sha,
                "harness_version": c.harness_version,
                "rerun_of": c.rerun_of,
                "totals": self.totals(),
            },
            "cells": cells,
        }


def trial_json(t: TrialRow, campaign_id: int, db: str | Path | None) -> dict[str, object]:
    return {
        "id": t.id,
        "key": t.key,
        "repetition": t.repetition,
        "seed": t.seed,
        "status": t.status.value,
        "rerun": rerun_command(campaign_id, t.key, db),
    }


def metrics_of(t: TrialRow) -> dict[str, Any]:
    """The trial's metrics, parsed (parse once per trial and pass them on: at 100k trials
    the parsing is most of the work, and holding them all is most of the memory)."""
    m: Any = t.measurements_dict.get("metrics")
    return m if isinstance(m, dict) else {}


def _metric(t: TrialRow, *path: str) -> Any:
    return _dig(metrics_of(t), *path)


def _dig(cur: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(p)
    return cur


def _mean(xs: Sequence[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return statistics.fmean(vals) if vals else None


def _median(xs: Sequence[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return statistics.median(vals) if vals else None


PHASES = ("before", "during", "active", "after")  # active: the proven part of during


def node_groups(
    trials: Sequence[tuple[TrialRow, dict[str, Any]]], group: Callable[[TrialRow, str], str]
) -> dict[str, dict[str, dict[str, float | None]]]:
    """group -> {availability, latency_p50_ms} -> phase -> figure, over the trials' per-node
    metrics (each trial with its parsed metrics); `group(trial, node)` names the group a
    node of a trial belongs to."""
    av: dict[str, dict[str, list[float | None]]] = {}
    p50: dict[str, dict[str, list[float | None]]] = {}
    for t, metrics in trials:
        nodes = _dig(metrics, "per_node") or {}
        for node, phases in sorted(nodes.items()):
            g = group(t, node)
            for ph in PHASES:
                figures = phases.get(ph) or {}
                av.setdefault(g, {}).setdefault(ph, []).append(figures.get("availability"))
                p50.setdefault(g, {}).setdefault(ph, []).append(figures.get("p50_ms"))
    return {
        g: {
            "availability": {ph: _r(_mean(av[g].get(ph, []))) for ph in PHASES},
            "latency_p50_ms": {ph: _r(_median(p50[g].get(ph, []))) for ph in PHASES},
        }
        for g in sorted(av)
    }


def _role(t: TrialRow, node: str) -> str:
    return "target" if node in json.loads(t.targets or "[]") else "other"


def summarize_cell(
    subject: str, fault: str, params: dict[str, Any], trials: Sequence[TrialRow], seed: int
) -> Cell:
    by = {s: [t for t in trials if t.status == s] for s in TrialStatus}
    judged = by[TrialStatus.PASSED] + by[TrialStatus.FAILED]
    rec = [t.recovery_s for t in judged if t.recovery_s is not None]
    pairs = [(t, metrics_of(t)) for t in judged]
    ms = [m for _, m in pairs]
    reasons = tuple(
        dict.fromkeys(
            r
            for t in by[TrialStatus.FAILED] + by[TrialStatus.CLEANUP_FAILED] + by[TrialStatus.ERROR]
            for r in (json.loads(t.reasons) + ([t.error] if t.error else []))
        )
    )
    return Cell(
        subject=subject,
        fault=fault,
        params=params,
        trials=len(trials),
        passed=len(by[TrialStatus.PASSED]),
        failed=len(by[TrialStatus.FAILED]),
        errors=len(by[TrialStatus.ERROR]),
        cleanup_failed=len(by[TrialStatus.CLEANUP_FAILED]),
        unfinished=sum(
            len(by[s]) for s in (TrialStatus.PENDING, TrialStatus.RUNNING, TrialStatus.INTERRUPTED)
        ),
        recovery_s=Spread(
            min(rec) if rec else None,
            statistics.median(rec) if rec else None,
            max(rec) if rec else None,
            percentile(rec, 95),
            bootstrap_median(rec, seed) if len(rec) >= 2 else None,
        ),
        pass_rate=wilson(len(by[TrialStatus.PASSED]), len(judged)),
        availability_during=_mean([_dig(m, "availability", "during") for m in ms]),
        availability_after=_mean([_dig(m, "availability", "after") for m in ms]),
        latency_p50_ms=_median([_dig(m, "latency_ms", "during", "p50") for m in ms]),
        latency_p99_ms=_median([_dig(m, "latency_ms", "during", "p99") for m in ms]),
        lost_writes=sum(int(_dig(m, "lost_writes") or 0) for m in ms),
        reasons=reasons,
        trial_ids=tuple(t.id for t in trials),
        availability_active=_mean([_dig(m, "availability", "active") for m in ms]),
        per_node=node_groups(pairs, lambda _t, node: node),
        by_role=node_groups(pairs, _role),
        histories=history_counts(t.measurements_dict.get("linearizability") for t in trials),
    )


def analyze(campaign: CampaignRow, trials: Sequence[TrialRow]) -> Analysis:
    groups: dict[tuple[str, str, str], list[TrialRow]] = {}
    for t in sorted(trials, key=lambda t: t.ordinal):
        groups.setdefault((t.subject, t.fault, t.params), []).append(t)
    cells = tuple(
        summarize_cell(s, f, json.loads(p), ts, campaign.seed) for (s, f, p), ts in groups.items()
    )
    return Analysis(campaign, cells, tuple(trials))
