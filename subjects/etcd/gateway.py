"""etcd's v3 JSON gateway, as pure functions: request bodies, response parsing, and the
mapping from an error to an operation outcome.

The gateway speaks POST with JSON bodies; keys and values are base64; 64-bit numbers
(member ids, revisions, terms) arrive as JSON strings. Errors come back as
`{"error": "...", "message": "...", "code": <gRPC code>}` with an HTTP status mapped from
the gRPC code (e.g. 503 for Unavailable, 500 for Unknown).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chaos_eval.outcomes import OpOutcome

STATUS_PATH = "/v3/maintenance/status"
MEMBERS_PATH = "/v3/cluster/member/list"
PUT_PATH = "/v3/kv/put"
RANGE_PATH = "/v3/kv/range"
TXN_PATH = "/v3/kv/txn"


class GatewayParseError(ValueError):
    """A response that is not the JSON shape the gateway documents."""


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def unb64(text: str) -> str:
    return base64.b64decode(text).decode("utf-8", "replace")


def put_body(key: str, value: str) -> dict[str, str]:
    return {"key": b64(key), "value": b64(value)}


def range_body(key: str, *, linearizable: bool) -> dict[str, object]:
    return {"key": b64(key), "serializable": not linearizable}


def cas_body(key: str, expected: str | None, value: str) -> dict[str, object]:
    """A transaction: if `key` holds `expected` (None: the key was never created) then put
    `value`; else nothing."""
    compare: dict[str, str] = {"key": b64(key), "result": "EQUAL"}
    if expected is None:
        compare |= {"target": "CREATE", "create_revision": "0"}
    else:
        compare |= {"target": "VALUE", "value": b64(expected)}
    return {"compare": [compare], "success": [{"request_put": put_body(key, value)}]}


def parse_txn_succeeded(raw: str | bytes) -> bool:
    """Whether a /v3/kv/txn response took its success branch (`succeeded` is omitted when
    false, as proto3 JSON omits defaults)."""
    doc = load_object(raw)
    if not isinstance(doc.get("header"), dict):
        raise GatewayParseError("txn response without header")
    return doc.get("succeeded") is True


def load_object(raw: str | bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except ValueError as e:
        raise GatewayParseError(f"not JSON: {e}") from e
    if not isinstance(doc, dict):
        raise GatewayParseError("not a JSON object")
    return doc


def _int(doc: Mapping[str, Any], key: str) -> int:
    raw = doc.get(key, "0")
    try:
        return int(raw)
    except (TypeError, ValueError) as e:
        raise GatewayParseError(f"{key}={raw!r} is not an integer") from e


@dataclass(frozen=True)
class MemberStatus:
    """One member's own view, from /v3/maintenance/status."""

    cluster_id: int
    member_id: int
    leader: int  # 0: this member knows no leader
    raft_term: int
    raft_index: int
    applied_index: int
    revision: int
    db_size: int
    version: str
    errors: tuple[str, ...]  # e.g. ("etcdserver: no leader",)

    def summary(self) -> dict[str, object]:
        return {
            "member_id": str(self.member_id),
            "leader": str(self.leader),
            "raft_term": self.raft_term,
            "raft_index": self.raft_index,
            "applied_index": self.applied_index,
            "revision": self.revision,
            "db_size": self.db_size,
            "version": self.version,
            "errors": list(self.errors),
        }


def parse_status(raw: str | bytes) -> MemberStatus:
    doc = load_object(raw)
    header = doc.get("header")
    if not isinstance(header, dict) or "member_id" not in header:
        raise GatewayParseError("status without header.member_id")
    errors = doc.get("errors") or []
    return MemberStatus(
        cluster_id=_int(header, "cluster_id"),
        member_id=_int(header, "member_id"),
        leader=_int(doc, "leader"),
        raft_term=_int(doc, "raftTerm"),
        raft_index=_int(doc, "raftIndex"),
        applied_index=_int(doc, "raftAppliedIndex"),
        revision=_int(header, "revision"),
        db_size=_int(doc, "dbSize"),
        version=str(doc.get("version", "")),
        errors=tuple(str(e) for e in errors) if isinstance(errors, list) else (str(errors),),
    )


