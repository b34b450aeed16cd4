"""Per-cell progress of a campaign while it runs (the live dashboard's bars): trials done
out of the cell's target, and the verdict and recovery time of its latest finished trial."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from chaos_eval.outcomes import TrialStatus
from chaos_eval.spec.matrix import BASELINE, PlannedTrial
from chaos_eval.spec.samples import Samples
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


def cell_progress(trials: Sequence[TrialRow], samples: Samples | None = None,
                  planned: Sequence[PlannedTrial] = ()) -> list[CellProgress]:
    """One entry per cell, in the campaign's order. Pure. A sampled campaign's cells
    (`samples`; `planned`: the matrix, so cells with no trial yet have a bar) count samples
    (passed + failed) out of their target."""
    cells: dict[str, list[TrialRow]] = {}
    for t in sorted(trials, key=lambda t: t.ordinal):
        cells.setdefault(cell_label(t), []).append(t)
    for p in planned if samples is not None else ():
        if p.fault != BASELINE:
            cells.setdefault(planned_label(p), [])
    out = []
    for label, ts in cells.items():
        finished = sorted((t for t in ts if t.status.is_final), key=lambda t: t.finished_at or 0)
        last = finished[-1] if finished else None
        sampled = samples is not None and not label.split(" / ")[1].startswith(BASELINE)
        done = sum(t.status in SAMPLE for t in finished) if sampled else len(finished)
        out.append(CellProgress(
            label=label, done=done, target=samples.target if samples and sampled else len(ts),
            running=sum(t.status.value == "running" for t in ts),
            last_status=last.status.value if last else None,
            last_recovery_s=last.recovery_s if last else None,
        ))
    return out
