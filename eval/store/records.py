"""The store's records: what eval.db holds, as frozen values, and the rows they are read from.

The SQL lives in the store's parts (eval/store/campaigns.py, trials.py, ops.py, ledger.py,
leases.py, events.py). `OpRecord` is what the store needs of a client operation: any value
with those fields (the workload's `Op`) is recorded as it is; ops are read back as `OpRow`.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from dataclasses import dataclass
from enum import StrEnum
from types import UnionType
from typing import Any, Protocol, TypeVar, get_args, get_type_hints

from chaos_eval.errors import StoreCorrupt
from chaos_eval.outcomes import CampaignStatus, LedgerState, OpOutcome, TrialPhase, TrialStatus

R = TypeVar("R")


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
    shard: str | None = None  # `I/N` when this db runs one shard of the campaign (`--shard`)


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
    shard: str | None = None  # the shard (`I/N`) that ran it, in a shard's or a merged db
    host: str = ""  # the host that last started it

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


class Labelled(Protocol):
    """What a trial's label is made of (a TrialRow, or analysis's brief of one)."""

    @property
    def subject(self) -> str: ...
    @property
    def fault(self) -> str: ...
    @property
    def params_dict(self) -> dict[str, Any]: ...
    @property
    def repetition(self) -> int: ...


def trial_label(t: Labelled) -> str:
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


# -- rows to records: the store boundary ----------------------------------------------------
# Every row read is checked against its record before anything uses it: a value of the wrong
# type, an enum value this version does not know, or a JSON column that does not parse to
# what it should is a StoreCorrupt naming the table, the row and the column (the connection
# adds the file). Extra columns are ignored; missing ones are refused when the db is opened.

# table -> JSON column -> the type its text must parse to
JSON_COLUMNS: dict[str, dict[str, type]] = {
    "campaigns": {"spec_json": dict, "argv": list},
    "trials": {"params": dict, "targets": list, "measurements": dict, "proof": dict,
               "reasons": list},
    "fault_ledger": {"targets": list},
}  # fmt: skip


def _corrupt(table: str, rid: object, column: str, reason: str) -> StoreCorrupt:
    return StoreCorrupt(f"table {table}, row {rid}: column {column}: {reason}")


def _check(table: str, rid: object, column: str, value: object, kinds: tuple[type, ...]) -> object:
    if value is None:
        if type(None) in kinds:
            return None
        raise _corrupt(table, rid, column, "is NULL")
    for kind in kinds:
        if isinstance(kind, type) and issubclass(kind, StrEnum):
            if isinstance(value, str) and value in kind._value2member_map_:
                return kind(value)
            known = ", ".join(m.value for m in kind)
            raise _corrupt(table, rid, column, f"unknown value {value!r} (known: {known})")
        if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind is str and isinstance(value, str):
            return value
    want = " or ".join(k.__name__ for k in kinds if k is not type(None))
    raise _corrupt(table, rid, column, f"{value!r} is not {want}")


Fields = tuple[tuple[str, tuple[type, ...]], ...]  # (column, the types its value may have)
_FIELDS: dict[type, Fields] = {}


def _fields(record: type) -> Fields:
    if record not in _FIELDS:
        hints = get_type_hints(record)
        kinds = {n: get_args(h) if isinstance(h, UnionType) else (h,) for n, h in hints.items()}
        _FIELDS[record] = tuple((f.name, kinds[f.name]) for f in dataclasses.fields(record))
    return _FIELDS[record]


def _record(record: type[R], table: str, r: sqlite3.Row) -> R:
    d = dict(r)
    rid = d.get("id", "?")
    values: dict[str, object] = {}
    for name, kinds in _fields(record):
        if name not in d:
            raise _corrupt(table, rid, name, "is missing")
        values[name] = _check(table, rid, name, d[name], kinds)
    for name, shape in JSON_COLUMNS.get(table, {}).items():
        try:
            parsed = json.loads(str(values[name]))
        except ValueError as e:
            raise _corrupt(table, rid, name, f"malformed JSON ({e})") from None
        if not isinstance(parsed, shape):
            got = type(parsed).__name__
            raise _corrupt(table, rid, name, f"JSON {got}, expected a {shape.__name__}")
    return record(**values)


def campaign_row(r: sqlite3.Row) -> CampaignRow:
    return _record(CampaignRow, "campaigns", r)


def trial_row(r: sqlite3.Row) -> TrialRow:
    return _record(TrialRow, "trials", r)


def ledger_row(r: sqlite3.Row) -> LedgerRow:
    return _record(LedgerRow, "fault_ledger", r)


def event_row(r: sqlite3.Row) -> EventRow:
    return _record(EventRow, "events", r)


def op_row(r: sqlite3.Row) -> OpRow:
    """An op; its row is named by the rowid the query selects `AS id`."""
    return _record(OpRow, "ops", r)
