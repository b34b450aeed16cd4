"""The campaign's `drift:` section: when a running campaign raises a drift alarm.

- `failure_rate`: the share of `failed` among the campaign's passed + failed trials above
  which the campaign is drifting (the subject, or the environment, changed under it), once at
  least `min_trials` trials have a verdict.
- `stuck_trial_s`: a running trial whose phase has not advanced for this long is stuck. Unset,
  it is twice the longest configured phase (chaos_eval.spec.config.Timing) plus a minute: no
  phase of a healthy trial waits that long.

A campaign that leaves `drift:` out records no `drift` key in its spec, so specs written
before this section existed keep their spec hash (and so their trial keys).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_FAILURE_RATE = 0.4
DEFAULT_MIN_TRIALS = 5
STUCK_MARGIN_S = 60.0


class Drift(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    failure_rate: float = Field(default=DEFAULT_FAILURE_RATE, gt=0, le=1)
    min_trials: int = Field(default=DEFAULT_MIN_TRIALS, ge=1, le=100000)
    stuck_trial_s: float | None = Field(default=None, gt=0, le=7 * 86400)

    def stuck_after_s(self, longest_phase_s: float) -> float:
        """How long a phase may last before its trial is stuck."""
        if self.stuck_trial_s is not None:
            return self.stuck_trial_s
        return 2 * longest_phase_s + STUCK_MARGIN_S
