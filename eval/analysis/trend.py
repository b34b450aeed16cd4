"""Trend over nights: per cell, pass rate and recovery median per night, flaky cells, and
new failures since the previous night.

A night is one campaign (usually a merged nightly db), given oldest first. A cell is
(subject, fault, grid point), as in analyze. Runs are judged trials (passed + failed):
harness errors, cleanup_failed and unfinished trials are never held against the subject.
A cell is **flaky** when, over all the nights given, it has at least `min_runs` runs and
failed in at least `flaky_rate` of them (etcd's robustness dashboard: >= 10 % of >= 20
runs). A **new failure** is a cell with a failed run in the last night and none in the
night before it (or absent from it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chaos_eval.outcomes import TrialStatus
from chaos_eval.store.records import CampaignRow, TrialRow

MIN_RUNS = 20
FLAKY_RATE = 0.10

CellKey = tuple[str, str, str]  # subject, fault, canonical params


@dataclass(frozen=True)
class Night:
    label: str  # what names the night (its db file)
    campaign: CampaignRow
    trials: Sequence[TrialRow]


@dataclass(frozen=True)
class NightCell:
    runs: int
    failed: int
    recovery_median_s: float | None

    @property
    def pass_rate(self) -> float | None:
        return None if not self.runs else (self.runs - self.failed) / self.runs


@dataclass(frozen=True)
class CellTrend:
    subject: str
    fault: str
    params: str
    nights: tuple[NightCell | None, ...]  # one per night, None where the cell did not run
    runs: int
    failed: int
    flaky: bool
    new_failure: bool

    @property
    def failure_rate(self) -> float | None:
        return None if not self.runs else self.failed / self.runs

    def to_json(self, labels: Sequence[str]) -> dict[str, object]:
        return {
            "subject": self.subject,
            "fault": self.fault,
            "params": self.params,
            "runs": self.runs,
            "failed": self.failed,
            "failure_rate": None if self.failure_rate is None else round(self.failure_rate, 4),
            "flaky": self.flaky,
            "new_failure": self.new_failure,
            "nights": [
                None
                if n is None
                else {
                    "night": label,
                    "runs": n.runs,
                    "failed": n.failed,
                    "pass_rate": None if n.pass_rate is None else round(n.pass_rate, 4),
                    "recovery_median_s": n.recovery_median_s,
                }
                for label, n in zip(labels, self.nights, strict=True)
            ],
        }


@dataclass(frozen=True)
class Trend:
    labels: tuple[str, ...]
    cells: tuple[CellTrend, ...]
    min_runs: int
    flaky_rate: float

    @property
    def flaky(self) -> list[CellTrend]:
        return [c for c in self.cells if c.flaky]

    @property
    def new_failures(self) -> list[CellTrend]:
        return [c for c in self.cells if c.new_failure]

    def to_json(self) -> dict[str, object]:
        return {
            "nights": list(self.labels),
            "thresholds": {"min_runs": self.min_runs, "flaky_rate": self.flaky_rate},
            "flaky": [_name(c) for c in self.flaky],
            "new_failures": [_name(c) for c in self.new_failures],
            "cells": [c.to_json(self.labels) for c in self.cells],
        }


def _name(c: CellTrend) -> str:
    return f"{c.subject} / {c.fault} {c.params}"


def _median(xs: Sequence[float]) -> float | None:
    if not xs:
        return None
    s, n = sorted(xs), len(xs)
    return round(s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2, 3)


def night_cells(trials: Sequence[TrialRow]) -> dict[CellKey, NightCell]:
    judged: dict[CellKey, list[TrialRow]] = {}
    for t in trials:
        cell = judged.setdefault((t.subject, t.fault, t.params), [])
        if t.status in (TrialStatus.PASSED, TrialStatus.FAILED):
            cell.append(t)
    return {
        k: NightCell(
            runs=len(ts),
            failed=sum(t.status == TrialStatus.FAILED for t in ts),
            recovery_median_s=_median([t.recovery_s for t in ts if t.recovery_s is not None]),
        )
        for k, ts in judged.items()
    }


def trend(
    nights: Sequence[Night], *, min_runs: int = MIN_RUNS, flaky_rate: float = FLAKY_RATE
) -> Trend:
    """The trend over `nights`, oldest first."""
    per_night = [night_cells(n.trials) for n in nights]
    keys = sorted({k for cells in per_night for k in cells})
    out = []
    for k in keys:
        row = tuple(cells.get(k) for cells in per_night)
        runs = sum(n.runs for n in row if n)
        failed = sum(n.failed for n in row if n)
        last = row[-1]
        before = row[-2] if len(row) > 1 else None
        new = bool(last and last.failed and len(row) > 1 and not (before and before.failed))
        out.append(
            CellTrend(
                subject=k[0],
                fault=k[1],
                params=k[2],
                nights=row,
                runs=runs,
                failed=failed,
                flaky=runs >= min_runs and failed / runs >= flaky_rate,
                new_failure=new,
            )
        )
    return Trend(tuple(n.label for n in nights), tuple(out), min_runs, flaky_rate)
