"""PD's HTTP API (/pd/api/v1), as pure functions: paths, response parsing, PD's error
bodies, and the judgement of a PD + TiKV cluster from those answers. No I/O here.

Shapes (PD v7): health is a JSON list of {name, member_id, client_urls, health}; leader is a
pdpb.Member {name, member_id, peer_urls, client_urls, ...}; stores is {count, stores: [{store:
{id, address, status_address, state_name, ...}, status: {leader_count, region_count, ...}}]};
each regions/check/* answer is {count, regions} (a bare list in old versions); region/key is
one region {id, start_key, end_key, peers: [{id, store_id, role_name}], leader: {id,
store_id, role_name}} (a leaderless region's leader is `{"role_name": "Voter"}`);
cluster/status is {raft_bootstrap_time, is_initialized, ...}; regions/replicated is a JSON
string REPLICATED | INPROGRESS | PENDING. Errors are a JSON string (`h.rd.JSON(w, 500,
err.Error())`), an errcode object {"code": ..., "msg": ...}, or plain text; before TiKV has
bootstrapped the cluster many endpoints answer 500 "TiKV cluster not bootstrapped, please
start TiKV first".
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

API = "/pd/api/v1"
HEALTH_PATH = f"{API}/health"
LEADER_PATH = f"{API}/leader"
STORES_PATH = f"{API}/stores"
CLUSTER_STATUS_PATH = f"{API}/cluster/status"
REPLICATED_PATH = f"{API}/regions/replicated?startKey=&endKey="
SCHEDULE_CONFIG_PATH = f"{API}/config/schedule"
REGION_CHECKS = ("miss-peer", "down-peer", "pending-peer")
NOT_BOOTSTRAPPED = "not bootstrapped"


def region_check_path(check: str) -> str:
    return f"{API}/regions/check/{check}"


def region_by_key_path(key: str) -> str:
    return f"{API}/region/key/{quote(key, safe='')}"


class PdParseError(ValueError):
    """A PD answer that is not the JSON shape PD documents."""


def _load(raw: str | bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as e:
        raise PdParseError(f"not JSON: {e}") from e


def _obj(doc: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(doc, dict):
        raise PdParseError(f"{what}: not a JSON object")
    return doc


def _int(doc: Mapping[str, Any], key: str, default: int | None = None) -> int:
    raw = doc.get(key, default)
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise PdParseError(f"{key}={raw!r} is not an integer")
    try:
        return int(raw)
    except ValueError:
        raise PdParseError(f"{key}={raw!r} is not an integer") from None


# -- PD members ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberHealth:
    name: str
    member_id: int
    healthy: bool


def parse_health(raw: str | bytes) -> tuple[MemberHealth, ...]:
    doc = _load(raw)
    if not isinstance(doc, list):
        raise PdParseError("health: not a JSON list")
    out = []
    for m in doc:
        m = _obj(m, "health entry")
        out.append(MemberHealth(str(m.get("name", "")), _int(m, "member_id", 0),
                                m.get("health") is True))
    return tuple(out)


def parse_leader(raw: str | bytes) -> str:
    """The PD leader's member name."""
    doc = _obj(_load(raw), "leader")
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise PdParseError("leader without a name")
    return name


# -- stores and regions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Store:
    id: int
    address: str  # as TiKV advertises it: tikv1:20160
    state_name: str  # Up | Disconnected | Down | Offline | Tombstone
    leader_count: int = 0
    region_count: int = 0

    @property
    def host(self) -> str:
        return self.address.rsplit(":", 1)[0]


def parse_stores(raw: str | bytes) -> tuple[Store, ...]:
    doc = _obj(_load(raw), "stores")
    stores = doc.get("stores") or []
    if not isinstance(stores, list):
        raise PdParseError("stores.stores is not a list")
    out = []
    for entry in stores:
        entry = _obj(entry, "stores entry")
        meta = _obj(entry.get("store"), "store")
        raw_status = entry.get("status")
        status: Mapping[str, Any] = raw_status if isinstance(raw_status, dict) else {}
        out.append(Store(
            id=_int(meta, "id"),
            address=str(meta.get("address", "")),
            state_name=str(meta.get("state_name", "")),
            leader_count=_int(status, "leader_count", 0),
            region_count=_int(status, "region_count", 0),
        ))
    return tuple(sorted(out, key=lambda s: s.id))


