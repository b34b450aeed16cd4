"""Matrix expansion: a campaign config becomes its ordered list of planned trials.

Deterministic: the spec hash covers the whole validated config, and each trial's key is a
hash of the spec hash and the trial's coordinates (subject, fault entry, grid point,
repetition); its seed derives from the campaign seed and that key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from chaos_eval.errors import ChaosEvalError, ConfigError
from chaos_eval.spec.config import (
    CampaignConfig,
    ChaosSpec,
    Scalar,
    SubjectSpec,
    canonical_params,
    parse_campaign,
)
from chaos_eval.spec.samples import cell_samples

BASELINE = "baseline"


@dataclass(frozen=True)
class PlannedTrial:
    """One cell x repetition of the matrix, before it runs."""

    key: str
    ordinal: int
    subject: str
    subject_type: str
    fault: str  # fault type, or "baseline"
    params: str  # canonical JSON of the grid point
    target: str
    repetition: int
    seed: int


@dataclass(frozen=True)
class Coordinates:
    """Where a trial sits in the matrix."""

    subject: SubjectSpec
    chaos: ChaosSpec | None
    chaos_index: int  # -1 for baseline
    params: dict[str, Scalar]
    repetition: int


def spec_json(cfg: CampaignConfig) -> str:
    return json.dumps(cfg.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def recorded_config(text: str, where: str) -> CampaignConfig:
    """The config a campaign recorded (its spec JSON), validated like a file: what resume and
    rerun run from, whatever became of the YAML file since."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(where, "", f"the recorded spec is not JSON ({e})") from None
    return parse_campaign(raw, where)


def spec_hash(cfg: CampaignConfig) -> str:
    return hashlib.sha256(spec_json(cfg).encode()).hexdigest()


def campaign_seed(cfg: CampaignConfig) -> int:
    return cfg.seed if cfg.seed is not None else int(spec_hash(cfg)[:15], 16)


def trial_key_coords(c: Coordinates) -> str:
    """The JSON of a trial's coordinates its key hashes (the repetition last)."""
    return json.dumps(
        [
            c.subject.label,
            c.chaos_index,
            c.chaos.type if c.chaos else BASELINE,
            canonical_params(c.params),
            c.repetition,
        ],
        separators=(",", ":"),
    )


def trial_key(shash: str, c: Coordinates) -> str:
    return hashlib.sha256(f"{shash}|{trial_key_coords(c)}".encode()).hexdigest()[:20]


def expand(cfg: CampaignConfig) -> list[tuple[PlannedTrial, Coordinates]]:
    """The whole matrix, in run order: baselines first (one per subject), then the cells."""
    shash, seed = spec_hash(cfg), campaign_seed(cfg)
    coords: list[Coordinates] = []
    if cfg.include_baseline:
        coords += [Coordinates(s, None, -1, {}, 0) for s in cfg.subjects]
    # with `samples:`, every trial a cell may spend (0 .. max_trials-1); the runner starts
    # them lazily, in order, while the cell has not ended (chaos_eval.run.sampling)
    for s in cfg.subjects:
        for i, chaos in enumerate(cfg.chaos_types):
            sampled = cell_samples(cfg, chaos)
            reps = sampled.max_trials if sampled else cfg.trials_per_combination
            for point in chaos.grid():
                coords += [Coordinates(s, chaos, i, point, r) for r in range(reps)]
    out = []
    cell_of: dict[tuple[int, int, int], tuple[str, str]] = {}  # per cell: key prefix, params JSON
    for ordinal, c in enumerate(coords):
        # trial_key(shash, c), with what every repetition of a cell shares computed once
        # (a 100k-trial matrix is expanded on every resume)
        cell = cell_of.get((id(c.subject), c.chaos_index, id(c.params)))
        if cell is None:
            head = trial_key_coords(c)
            cell = (head[: head.rindex(",")], json.dumps(c.params, sort_keys=True))
            cell_of[(id(c.subject), c.chaos_index, id(c.params))] = cell
        coords_json = f"{cell[0]},{c.repetition}]"
        key = hashlib.sha256(f"{shash}|{coords_json}".encode()).hexdigest()[:20]
        out.append(
            (
                PlannedTrial(
                    key=key,
                    ordinal=ordinal,
                    subject=c.subject.label,
                    subject_type=c.subject.type,
                    fault=c.chaos.type if c.chaos else BASELINE,
                    params=cell[1],
                    target=c.chaos.target if c.chaos else "",
                    repetition=c.repetition,
                    seed=int(hashlib.sha256(f"{seed}|{key}".encode()).hexdigest()[:15], 16),
                ),
                c,
            )
        )
    if not out:
        raise ChaosEvalError("the campaign expands to zero trials")
    return out
