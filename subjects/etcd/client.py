"""EtcdKVClient: chaos_eval.workload.KVClient (and register.CasClient, workload.BatchReadClient)
over one member's v3 JSON gateway (httpx).

Two things make a member's address move under a client, and both are handled here:
- the published host port is ephemeral and changes when the member is restarted, so after
  a refused connection the client asks `resolve()` for the current URL (rate-limited);
- a port freed by a dead member can be taken by another trial's container, so every
  answer must carry our cluster id; an answer from a foreign cluster counts as FAIL.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx

from chaos_eval.http_client import http_client
from chaos_eval.outcomes import OpOutcome
from chaos_eval.register import MISMATCH
from chaos_eval.subjects.etcd.batch_read import (
    PAGE_LIMIT,
    key_after,
    key_span,
    page_body,
    parse_page,
)
from chaos_eval.subjects.etcd.gateway import (
    PUT_PATH,
    RANGE_PATH,
    TXN_PATH,
    GatewayParseError,
    cas_body,
    classify_error,
    parse_range_value,
    parse_txn_succeeded,
    put_body,
    range_body,
    response_cluster_id,
)
from chaos_eval.workload import BatchReadResult, ReadResult

log = logging.getLogger(__name__)

Resolver = Callable[[], Awaitable[str | None]]  # -> current base URL, None if unknown
RESOLVE_EVERY_S = 0.5


def classify_exception(exc: httpx.HTTPError, *, write: bool) -> tuple[OpOutcome, str]:
    """Outcome of a request that got no HTTP response. Nothing left us before the
    connection was up (refused, connect timeout, pool timeout): FAIL. Once the request may
    have been sent, a write is UNKNOWN. Reads are always FAIL."""
    cls: str
    sent = True
    if isinstance(exc, httpx.ConnectTimeout):
        cls, sent = "connect_timeout", False
    elif isinstance(exc, httpx.PoolTimeout):
        cls, sent = "pool_timeout", False
    elif isinstance(exc, httpx.ConnectError):
        cls, sent = "refused", False
    elif isinstance(exc, httpx.TimeoutException):
        cls = "timeout"
    elif isinstance(exc, httpx.ReadError | httpx.WriteError | httpx.RemoteProtocolError):
        cls = "reset"
    else:
        cls = "transport"
    if write and sent:
        return OpOutcome.UNKNOWN, cls
    return OpOutcome.FAIL, cls


class EtcdKVClient:
    """A KVClient bound to one member. Never raises for a failed operation."""

    def __init__(
        self,
        base_url: str | None,
        timeout_s: float,
        *,
        resolve: Resolver | None = None,
        cluster_id: int | None = None,
    ) -> None:
        self._url = base_url
        self._resolve = resolve
        self._cluster_id = cluster_id
        self._last_resolve = float("-inf")
        self._http = http_client(timeout_s)
        self.page_limit = PAGE_LIMIT  # keys a page of `get_many` (tests page smaller)

    @property
    def base_url(self) -> str | None:
        return self._url

    async def _refresh(self) -> None:
        now = time.monotonic()
        if self._resolve is None or now - self._last_resolve < RESOLVE_EVERY_S:
            return
        self._last_resolve = now
        try:
            url = await self._resolve()
        except Exception as e:  # a resolver failure must not escape a KV operation
            log.debug("resolve failed: %s", e)
            return
        if url != self._url:
            log.debug("member moved: %s -> %s", self._url, url)
            self._url = url

    async def _post(self, path: str, body: dict[str, Any], *, write: bool) -> tuple[
        OpOutcome, str, bytes
    ]:
        if self._url is None:
            await self._refresh()
            if self._url is None:
                return OpOutcome.FAIL, "refused", b""  # member down: no port published
        try:
            resp = await self._http.post(self._url + path, json=body)
        except httpx.HTTPError as e:
            outcome, cls = classify_exception(e, write=write)
            if cls == "refused":
                await self._refresh()
            return outcome, cls, b""
        if resp.status_code != 200:
            outcome, cls = classify_error(resp.status_code, resp.content, write=write)
            return outcome, cls, b""
        cid = response_cluster_id(resp.content)
        if cid is None:
            return (OpOutcome.UNKNOWN if write else OpOutcome.FAIL), "bad_response", b""
        if self._cluster_id is None:
            self._cluster_id = cid
        elif cid != self._cluster_id:  # a foreign cluster now owns this port
            await self._refresh()
            return OpOutcome.FAIL, "wrong_cluster", b""
        return OpOutcome.OK, "", resp.content

    async def put(self, key: str, value: str) -> tuple[OpOutcome, str]:
        outcome, cls, _ = await self._post(PUT_PATH, put_body(key, value), write=True)
        return outcome, cls

    async def get(self, key: str, *, linearizable: bool = True) -> ReadResult:
        body = range_body(key, linearizable=linearizable)
        outcome, cls, raw = await self._post(RANGE_PATH, body, write=False)
        if outcome != OpOutcome.OK:
            return ReadResult(outcome, None, cls)
        try:
            return ReadResult(OpOutcome.OK, parse_range_value(raw, key))
        except GatewayParseError:
            return ReadResult(OpOutcome.FAIL, None, "bad_response")

    async def get_many(self, keys: Sequence[str]) -> BatchReadResult:
        """chaos_eval.workload.BatchReadClient: one linearizable range over the keys' span,
        paged, every page after the first pinned to the first page's revision (see
        subjects/etcd/batch_read.py for why that is one linearizable read of every key).
        Any page that fails, or does not parse, fails the whole batch."""
        if not keys:
            return BatchReadResult(OpOutcome.OK)
        start, end = key_span(keys)
        found: dict[str, str] = {}
        revision = 0
        while True:
            body = page_body(start, end, revision=revision, limit=self.page_limit)
            outcome, cls, raw = await self._post(RANGE_PATH, body, write=False)
            if outcome != OpOutcome.OK:
                return BatchReadResult(outcome, error=cls)
            try:
                page = parse_page(raw, start, end)
            except GatewayParseError:
                return BatchReadResult(OpOutcome.FAIL, error="bad_response")
            revision = revision or page.revision
            found.update(page.kvs)
            if not page.more:
                return BatchReadResult(OpOutcome.OK, {k: found.get(k) for k in keys})
            start = key_after(page.kvs[-1][0])

    async def cas(self, key: str, expected: str | None, value: str) -> tuple[OpOutcome, str]:
        """chaos_eval.register.CasClient: one transaction (compare value, then put)."""
        outcome, cls, raw = await self._post(TXN_PATH, cas_body(key, expected, value), write=True)
        if outcome != OpOutcome.OK:
            return outcome, cls
        try:
            swapped = parse_txn_succeeded(raw)
        except GatewayParseError:
            return OpOutcome.UNKNOWN, "bad_response"
        return (OpOutcome.OK, "") if swapped else (OpOutcome.FAIL, MISMATCH)

    async def aclose(self) -> None:
        await self._http.aclose()
