"""What a full data disk means to etcd (chaos_eval.subject.DiskFullAware, mixed into EtcdSubject):
each target's member id, what a member says about itself through its v3 JSON gateway, and
the NOSPACE alarms a fill may raise (recorded before the fault, disarmed after it).

etcd 3.4 does not raise its NOSPACE alarm on a full disk (that alarm is its own quota); its
backend fails a write with ENOSPC and the process exits (`mvcc/backend: cannot commit tx
...: no space left on device`), so what a member did is recorded, not required. Alarm
requests go through the first member that answers (POST /v3/maintenance/alarm), in name
order, each at its port as published now; only alarms of the fault's making (NOSPACE of a
target, not armed before) are ever DEACTIVATEd.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from chaos_eval.errors import CleanupError, ParameterError
from chaos_eval.http_client import http_client
from chaos_eval.subject import Endpoint, Node
from chaos_eval.subjects.etcd.gateway import STATUS_PATH

log = logging.getLogger(__name__)

ALARM_PATH = "/v3/maintenance/alarm"
PROBE_TIMEOUT_S = 1.0  # one gateway request of these observations

Alarm = tuple[int, str]  # (member id, alarm type)

# -- the maintenance API's bodies (pure) ------------------------------------------------------


def alarm_body(action: str, member_id: int | None = None, alarm: str | None = None) \
        -> dict[str, object]:
    """A /v3/maintenance/alarm request (uint64 as JSON strings, enums by name)."""
    if action not in ("GET", "ACTIVATE", "DEACTIVATE"):
        raise ParameterError(f"not an alarm action: {action!r}")
    body: dict[str, object] = {"action": action}
    if member_id is not None:
        body["memberID"] = str(int(member_id))
    if alarm is not None:
        if alarm not in ("NOSPACE", "CORRUPT"):
            raise ParameterError(f"not an alarm type: {alarm!r}")
        body["alarm"] = alarm
    return body


def parse_alarms(doc: Mapping[str, Any]) -> tuple[Alarm, ...]:
    """(member id, alarm) pairs of an alarm response. An absent list means none."""
    out = []
    for a in doc.get("alarms") or []:
        if isinstance(a, dict):
            out.append((int(a.get("memberID", 0)), str(a.get("alarm", "NONE"))))
    return tuple(sorted(out))


def new_nospace(
    alarms: Iterable[Alarm], ours: Collection[int], before: Iterable[Alarm] | None
) -> list[Alarm]:
    """The NOSPACE alarms of members in `ours` that were not armed `before`. Pure."""
    armed_before = set(before or ())
    return [(m, a) for m, a in alarms
            if a == "NOSPACE" and m in ours and (m, a) not in armed_before]


def member_id_of(status: Mapping[str, Any]) -> int | None:
    header = status.get("header")
    try:
        return int(header["member_id"]) if isinstance(header, dict) else None
    except (KeyError, TypeError, ValueError):
        return None


# -- the hook ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NospaceBaseline:
    """What `disk_fill_baseline` records: the targets' member ids (those that answered) and
    the alarms armed before the fill (None: no member answered)."""

    member_ids: frozenset[int]
    alarms_before: tuple[Alarm, ...] | None


class _Cluster(Protocol):
    async def nodes(self) -> tuple[Node, ...]: ...


async def _post(url: str, body: Mapping[str, object]) -> dict[str, Any] | None:
    """POST a JSON body; the response document when it is a 200 with a JSON object, else
    None (no answer, an error status, or not JSON). Never raises."""
    try:
        async with http_client(PROBE_TIMEOUT_S) as c:
            resp = await c.post(url, content=json.dumps(body))
        doc = resp.json() if resp.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _client_url(node: Node) -> str | None:
    for ep in node.endpoints:
        if ep.name == "client":
            return ep.url
    return None


async def _alarm(cluster: _Cluster, body: Mapping[str, object]) -> dict[str, Any] | None:
    """POST an alarm request through the first member that answers; None if none."""
    for node in await cluster.nodes():
        url = _client_url(node)
        if url is None:  # a stopped member publishes nothing
            continue
        doc = await _post(url + ALARM_PATH, body)
        if doc is not None:  # `{}` when no alarm is armed
            return doc
    return None


class EtcdDiskFull:
    """chaos_eval.subject.DiskFullAware for a subject whose `nodes()` are etcd members."""

    async def disk_fill_baseline(self: _Cluster, targets: tuple[Node, ...]) -> object:
        """The targets' member ids and the alarms armed now (see DiskFullAware)."""
        now = {n.container_id: n for n in await self.nodes()}
        ids: set[int] = set()
        for target in targets:
            url = _client_url(now.get(target.container_id, target))
            member = member_id_of(await _post(url + STATUS_PATH, {}) or {}) if url else None
            if member is not None:
                ids.add(member)
        doc = await _alarm(self, alarm_body("GET"))
        return NospaceBaseline(frozenset(ids), parse_alarms(doc) if doc is not None else None)

    async def disk_fill_effects(self, node: Node, endpoint: Endpoint) -> dict[str, str]:
        """Whether the member's status answers, with any errors it reports (DiskFullAware)."""
        doc = await _post(endpoint.url + STATUS_PATH, {})
        rec = {"endpoint": "answered" if doc is not None else "no answer"}
        if doc and doc.get("errors"):
            rec["errors"] = json.dumps(doc["errors"])
        return rec

    async def after_disk_fill(self: _Cluster, baseline: object) -> None:
        """DEACTIVATE the targets' NOSPACE alarms not armed at `baseline` (DiskFullAware).
        CleanupError when one cannot be disarmed."""
        if not isinstance(baseline, NospaceBaseline) or not baseline.member_ids:
            return
        doc = await _alarm(self, alarm_body("GET"))
        if doc is None:
            log.info("disk_pressure: no member answered an alarm GET; verify_removed checks")
            return
        for mid, _ in new_nospace(parse_alarms(doc), baseline.member_ids,
                                  baseline.alarms_before):
            if await _alarm(self, alarm_body("DEACTIVATE", mid, "NOSPACE")) is None:
                raise CleanupError(f"could not disarm NOSPACE of member {mid:x}")
            log.info("disk_pressure: disarmed NOSPACE of member %x", mid)

    async def disk_fill_leftovers(self: _Cluster, baseline: object) -> tuple[str, ...]:
        """The targets' NOSPACE alarms armed now but not at `baseline` (DiskFullAware)."""
        if not isinstance(baseline, NospaceBaseline) or not baseline.member_ids:
            return ()
        doc = await _alarm(self, alarm_body("GET"))
        armed = new_nospace(parse_alarms(doc or {}), baseline.member_ids,
                            baseline.alarms_before)
        return (f"NOSPACE still armed for {[f'{m:x}' for m, _ in armed]}",) if armed else ()
