"""The store's records: what eval.db holds, as frozen values (the SQL lives in store.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from eval.outcomes import CampaignStatus, LedgerState, TrialPhase, TrialStatus


@dataclass(frozen=True)
class CampaignRow:
    id: int
    uid: str  # the chaos-eval.campaign label value: unique across databases
    name: str
    spec_hash: str
    spec_json: str
    config_path: str
    status: CampaignStatus
    reason: str
    seed: int
    harness_version: str
    git_sha: str
    argv: str
    created_at: float
    updated_at: float
    finished_at: float | None
    lease_token: str | None
    lease_pid: int | None
    lease_host: str | None
    lease_heartbeat: float | None
    rerun_of: int | None  # the campaign one of whose trials this one re-runs (`rerun`)


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
class TrialRow:
    id: int
    campaign_id: int
    key: str
    ordinal: int
    subject: str
    subject_type: str
    fault: str
    params: str
    target: str
    repetition: int
    seed: int
    status: TrialStatus
    phase: TrialPhase | None
    attempts: int
    started_at: float | None
    finished_at: float | None
    targets: str
    recovery_s: float | None
    measurements: str
    proof: str
    reasons: str
    error: str

    @property
    def params_dict(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.params)
        return loaded

    @property
    def reasons_list(self) -> list[str]:
        return [str(r) for r in json.loads(self.reasons)]

    @property
    def measurements_dict(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.measurements)
        return loaded


@dataclass(frozen=True)
class LedgerRow:
    id: int
    campaign_id: int
    trial_id: int
    kind: str
    description: str
    targets: str
    undo: str
    state: LedgerState
    opened_at: float
    closed_at: float | None


@dataclass(frozen=True)
class EventRow:
    id: int
    campaign_id: int | None
    trial_id: int | None
    at: float
    kind: str
    detail: str