def parse_region_check(raw: str | bytes) -> int:
    """How many regions a regions/check/* answer lists."""
    doc = _load(raw)
    if isinstance(doc, list):
        return len(doc)
    doc = _obj(doc, "region check")
    regions = doc.get("regions") or []
    if not isinstance(regions, list):
        raise PdParseError("regions is not a list")
    return _int(doc, "count", len(regions))


@dataclass(frozen=True)
class Region:
    id: int
    leader_store: int | None  # None while the region has no leader
    stores: tuple[int, ...]  # stores holding a peer


def parse_region(raw: str | bytes) -> Region | None:
    """region/key/{key}: the region, or None when PD knows none (JSON null, or no id)."""
    doc = _load(raw)
    if doc is None:
        return None
    doc = _obj(doc, "region")
    if not doc.get("id"):
        return None
    raw_leader = doc.get("leader")
    leader: Mapping[str, Any] = raw_leader if isinstance(raw_leader, dict) else {}
    store = leader.get("store_id")
    peers = doc.get("peers") or []
    if not isinstance(peers, list):
        raise PdParseError("peers is not a list")
    return Region(
        id=_int(doc, "id"),
        leader_store=int(store) if isinstance(store, int | str) and str(store).isdigit()
        and int(store) else None,
        stores=tuple(sorted(_int(_obj(p, "peer"), "store_id", 0) for p in peers)),
    )


def parse_cluster_initialized(raw: str | bytes) -> bool:
    return _obj(_load(raw), "cluster status").get("is_initialized") is True


def parse_replicated(raw: str | bytes) -> str:
    doc = _load(raw)
    if not isinstance(doc, str):
        raise PdParseError("replicated: not a JSON string")
    return doc


def pd_error(status: int, raw: str | bytes) -> str:
    """One line saying what PD's error answer says."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        doc = json.loads(text)
    except ValueError:
        doc = text
    if isinstance(doc, dict):
        doc = doc.get("msg") or doc.get("message") or doc.get("error") or json.dumps(doc)
    msg = str(doc).strip()
    if NOT_BOOTSTRAPPED in msg:
        return "cluster not bootstrapped yet (no TiKV has registered)"
    return f"http {status}: {msg[:160]}"


# -- judging the cluster ---------------------------------------------------------------------------


def pd_reasons(health: Sequence[MemberHealth], want: Sequence[str], leader: str | None
               ) -> list[str]:
    """Why PD is not all members healthy with a leader among them (empty when it is)."""
    reasons = []
    seen = {m.name: m for m in health}
    for name in want:
        if name not in seen:
            reasons.append(f"{name}: not a PD member")
        elif not seen[name].healthy:
            reasons.append(f"{name}: PD reports it unhealthy")
    if leader is None:
        reasons.append("PD has no leader")
    elif leader not in want:
        reasons.append(f"PD leader {leader} is not one of ours")
    return reasons


def store_reasons(stores: Sequence[Store], want: Sequence[str]) -> list[str]:
    """Why the stores are not exactly `want` (hostnames), each Up (empty when they are)."""
    reasons = []
    by_host = {s.host: s for s in stores if s.state_name != "Tombstone"}
    for name in want:
        store = by_host.get(name)
        if store is None:
            reasons.append(f"{name}: no store registered")
        elif store.state_name != "Up":
            reasons.append(f"{name}: store {store.id} is {store.state_name}")
    extra = sorted(set(by_host) - set(want))
    if extra:
        reasons.append(f"stores not of this cluster: {extra}")
    return reasons


def store_of(stores: Sequence[Store], store_id: int | None) -> Store | None:
    return next((s for s in stores if s.id == store_id), None)
