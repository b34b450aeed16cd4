"""When a sampled cell ends (a campaign's `samples:`, chaos_eval.spec.samples). Pure.

A cell's finished trials are taken in the order they finished (finished_at, then id); after
each one the cell is judged, first rule first:

1. its stopping rule holds: at least `min_trials` samples and the 95 % interval narrower
   than the rule's width (the Wilson interval of passed / (passed + failed); or the seeded
   bootstrap interval of the median of the samples' recovery times, seeded from the
   campaign seed and the cell, so the same trials always give the same interval);
2. it has `target` samples;
3. it spent `max_trials` trials.

Samples are trials with a verdict (passed, failed); error and cleanup_failed trials are
spent but no samples. The first point in that order where a condition holds is the cell's
end, so the runner (judging after each finish) and a resume (replaying the recorded trials)
reach the same end at the same trial. The end is recorded as a `cell_ended` event whose
detail is `CellEnd.to_detail()`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

from chaos_eval.analysis.intervals import bootstrap_median, wilson
from chaos_eval.errors import ConfigError
from chaos_eval.outcomes import TrialStatus
from chaos_eval.spec.config import CampaignConfig
from chaos_eval.spec.matrix import expand, recorded_config
from chaos_eval.spec.samples import Samples, cell_samples
from chaos_eval.store.records import CampaignRow, TrialRow
from chaos_eval.store.store import Store

CELL_ENDED = "cell_ended"
TARGET, RULE, MAX_TRIALS = "target", "stopping_rule", "max_trials"
SAMPLE = (TrialStatus.PASSED, TrialStatus.FAILED)


@dataclass(frozen=True)
class CellEnd:
    subject: str
    fault: str
    params: str  # canonical JSON of the grid point (TrialRow.params)
    rule: str  # TARGET | RULE | MAX_TRIALS
    samples: int
    spent: int
    errors: int  # spent trials that are no samples (error, cleanup_failed)
    width: float | None  # the stopping rule's interval width when it was judged
    threshold: float | None
    text: str
    target: str = ""  # the fault's target: two entries of one fault and grid point differ

    @property
    def cell(self) -> tuple[str, str, str, str]:
        return (self.subject, self.fault, self.params, self.target)

    def to_detail(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_detail(cls, detail: str) -> CellEnd | None:
        """The end a `cell_ended` event recorded; None for a detail that is not one."""
        try:
            return cls(**json.loads(detail))
        except (ValueError, TypeError):
            return None


def finish_order(trials: Sequence[TrialRow]) -> list[TrialRow]:
    """The cell's finished trials in the order they finished."""
    done = [t for t in trials if t.status.is_final]
    return sorted(done, key=lambda t: (t.finished_at or 0.0, t.id))


def cell_seed(campaign_seed: int, subject: str, fault: str, params: str) -> int:
    """The bootstrap seed of one cell: the same for every run and resume of the campaign."""
    text = f"{campaign_seed}|{subject}|{fault}|{params}"
    return int(hashlib.sha256(text.encode()).hexdigest()[:15], 16)


def rule_width(samples: Sequence[TrialRow], s: Samples, seed: int) -> float | None:
    """The stopping rule's interval width over these samples (None: no rule, or no interval)."""
    rule = s.stop_when
    if rule is None or not samples:
        return None
    if rule.pass_rate_ci_width is not None:
        iv = wilson(sum(t.status == TrialStatus.PASSED for t in samples), len(samples))
    else:
        times = [t.recovery_s for t in samples if t.recovery_s is not None]
        if len(times) < s.min_samples:
            return None
        iv = bootstrap_median(times, seed)
    return None if iv.low is None or iv.high is None else iv.high - iv.low


