"""The campaign's `samples:` section: run each cell until it has enough evidence, not a fixed
count of trials (instead of `trials_per_combination`).

    samples:
      target: 10          # samples per cell: trials with a verdict (passed or failed)
      max_trials: 20      # trials a cell may spend at most (error and cleanup_failed included)
      min_trials: 3       # samples before a stopping rule may end the cell (default min(3, target))
      stop_when:          # optional, one of:
        pass_rate_ci_width: 0.3           # the 95 % Wilson interval of the pass rate
        recovery_median_ci_width_s: 1.0   # the bootstrap 95 % interval of the recovery median

A cell ends when, after one of its trials finished: its stopping rule holds (at least
`min_trials` samples and the interval narrower than the width), else it has `target`
samples, else it spent `max_trials` trials. Error trials (the harness's) and cleanup_failed
trials are no samples: they say nothing about the subject, but they count as trials spent.

A fault entry may give its own `samples:` (the same keys), overriding the campaign's for its
cells; only in a campaign that has `samples:` itself. Baselines are never sampled (one per
subject, the pilot gate).

Validated whole here (all problems at once, each naming `samples.<key>`): a rule that can
never fire is refused with the numbers: the narrowest Wilson interval at `target` samples
(all passed or all failed) is z^2 / (target + z^2), the same formula as
chaos_eval.analysis.intervals.wilson at p = 0 (a unit test holds them equal).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from chaos_eval.spec.config import CampaignConfig, ChaosSpec

Z95 = 1.959964
MIN_RECOVERY_SAMPLES = 3  # a bootstrap interval of fewer recovery times says nothing


def narrowest_wilson_width(n: int, z: float = Z95) -> float:
    """The narrowest 95 % Wilson interval of a pass rate over n samples (at p = 0 or 1)."""
    return z * z / (n + z * z)


def samples_needed(width: float, z: float = Z95) -> int:
    """The fewest samples whose narrowest Wilson interval is narrower than `width`."""
    return math.floor(z * z * (1 / width - 1)) + 1


class StopWhen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    pass_rate_ci_width: float | None = Field(default=None, gt=0, lt=1)
    recovery_median_ci_width_s: float | None = Field(default=None, gt=0, le=3600)

    @model_validator(mode="after")
    def _one_rule(self) -> StopWhen:
        given = [k for k in ("pass_rate_ci_width", "recovery_median_ci_width_s")
                 if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one rule: pass_rate_ci_width or "
                             "recovery_median_ci_width_s")
        return self

    @property
    def describe(self) -> str:
        if self.pass_rate_ci_width is not None:
            return f"pass-rate 95% CI width < {self.pass_rate_ci_width:g}"
        return f"recovery median 95% CI width < {self.recovery_median_ci_width_s:g}s"


class Samples(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    target: int = Field(ge=1, le=10000)
    max_trials: int = Field(ge=1, le=10000)
    min_trials: int | None = Field(default=None, ge=1, le=10000)
    stop_when: StopWhen | None = None

    @property
    def min_samples(self) -> int:
        return self.min_trials if self.min_trials is not None else min(3, self.target)

    @model_validator(mode="after")
    def _reachable(self) -> Samples:
        problems = []
        if self.max_trials < self.target:
            problems.append(f"max_trials ({self.max_trials}) is below target ({self.target}): "
                            "the target could never be met")
        if self.min_trials is not None and self.min_trials > self.target:
            problems.append(f"min_trials ({self.min_trials}) is above target ({self.target}): "
                            "the cell ends at its target before a stopping rule may fire")
        rule = self.stop_when
        if rule is not None and rule.pass_rate_ci_width is not None:
            best = narrowest_wilson_width(self.target)
            if best >= rule.pass_rate_ci_width:
                problems.append(
                    f"stop_when.pass_rate_ci_width {rule.pass_rate_ci_width:g} can never be met: "
                    f"at target={self.target} samples the narrowest 95% Wilson interval (all "
                    f"passed or all failed) is {best:.3f} wide; it needs target >= "
                    f"{samples_needed(rule.pass_rate_ci_width)}")
        if rule is not None and rule.recovery_median_ci_width_s is not None and (
            self.min_samples < MIN_RECOVERY_SAMPLES
        ):
            problems.append(f"stop_when.recovery_median_ci_width_s needs min_trials >= "
                            f"{MIN_RECOVERY_SAMPLES} (a bootstrap interval of fewer recovery "
                            f"times says nothing); it is {self.min_samples}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def cell_samples(cfg: CampaignConfig, chaos: ChaosSpec | None) -> Samples | None:
    """The sampling of a cell of fault entry `chaos` (None: a baseline, or not sampled)."""
    if cfg.samples is None or chaos is None:
        return None
    return chaos.samples or cfg.samples