def parse_members(raw: str | bytes) -> dict[int, str]:
    """/v3/cluster/member/list -> {member id: name}. A member not started yet has no name
    (""), so it is listed under its id."""
    doc = load_object(raw)
    members = doc.get("members")
    if not isinstance(members, list):
        raise GatewayParseError("member list without members")
    out: dict[int, str] = {}
    for m in members:
        if not isinstance(m, dict):
            raise GatewayParseError("member entry is not an object")
        mid = _int(m, "ID")
        out[mid] = str(m.get("name") or mid)
    return out


def response_cluster_id(raw: str | bytes) -> int | None:
    """header.cluster_id of any successful response, or None if there is none."""
    try:
        header = load_object(raw).get("header")
    except GatewayParseError:
        return None
    if not isinstance(header, dict) or "cluster_id" not in header:
        return None
    try:
        return int(header["cluster_id"])
    except (TypeError, ValueError):
        return None


def parse_range_value(raw: str | bytes, key: str) -> str | None:
    """The value of `key` in a /v3/kv/range response, or None when it is absent."""
    doc = load_object(raw)
    if not isinstance(doc.get("header"), dict):
        raise GatewayParseError("range response without header")
    kvs = doc.get("kvs") or []
    if not isinstance(kvs, list):
        raise GatewayParseError("kvs is not a list")
    for kv in kvs:
        if isinstance(kv, dict) and unb64(str(kv.get("key", ""))) == key:
            return unb64(str(kv.get("value", "")))  # an empty value is omitted: ""
    return None


# -- errors -> outcomes ---------------------------------------------------------------------

# (substring of the gateway's error text, short error class, definite?) in match order.
# Definite: etcd rejected the request before proposing it, so a write did not happen.
# Not definite: the proposal may have been committed (a timeout, a leader change, a stop).
_GATEWAY_ERRORS: tuple[tuple[str, str, bool], ...] = (
    ("timed out waiting for read index", "read_index_timeout", False),
    ("request timed out", "server_timeout", False),
    ("context deadline exceeded", "deadline", False),
    ("context canceled", "canceled", False),
    ("leader changed", "leader_changed", False),
    ("server stopped", "stopped", False),
    ("no leader", "no_leader", True),
    ("proposal dropped", "proposal_dropped", True),
    ("too many requests", "too_many_requests", True),
    ("database space exceeded", "no_space", True),
    ("request is too large", "too_large", True),
    ("not capable", "not_capable", True),
    ("unhealthy cluster", "unhealthy_cluster", True),
    ("corrupt", "corrupt", True),
    ("permission denied", "auth", True),
    ("invalid auth token", "auth", True),
    ("authentication failed", "auth", True),
    ("key is not provided", "bad_request", True),
)

# gRPC status codes that mean "rejected, nothing changed".
_DEFINITE_CODES = {3: "bad_request", 5: "not_found", 6: "exists", 7: "auth", 8: "exhausted",
                   9: "precondition", 11: "out_of_range", 12: "unimplemented",
                   16: "auth"}


def classify_error(status: int, body: str | bytes, *, write: bool) -> tuple[OpOutcome, str]:
    """Outcome and short error class of a non-200 gateway response. Reads have no side
    effects, so a failed read is always FAIL; a write is FAIL only when the error proves
    etcd never proposed it, and UNKNOWN otherwise (including errors we do not recognise)."""
    text, code = "", None
    try:
        doc = load_object(body)
        text = str(doc.get("error") or doc.get("message") or "")
        code = doc.get("code") if isinstance(doc.get("code"), int) else None
    except GatewayParseError:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    lowered = text.lower()
    match = next((m for m in _GATEWAY_ERRORS if m[0] in lowered), None)
    if match is not None:
        _, cls, definite = match
    elif code in _DEFINITE_CODES:
        cls, definite = _DEFINITE_CODES[code], True
    else:
        cls, definite = f"http_{status}", False
    if not write or definite:
        return OpOutcome.FAIL, cls
    return OpOutcome.UNKNOWN, cls
