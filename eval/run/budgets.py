"""The time limits of a trial's clean-up, computed in ONE place so they nest by construction.

Every bounded step of removing a fault gets `step_s` (the campaign's cleanup_timeout_s):
cleanup_chaos, the undo-plan fallback, verify_removed, the snapshot comparison; and
tearing the cluster down. The shield around the removal allows the sum of its steps plus a
margin, so an inner limit always fires before the outer one; writing the result (the ledger
row, the trial record) is outside the removal's limit, with its own `RECORD_S`, so it is
never skipped because the removal overran.
"""

from __future__ import annotations

from dataclasses import dataclass

RECORD_S = 30.0  # one store write (close the ledger row, write the trial record)
REMOVAL_STEPS = 4  # cleanup_chaos, undo fallback, verify_removed, snapshot comparison
MARGIN_S = 5.0  # what the removal does between its bounded steps (metrics, log lines)


@dataclass(frozen=True)
class CleanupBudget:
    step_s: float  # each bounded step

    @property
    def removal_s(self) -> float:
        """The removal as a whole: every bounded step in sequence, plus a margin."""
        return REMOVAL_STEPS * self.step_s + MARGIN_S

    @property
    def finish_s(self) -> float:
        """The trial's end: workload stop, teardown (one step), the final record."""
        return self.step_s + RECORD_S + MARGIN_S
