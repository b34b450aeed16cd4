"""`plan`: what a campaign file would run and how long it would take, before it runs.

A trial is its configured phases (warm-up + the fault's hold: waits, whatever else runs)
plus work that shares the machine with the trials beside it (cluster start, health,
recovery, teardown: eval/analysis/sharing.py). Per cell, the work is the median over earlier
trials of the same cell (same subject, fault and parameters, run under the same `timing:`)
in the db, when there are any (a wait for a warm pool's turn is a wait, not work); else the
overhead measured over earlier trials of the same subject type in the db, or, with no
history at all, assumed (ASSUMED_OVERHEAD_S). Each cell says which; `seconds` is one trial
alone (phases + work). The whole is the schedule the runner keeps, played back with that
sharing: baselines first (the pilot gate), then the matrix in order, `parallel` at a time,
each slot also waiting `cooldown_seconds` after its trial. Error trials are not timings of
the cell and are left out. A warm pool is not played back: what it hides (the next
cluster's start, a trial's teardown) is counted in full, so with one the estimate is an
upper bound.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from chaos_eval.analysis.sharing import shared_makespan, work_shares
from chaos_eval.spec.config import CampaignConfig, Timing
from chaos_eval.spec.matrix import BASELINE, PlannedTrial
from chaos_eval.store.records import CampaignRow, TrialRow

ASSUMED_OVERHEAD_S = 30.0  # cluster up + healthy + recovery + teardown of a 3-node cluster
Cell = tuple[str, str, str]  # subject label, fault, params JSON


@dataclass(frozen=True)
class CellEstimate:
    subject: str
    fault: str
    params: str
    trials: int  # planned
    todo: int  # a run of the file would still run
    seconds: float  # one trial
    source: str  # where `seconds` comes from
    max_trials: int | None = None  # a sampled cell: `trials` is its target, this its bound


@dataclass(frozen=True)
class History:
    by_cell: dict[Cell, list[float]]  # work of trials of the cell under the same timing
    overhead: dict[str, list[float]]  # subject type -> work of its trials (any timing)


def phases_s(timing: Timing) -> float:
    """The configured phases every trial waits through (baselines hold too)."""
    return timing.warmup_s + timing.fault_duration_s


def queued_s(t: TrialRow) -> float:
    """How long a trial waited, its cluster healthy, for its turn (a warm pool's `queued`
    phase): a wait, like the configured phases, never work of its cell."""
    if '"queued_s"' not in t.measurements:  # most trials: no pool, no parse
        return 0.0
    try:
        value = json.loads(t.measurements).get("queued_s", 0.0)
    except (ValueError, AttributeError):
        return 0.0
    return float(value) if isinstance(value, int | float) and value > 0 else 0.0


def _timing(c: CampaignRow) -> Timing | None:
    try:
        return Timing.model_validate(json.loads(c.spec_json).get("timing", {}))
    except (ValueError, AttributeError):
        return None


def history_of(
    cfg: CampaignConfig, runs: Iterable[tuple[CampaignRow, Sequence[TrialRow]]]
) -> History:
    """Timings of earlier trials, from (campaign, its trials) pairs. Pure."""
    by_cell: dict[Cell, list[float]] = defaultdict(list)
    overhead: dict[str, list[float]] = defaultdict(list)
    for campaign, trials in runs:
        timing = _timing(campaign)
        if timing is None:
            continue
        timed = [t for t in trials if t.started_at and t.finished_at]
        spans = [(t.started_at or 0.0, t.finished_at or 0.0) for t in timed]
        for t, (s, e), share in zip(timed, spans, work_shares(spans), strict=True):
            if t.status.value not in ("passed", "failed") or e <= s:
                continue
            # the share of its wall time that was not a wait (configured, or for its turn)
            work = share * max(1.0 - (phases_s(timing) + queued_s(t)) / (e - s), 0.0)
            overhead[t.subject_type].append(work)
            if timing == cfg.timing:
                by_cell[(t.subject, t.fault, t.params)].append(work)
    return History(dict(by_cell), dict(overhead))


def estimate_cells(
    cfg: CampaignConfig, planned: Sequence[PlannedTrial], todo_keys: set[str], h: History
) -> list[CellEstimate]:
    cells: dict[Cell, list[PlannedTrial]] = defaultdict(list)
    for p in planned:
        cells[(p.subject, p.fault, p.params)].append(p)
    out = []
    for (subject, fault, params), trials in cells.items():
        past = h.by_cell.get((subject, fault, params), [])
        if past:
            seconds = phases_s(cfg.timing) + statistics.median(past)
            source = f"history: median of {len(past)} earlier trial(s)"
        else:
            measured = h.overhead.get(trials[0].subject_type, [])
            over = statistics.median(measured) if measured else ASSUMED_OVERHEAD_S
            seconds = phases_s(cfg.timing) + over
            source = (
                f"phases + measured overhead {over:.0f}s ({len(measured)} trial(s))"
                if measured else f"phases + assumed overhead {over:.0f}s"
            )
        todo = sum(p.key in todo_keys for p in trials)
        out.append(CellEstimate(subject, fault, params, len(trials), todo, seconds, source))
    return out


def makespan(
    planned: Sequence[PlannedTrial],
    seconds: dict[Cell, float],
    parallel: int,
    cooldown: float,
    phases: float,
) -> float:
    """How long the runner takes for `planned` (`seconds`: one trial of each cell alone,
    `phases` of it configured waits): baselines first
    (all of them finish before the matrix starts when there is a matrix), then the rest in
    order, `parallel` slots sharing the machine."""
    def run(trials: Sequence[PlannedTrial], start: float) -> float:
        work = [max(seconds[(p.subject, p.fault, p.params)] - phases, 0.0) for p in trials]
        # the phases are waits: like the cooldown, a slot held without a share of the machine
        return shared_makespan(work, parallel, phases + cooldown, start) if trials else start

    base = [p for p in planned if p.fault == BASELINE]
    matrix = [p for p in planned if p.fault != BASELINE]
    gate = run(base, 0.0)
    return run(matrix, gate) if matrix else gate


@dataclass(frozen=True)
class Forecast:
    name: str
    parallel: int
    cooldown_s: float
    cells: tuple[CellEstimate, ...]
    what_runs: str  # what `run campaign FILE` would do with this db
    fresh_s: float  # a fresh run of every trial
    todo_s: float  # what a run (or resume) would still run
    fresh_max_s: float | None = None  # sampled: a fresh run where every cell spends max_trials

    @property
    def trials(self) -> int:
        return sum(c.trials for c in self.cells)

    @property
    def todo(self) -> int:
        return sum(c.todo for c in self.cells)

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name, "parallel": self.parallel, "cooldown_s": self.cooldown_s,
            "trials": self.trials, "todo": self.todo, "what_runs": self.what_runs,
            "eta_fresh_s": round(self.fresh_s, 1), "eta_todo_s": round(self.todo_s, 1),
            "cells": [
                {"subject": c.subject, "fault": c.fault, "params": json.loads(c.params),
                 "trials": c.trials, "todo": c.todo, "trial_s": round(c.seconds, 1),
                 "source": c.source}
                | ({} if c.max_trials is None else {"max_trials": c.max_trials})
                for c in self.cells
            ],
        } | ({} if self.fresh_max_s is None else {"eta_fresh_max_s": round(self.fresh_max_s, 1)})


def forecast(
    cfg: CampaignConfig,
    planned: Sequence[PlannedTrial],
    todo_keys: set[str],
    what_runs: str,
    h: History,
    bounds: Mapping[Cell, tuple[int, int]] | None = None,
) -> Forecast:
    """The plan of a campaign. Pure. A sampled campaign (`bounds`: cell -> its target and
    max_trials) is planned at its targets (every trial a sample), with the bound where every
    cell spends max_trials."""
    upper = list(planned)
    if bounds:
        planned = [p for p in planned if (p.subject, p.fault, p.params) not in bounds
                   or p.repetition < bounds[(p.subject, p.fault, p.params)][0]]
    cells = estimate_cells(cfg, planned, todo_keys, h)
    if bounds:
        cells = [replace(c, max_trials=bounds[(c.subject, c.fault, c.params)][1])
                 if (c.subject, c.fault, c.params) in bounds else c for c in cells]
    seconds = {(c.subject, c.fault, c.params): c.seconds for c in cells}
    todo = [p for p in planned if p.key in todo_keys]
    phases = phases_s(cfg.timing)
    par, cool = cfg.parallel, cfg.cooldown_seconds
    return Forecast(
        name=cfg.name, parallel=par, cooldown_s=cool,
        cells=tuple(cells), what_runs=what_runs,
        fresh_s=makespan(planned, seconds, par, cool, phases),
        todo_s=makespan(todo, seconds, par, cool, phases) if todo else 0.0,
        fresh_max_s=makespan(upper, seconds, par, cool, phases) if bounds else None,
    )
