"""The store's records: what eval.db holds, as frozen values, and the rows they are read from.

The SQL lives in the store's parts (eval/store/campaigns.py, trials.py, ops.py, ledger.py,
leases.py, events.py). `OpRecord` is what the store needs of a client operation: any value
with those fields (the workload's `Op`) is recorded as it is; ops are read back as `OpRow`.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Protocol

from chaos_eval.outcomes import CampaignStatus, LedgerState, OpOutcome, TrialPhase, TrialStatus


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


def trial_label(t: TrialRow) -> str:
    """`subject / fault (k=v,...) #repetition`, as the progress lines and tables name a trial."""
    params = ",".join(f"{k}={v}" for k, v in sorted(t.params_dict.items()))
    return f"{t.subject} / {t.fault}" + (f" ({params})" if params else "") + f" #{t.repetition}"


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


class OpRecord(Protocol):
    """What the store records of one client operation (structural: the workload's `Op`
    has these fields); times are seconds since the trial's epoch."""

    @property
    def kind(self) -> str: ...
    @property
    def node(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def outcome(self) -> OpOutcome: ...
    @property
    def error(self) -> str: ...


@dataclass(frozen=True)
class OpRow:
    """One recorded client operation, as read back (the fields of `OpRecord`)."""

    kind: str
    node: str
    key: str
    start: float
    end: float
    outcome: OpOutcome
    error: str = ""


# -- rows to records --------------------------------------------------------------------------


def campaign_row(r: sqlite3.Row) -> CampaignRow:
    d = dict(r)
    d["status"] = CampaignStatus(d["status"])
    return CampaignRow(**d)


def trial_row(r: sqlite3.Row) -> TrialRow:
    d = dict(r)
    d["status"] = TrialStatus(d["status"])
    d["phase"] = TrialPhase(d["phase"]) if d["phase"] else None
    return TrialRow(**d)


def ledger_row(r: sqlite3.Row) -> LedgerRow:
    d = dict(r)
    d["state"] = LedgerState(d["state"])
    return LedgerRow(**d)
