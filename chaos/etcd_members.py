"""The cluster's etcd members as disk_pressure observes them, through their v3 JSON gateway:
each member's id, what a member did while its disk was full, and the NOSPACE alarms a fill
may raise (recorded before the fault, disarmed after it).

etcd 3.4 does not raise its NOSPACE alarm on a full disk (that alarm is its own quota); its
backend fails a write with ENOSPC and the process exits (`mvcc/backend: cannot commit tx
...: no space left on device`), so what a member did is recorded, not required. Alarm
requests go through the first member that answers (POST /v3/maintenance/alarm); only alarms
of the fault's making (NOSPACE of a target, not armed before) are ever DEACTIVATEd.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import httpx

from chaos.probes import EndpointTracker, probe_endpoint_of
from eval.engine.client import Docker
from eval.errors import CleanupError, ParameterError
from eval.subject import Node

log = logging.getLogger(__name__)

STATUS_PATH = "/v3/maintenance/status"
ALARM_PATH = "/v3/maintenance/alarm"
ENOSPC = "no space left on device"

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


def enospc_line(logs: str) -> str:
    """The last log line reporting ENOSPC, or ""."""
    hits = [ln.strip() for ln in logs.splitlines() if ENOSPC in ln]
    return hits[-1][:300] if hits else ""


# -- the members ------------------------------------------------------------------------------


class EtcdMembers:
    """The members of one cluster, each through its published client endpoint."""

    def __init__(self, docker: Docker, cluster: Sequence[Node], timeout_s: float) -> None:
        self._docker, self._timeout_s = docker, timeout_s
        self._trackers = [EndpointTracker(docker, n, ep) for n in cluster
                          if (ep := probe_endpoint_of(n)) is not None]
        self.alarms_before: tuple[Alarm, ...] | None = None  # None: no member answered

    async def _post(self, url: str, body: Mapping[str, object]) -> dict[str, Any] | None:
        try:
            async with httpx.AsyncClient(timeout=self._timeout_s, trust_env=False) as c:
                resp = await c.post(url, content=json.dumps(body))
            doc = resp.json() if resp.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None
        return doc if isinstance(doc, dict) else None

    async def _alarm(self, body: Mapping[str, object]) -> dict[str, Any] | None:
        """POST an alarm request through the first member that answers; None if none."""
        for tracker in self._trackers:
            ep = await tracker.current()
            if ep is None:
                continue
            doc = await self._post(ep.url + ALARM_PATH, body)
            if doc is not None:  # `{}` when no alarm is armed
                return doc
        return None

    async def member_id(self, tracker: EndpointTracker) -> int | None:
        """The id of the member behind `tracker`'s endpoint; None when it does not say."""
        ep = await tracker.current()
        doc = await self._post(ep.url + STATUS_PATH, {}) if ep else None
        return member_id_of(doc or {})

    async def state(self, node: Node, tracker: EndpointTracker) -> dict[str, str]:
        """What the member does now: container state (exit code and the ENOSPC log line when
        it is not running), and whether its endpoint answers, with any errors it reports."""
        info = await self._docker.inspect(node.container_id)
        rec = {"container": "gone" if info is None else info.status}
        if info is not None and not info.running:
            rec["exit_code"] = str(info.exit_code)
            line = enospc_line(await self._docker.logs(node.container_id))
            if line:
                rec["enospc"] = line
        ep = await tracker.current()
        if ep is None:
            rec["endpoint"] = "not published"
        else:
            doc = await self._post(ep.url + STATUS_PATH, {})
            rec["endpoint"] = "answered" if doc is not None else "no answer"
            if doc and doc.get("errors"):
                rec["errors"] = json.dumps(doc["errors"])
        return rec

    async def record_alarms(self) -> None:
        """Remember the alarms armed before the fault (`alarms_before`)."""
        doc = await self._alarm(alarm_body("GET"))
        self.alarms_before = parse_alarms(doc) if doc is not None else None

    async def disarm(self, ours: Collection[int]) -> None:
        """DEACTIVATE the NOSPACE alarms of members `ours` that were not armed before the
        fault. CleanupError when one cannot be disarmed."""
        if not ours:
            return
        doc = await self._alarm(alarm_body("GET"))
        if doc is None:
            log.info("disk_pressure: no member answered an alarm GET; verify_removed checks")
            return
        for mid, _ in new_nospace(parse_alarms(doc), ours, self.alarms_before):
            if await self._alarm(alarm_body("DEACTIVATE", mid, "NOSPACE")) is None:
                raise CleanupError(f"could not disarm NOSPACE of member {mid:x}")
            log.info("disk_pressure: disarmed NOSPACE of member %x", mid)

    async def armed(self, ours: Collection[int]) -> list[Alarm]:
        """The NOSPACE alarms of members `ours` armed now but not before the fault (none
        when no member answers)."""
        doc = await self._alarm(alarm_body("GET"))
        return new_nospace(parse_alarms(doc or {}), ours, self.alarms_before)
