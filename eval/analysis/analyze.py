"""Turn a campaign's trials into per-cell summaries and statistics (eval/analysis/cell.py), in
one pass over the trials in run order: `CampaignTally` takes them as the store streams them,
summarises each cell as soon as its last trial has passed (the store says how many trials
each cell holds) and keeps, per trial, only its `TrialBrief`: what the per-trial outputs
(JSON, JUnit, the report's lists and charts, compare) use. Pure.

Memory: a brief per trial, the figures of the cells still open (one, in a campaign run in
order), and a chunk of rows; never a trial's measurements once it is tallied.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

from chaos_eval.analysis.cell import Cell, CellTally, Spread
from chaos_eval.commands import rerun_commands
from chaos_eval.errors import StoreError
from chaos_eval.outcomes import TrialStatus
from chaos_eval.store.figures import figures_of
from chaos_eval.store.records import CampaignRow, TrialRow
from chaos_eval.store.results import TrialResult

__all__ = ["Analysis", "CampaignTally", "Cell", "Spread", "TrialBrief", "analyze"]

CellKey = tuple[str, str, str]  # subject, fault, params (canonical JSON)
_VALUES = {s: s.value for s in TrialStatus}


class TrialBrief(NamedTuple):
    """A trial as the per-trial outputs see it once its cell is summarised (a tuple: one is
    made per trial, ten times faster than a frozen dataclass)."""

    id: int
    key: str
    ordinal: int
    subject: str
    fault: str
    params: str
    repetition: int
    seed: int
    status: TrialStatus
    finished_at: float | None
    recovery_s: float | None
    reasons: tuple[Any, ...]
    error: str
    wall_s: Any  # measurements' wall_s, as recorded (JUnit's time)
    availability_during: Any  # metrics' availability during the fault, as recorded
    windowed: bool  # the measurements hold a fault window (the report can chart it)
    history_verdict: Any  # the register check's verdict, as recorded (None: no check)

    @property
    def params_dict(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.params)
        return loaded


def brief(t: TrialResult) -> TrialBrief:
    f = t.figures
    lin = f.linearizability
    return TrialBrief(
        t.id, t.key, t.ordinal, t.subject, t.fault, t.params, t.repetition, t.seed, t.status,
        t.finished_at, t.recovery_s, t.reasons, t.error, f.wall_s, f.availability_during,
        f.windowed, lin.get("verdict") if isinstance(lin, dict) else None,
    )  # fmt: skip


@dataclass(frozen=True, repr=False)
class Analysis:
    campaign: CampaignRow
    cells: tuple[Cell, ...]
    trials: tuple[TrialBrief, ...]  # in run order

    def __repr__(self) -> str:
        # short: asyncio.run (3.11) formats its main task, result included, when it restores
        # the SIGINT handler; a full repr of 100k trials cost seconds there
        return (f"Analysis(campaign {self.campaign.id}, {len(self.cells)} cells, "
                f"{len(self.trials)} trials)")

    @cached_property
    def by_id(self) -> dict[int, TrialBrief]:
        return {t.id: t for t in self.trials}

    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {s.value: 0 for s in TrialStatus}
        for status, n in Counter(t.status for t in self.trials).items():
            out[status.value] += n
        return out

    def to_json(self, db: str | Path | None = None) -> dict[str, object]:
        """The campaign and its cells; each cell lists its trials with the command that
        re-runs each one (naming `db` when given)."""
        c = self.campaign
        by_id, rerun = self.by_id, rerun_commands(c.id, db)
        cells = []
        for cell in self.cells:
            d = cell.to_json()
            d["per_trial"] = [trial_json(by_id[i], rerun) for i in cell.trial_ids]
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


def trial_json(t: TrialBrief, rerun: Callable[[str], str]) -> dict[str, object]:
    return {
        "id": t.id,
        "key": t.key,
        "repetition": t.repetition,
        "seed": t.seed,
        "status": _VALUES[t.status],  # an enum's .value is a slow descriptor (100k calls)
        "rerun": rerun(t.key),
    }


class CampaignTally:
    """The analysis of one campaign, built as its trials are added in run order. `sizes`
    (cell -> its number of trials) lets a cell be summarised, and its figures dropped, when
    its last trial is added; without it (or for a cell it miscounts) cells are summarised at
    the end. Either way the result is the same."""

    def __init__(self, campaign: CampaignRow, sizes: Mapping[CellKey, int] | None = None) -> None:
        self.campaign = campaign
        self._sizes = dict(sizes or {})
        self._open: dict[CellKey, CellTally] = {}
        self._cells: dict[CellKey, Cell | None] = {}  # first appearance order; None: open
        self._briefs: list[TrialBrief] = []

    def add(self, t: TrialResult) -> None:
        key = (t.subject, t.fault, t.params)
        tally = self._open.get(key)
        if tally is None:
            if key in self._cells:  # summarised already: the trials changed while being read
                raise StoreError(f"campaign {self.campaign.id}: cell {t.subject} / {t.fault} "
                                 f"{t.params} holds more trials than counted; read it again")
            tally = self._open[key] = CellTally(t.subject, t.fault, json.loads(t.params))
            self._cells[key] = None
        tally.add(t)
        self._briefs.append(brief(t))
        if len(tally.ids) == self._sizes.get(key):
            self._cells[key] = tally.cell(self.campaign.seed)
            del self._open[key]

    def analysis(self) -> Analysis:
        for key, tally in self._open.items():
            self._cells[key] = tally.cell(self.campaign.seed)
        self._open.clear()
        cells = tuple(c for c in self._cells.values() if c is not None)
        return Analysis(self.campaign, cells, tuple(self._briefs))


def result_of(t: TrialRow) -> TrialResult:
    """A full trial row as analysis reads it (what the store's streamed results hold)."""
    return TrialResult(
        t.id, t.key, t.ordinal, t.subject, t.fault, t.params, t.repetition, t.seed, t.status,
        t.finished_at, t.recovery_s, tuple(json.loads(t.targets or "[]")),
        figures_of(t.measurements_dict),
        tuple(json.loads(t.reasons)), t.error,
    )  # fmt: skip


def analyze(campaign: CampaignRow, trials: Iterable[TrialRow | TrialResult]) -> Analysis:
    """The analysis of trials given all at once (any order; run order is restored)."""
    tally = CampaignTally(campaign)
    for t in sorted(trials, key=lambda t: t.ordinal):
        tally.add(t if isinstance(t, TrialResult) else result_of(t))
    return tally.analysis()