def judge(done: Sequence[TrialRow], s: Samples, seed: int) -> CellEnd | None:
    """Whether a cell whose finished trials are `done` has ended (rules in the docstring)."""
    if not done:
        return None
    first = done[0]
    samples = [t for t in done if t.status in SAMPLE]
    n, spent = len(samples), len(done)
    errors = spent - n
    rule = s.stop_when
    threshold = None if rule is None else (
        rule.pass_rate_ci_width if rule.pass_rate_ci_width is not None
        else rule.recovery_median_ci_width_s)
    width = rule_width(samples, s, seed) if n >= s.min_samples else None
    what = ""
    if width is not None and threshold is not None and width < threshold:
        unit = "" if rule is None or rule.pass_rate_ci_width is not None else "s"
        name = "pass-rate" if unit == "" else "recovery median"
        what, text = RULE, (f"stopping rule: {name} 95% CI width {width:.2f}{unit} < "
                            f"{threshold:g}{unit} after {n}")
    elif n >= s.target:
        what, text = TARGET, f"target met ({n}/{s.target})"
    elif spent >= s.max_trials:
        what, text = MAX_TRIALS, f"max_trials spent ({spent}, {errors} errors)"
    if not what:
        return None
    return CellEnd(first.subject, first.fault, first.params, what, n, spent, errors,
                   None if width is None else round(width, 4), threshold, text, first.target)


def first_end(
    done: Sequence[TrialRow], s: Samples, seed: int, start: int = 0
) -> tuple[CellEnd | None, int]:
    """Replay: the first prefix of `done` (in finish order) at which the cell ended, judging
    prefixes from `start + 1` on (those before were judged already and did not end it).
    Returns the end (or None) and how many prefixes are now judged."""
    for k in range(start + 1, len(done) + 1):
        end = judge(done[:k], s, seed)
        if end is not None:
            return end, k
    return None, max(start, len(done))


class Statused(Protocol):
    """A trial row or a trial's brief: all `not_ended_text` reads."""

    @property
    def status(self) -> TrialStatus: ...


def not_ended_text(trials: Sequence[Statused], s: Samples) -> str:
    done = [t for t in trials if t.status.is_final]
    n = sum(t.status in SAMPLE for t in done)
    return f"not ended ({n}/{s.target} samples, {len(done)}/{s.max_trials} trials)"


async def samples_line(store: Store, c: CampaignRow) -> str:
    """`status`'s word on a sampled campaign: cells ended out of cells, and the targets."""
    if c.rerun_of is not None or '"samples"' not in c.spec_json:  # (only `samples:` has it)
        return ""
    try:
        cfg = recorded_config(c.spec_json, f"campaign {c.id}")
    except ConfigError:
        return ""
    s = cfg.samples
    if s is None:
        return ""
    cells = len(cfg.subjects) * sum(len(ch.grid()) for ch in cfg.chaos_types)
    ended = len({e.detail for e in await store.events(c.id, CELL_ENDED)})
    return f"{ended}/{cells} cells ended (target {s.target}, max_trials {s.max_trials} per cell)"


Cell4 = tuple[str, str, str, str]  # subject, fault, params JSON, target


def sampled_cells_of(cfg: CampaignConfig) -> dict[Cell4, Samples]:
    """A sampled campaign's cells and their sampling ({} when it does not sample)."""
    out: dict[Cell4, Samples] = {}
    for p, c in expand(cfg) if cfg.samples else ():
        s = cell_samples(cfg, c.chaos) if p.repetition == 0 else None
        if s is not None:
            out[(p.subject, p.fault, p.params, p.target)] = s
    return out


def trials_to_come(
    cells: Mapping[Cell4, Samples], trials: Sequence[TrialRow], ended: Collection[Cell4]
) -> int:
    """How many trials a sampled campaign will still add if every trial to come is a sample:
    per open cell, its target less its samples and its unfinished trials. Pure."""
    have: dict[Cell4, int] = {}
    for t in trials:
        cell = (t.subject, t.fault, t.params, t.target)
        if cell in cells and (t.status in SAMPLE or not t.status.is_final):
            have[cell] = have.get(cell, 0) + 1
    return sum(max(s.target - have.get(cell, 0), 0)
               for cell, s in cells.items() if cell not in ended)


async def ended_cells(store: Store, campaign_id: int) -> set[Cell4]:
    ends = [CellEnd.from_detail(e.detail) for e in await store.events(campaign_id, CELL_ENDED)]
    return {e.cell for e in ends if e is not None}
