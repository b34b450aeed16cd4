"""Asking PD over HTTP (paths and parsers: subjects/tikv/pd_api.py): the first PD member
that answers a request, an answer read into a value or a reason it could not be, and the
store leading the region of a key."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import httpx

from chaos_eval.subject import Node
from chaos_eval.subjects.tikv import pd_api

T = TypeVar("T")


async def pd_request(http: httpx.AsyncClient, nodes: tuple[Node, ...], path: str,
                     *, method: str = "GET", body: object = None) -> tuple[bytes | None, str]:
    """The first 200 answer to `path` from any PD, or None and why none came."""
    why = "no PD publishes a port"
    for node in nodes:
        if node.role != "pd" or not node.endpoints:
            continue
        try:
            resp = await http.request(method, node.endpoints[0].url + path, json=body)
        except httpx.HTTPError as e:
            why = f"{node.name}: {type(e).__name__}"
            continue
        if resp.status_code == 200:
            return resp.content, ""
        why = pd_api.pd_error(resp.status_code, resp.content)
    return None, why


async def region_leader(http: httpx.AsyncClient, nodes: tuple[Node, ...],
                        stores: tuple[pd_api.Store, ...], key: str) -> str | None:
    """The host of the store leading the region that holds `key`, or None."""
    raw, _ = await pd_request(http, nodes, pd_api.region_by_key_path(key))
    try:
        region = pd_api.parse_region(raw) if raw is not None else None
    except pd_api.PdParseError:
        return None
    store = pd_api.store_of(stores, region.leader_store if region else None)
    return store.host if store else None


def parsed(parse: Callable[[bytes], T], raw: bytes | None, why: str, what: str,
           reasons: list[str]) -> T | None:
    """parse(raw), or None with a reason saying what could not be read and why."""
    if raw is None:
        reasons.append(f"{what}: {why}")
        return None
    try:
        return parse(raw)
    except pd_api.PdParseError as e:
        reasons.append(f"{what}: bad answer: {e}")
        return None


def quiet(parse: Callable[[bytes], T], raw: bytes | None) -> T | None:
    """parse(raw), or None when there is no answer or it does not parse."""
    if raw is None:
        return None
    try:
        return parse(raw)
    except pd_api.PdParseError:
        return None
