"""What one trial is to do (`TrialPlan`, made by the campaign scheduler from the matrix), and
what every trial of one campaign run shares (`RunControl`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chaos_eval.spec.config import SLO, ChaosSpec, Scalar, SubjectSpec, Timing
from chaos_eval.spec.workloads import WorkloadSpec


@dataclass(frozen=True)
class TrialPlan:
    trial_id: int
    campaign_id: int
    campaign_uid: str
    key: str
    seed: int
    subject: SubjectSpec
    chaos: ChaosSpec | None  # None: a baseline trial
    params: Mapping[str, Scalar]
    timing: Timing
    workload: WorkloadSpec
    slo: SLO


@dataclass
class RunControl:
    """Shared by the trials of one campaign run."""

    hurry: bool = False  # a second Ctrl-C: skip cluster teardown (faults are still removed)
