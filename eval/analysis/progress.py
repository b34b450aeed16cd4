"""Per-cell progress of a campaign while it runs (the live dashboard's bars): trials done
out of the cell's target, and the verdict and recovery time of its latest finished trial."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chaos_eval.outcomes import TrialStatus
from chaos_eval.spec.config import CampaignConfig
from chaos_eval.spec.matrix import PlannedTrial, expand
from chaos_eval.spec.samples import cell_samples
from chaos_eval.store.records import TrialRow

SAMPLE = (TrialStatus.PASSED, TrialStatus.FAILED)


@dataclass(frozen=True)
class CellProgress:
    label: str  # subject / fault (params)
    done: int
    target: int
    running: int
    last_status: str | None
    last_recovery_s: float | None


def cell_label(t: TrialRow) -> str:
    params = ",".join(f"{k}={v}" for k, v in sorted(t.params_dict.items()))
    return f"{t.subject} / {t.fault}" + (f" ({params})" if params else "")


def planned_label(p: PlannedTrial) -> str:
    params = ",".join(f"{k}={v}" for k, v in sorted(json.loads(p.params).items()))
    return f"{p.subject} / {p.fault}" + (f" ({params})" if params else "")


def sample_targets(cfg: CampaignConfig) -> dict[str, int]:
    """A sampled campaign's cells (label -> target), in matrix order; {} when not sampled."""
    out: dict[str, int] = {}
    for p, c in expand(cfg) if cfg.samples else ():
        s = cell_samples(cfg, c.chaos) if p.repetition == 0 else None
        if s is not None:
            out[planned_label(p)] = s.target
    return out


def cell_progress(trials: Sequence[TrialRow],
                  targets: Mapping[str, int] | None = None) -> list[CellProgress]:
    """One entry per cell, in the campaign's order. Pure. A sampled campaign's cells
    (`targets`: label -> target, sample_targets) count samples (passed + failed) out of
    their target, and have a bar before their first trial."""
    targets = targets or {}
    cells: dict[str, list[TrialRow]] = {}
    for t in sorted(trials, key=lambda t: t.ordinal):
        cells.setdefault(cell_label(t), []).append(t)
    for label in targets:
        cells.setdefault(label, [])
    out = []
    for label, ts in cells.items():
        finished = sorted((t for t in ts if t.status.is_final), key=lambda t: t.finished_at or 0)
        last = finished[-1] if finished else None
        sampled = label in targets
        done = sum(t.status in SAMPLE for t in finished) if sampled else len(finished)
        out.append(CellProgress(
            label=label, done=done, target=targets[label] if sampled else len(ts),
            running=sum(t.status.value == "running" for t in ts),
            last_status=last.status.value if last else None,
            last_recovery_s=last.recovery_s if last else None,
        ))
    return out
