"""How each cell of a sampled campaign ended, for `analyze`: the `cell_ended` events the runner
recorded (chaos_eval.analysis.sampling), and `not ended (...)` for the cells still open. A
campaign without `samples:` has none (its cells run a fixed count)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence

from chaos_eval.analysis.analyze import Analysis, TrialBrief
from chaos_eval.analysis.sampling import CELL_ENDED, CellEnd, not_ended_text
from chaos_eval.errors import ConfigError
from chaos_eval.spec.matrix import BASELINE, expand, recorded_config
from chaos_eval.spec.samples import Samples, cell_samples
from chaos_eval.store.records import CampaignRow, EventRow

CellKey = tuple[str, str, str]  # subject, fault, params JSON


def cell_ends(
    campaign: CampaignRow, trials: Sequence[TrialBrief], events: Sequence[EventRow]
) -> dict[CellKey, str] | None:
    """Cell -> how it ended; None when the campaign does not sample (a rerun of one trial
    does not). Pure."""
    if campaign.rerun_of is not None or not _samples_set(campaign.spec_json):
        return None
    try:
        cfg = recorded_config(campaign.spec_json, f"campaign {campaign.id}")
    except ConfigError:
        return None
    if cfg.samples is None:
        return None
    per: dict[CellKey, Samples] = {}
    for p, c in expand(cfg):
        s = cell_samples(cfg, c.chaos) if p.repetition == 0 else None
        if s is not None:
            per[(p.subject, p.fault, p.params)] = s
    out: dict[CellKey, str] = {}
    for e in events:
        end = CellEnd.from_detail(e.detail) if e.kind == CELL_ENDED else None
        if end is not None:
            out.setdefault((end.subject, end.fault, end.params), end.text)
    cells: dict[CellKey, list[TrialBrief]] = {}
    for t in trials:
        if t.fault != BASELINE:
            cells.setdefault((t.subject, t.fault, t.params), []).append(t)
    for key, ts in cells.items():
        out.setdefault(key, not_ended_text(ts, per.get(key, cfg.samples)))
    return out


def _samples_set(spec_json: str) -> bool:
    """Whether the recorded spec sets the campaign's `samples:`: a campaign that does not
    never samples (a fault's own `samples:` only overrides it), and its spec need not be
    validated, which imports every subject's and fault's module (~0.25 s of `analyze`)."""
    try:
        raw = json.loads(spec_json)
    except ValueError:
        return False  # recorded_config refuses it too: no ends
    return isinstance(raw, dict) and raw.get("samples") is not None


def with_ends(a: Analysis, ends: Mapping[CellKey, str] | None) -> Analysis:
    """The analysis with each sampled cell's `ended` filled in."""
    if not ends:
        return a
    cells = tuple(
        dataclasses.replace(c, ended=ends.get((c.subject, c.fault, c.params_json)))
        for c in a.cells
    )
    return dataclasses.replace(a, cells=cells)
