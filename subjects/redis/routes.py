"""Where a Redis-with-Sentinel cluster's nodes are right now, for the subject's probes and
its workload clients: the port each node publishes on 127.0.0.1 (it changes when a
container restarts) and the primary the sentinels name. Each answer is reused for
ROUTE_CACHE_S, and forgotten at once when a client is refused (the node moved or died).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from chaos_eval.engine.client import Docker
from chaos_eval.subject import Node
from chaos_eval.subjects.redis.client import RespPool, RespTransportError, Route, Target
from chaos_eval.subjects.redis.params import SENTINELS
from chaos_eval.subjects.redis.resp import ErrorReply, RespProtocolError, parse_master_addr
from chaos_eval.subjects.redis.view import (
    REDIS_PORT,
    SENTINEL_PORT,
    SentinelView,
    agreed_primary,
    node_for_address,
)

MASTER = "mymaster"  # the name the sentinels monitor (compose/redis/sentinel.conf)
ROUTE_CACHE_S = 0.25  # how long a primary or a published port, once looked up, is reused


class RedisRouter:
    """Routes for one subject. `refresh` re-reads the subject's nodes (and calls `learn`)."""

    def __init__(self, docker: Docker, pool: RespPool, refresh: Callable[[], Awaitable[object]],
                 probe_timeout_s: float) -> None:
        self._docker, self._pool, self._refresh = docker, pool, refresh
        self._probe_timeout_s = probe_timeout_s
        self.nodes: tuple[Node, ...] = ()
        self._ids: dict[str, str] = {}  # service -> container id (stable for the trial)
        self._targets: dict[str, tuple[float, Target | str]] = {}
        self._primaries: dict[str | None, tuple[float, str | None]] = {}

    def learn(self, nodes: tuple[Node, ...]) -> None:
        self.nodes = nodes
        self._ids = {n.name: n.container_id for n in nodes}

    def forget(self) -> None:
        self._targets.clear()
        self._primaries.clear()

    async def target(self, name: str) -> Target | str:
        """127.0.0.1 and the port `name` publishes now, or why there is none."""
        now = time.monotonic()
        cached = self._targets.get(name)
        if cached and now - cached[0] < ROUTE_CACHE_S:
            return cached[1]
        if name not in self._ids:
            await self._refresh()
        cid = self._ids.get(name)
        info = await self._docker.inspect(cid) if cid else None
        port = SENTINEL_PORT if name in SENTINELS else REDIS_PORT
        target: Target | str = "refused"  # not running: nothing is published
        if info is not None and info.running and port in info.ports:
            target = ("127.0.0.1", info.ports[port])
        self._targets[name] = (now, target)
        return target

    async def sentinel_view(self, name: str, timeout_s: float, *, quorum: bool
                            ) -> SentinelView:
        target = await self.target(name)
        if isinstance(target, str):
            return SentinelView(error=target)
        try:
            addr = parse_master_addr(await self._pool.execute(
                target, ("SENTINEL", "get-master-addr-by-name", MASTER), timeout_s))
            ok = True
            if quorum:
                reply = await self._pool.execute(target, ("SENTINEL", "ckquorum", MASTER),
                                                 timeout_s)
                ok = not isinstance(reply, ErrorReply)
        except RespTransportError as e:
            return SentinelView(error=e.cls)
        except RespProtocolError as e:
            return SentinelView(error=f"bad answer: {e}")
        return SentinelView(addr, ok)

    async def views(self, timeout_s: float, *, quorum: bool) -> dict[str, SentinelView]:
        views = await asyncio.gather(
            *(self.sentinel_view(s, timeout_s, quorum=quorum) for s in SENTINELS))
        return dict(zip(SENTINELS, views, strict=True))

    async def primary(self, via: str | None) -> str | None:
        """The primary's name as most sentinels (or sentinel `via`) give it now; cached."""
        now = time.monotonic()
        cached = self._primaries.get(via)
        if cached and now - cached[0] < ROUTE_CACHE_S:
            return cached[1]
        timeout = min(1.0, self._probe_timeout_s)
        if via is None:
            node, _ = agreed_primary(await self.views(timeout, quorum=False), self.nodes,
                                     len(SENTINELS))
        else:
            view = await self.sentinel_view(via, timeout, quorum=False)
            node = node_for_address(*view.master, self.nodes) if view.master else None
        name = node.name if node else None
        self._primaries[via] = (now, name)
        return name

    def to_primary(self, via: str | None) -> Route:
        """A route to the primary as most sentinels (or sentinel `via`) name it per call."""
        async def route() -> Target | str:
            if not self.nodes:
                await self._refresh()
            name = await self.primary(via)
            return "no_primary" if name is None else await self.target(name)
        return route

    def to_node(self, name: str) -> Route:
        async def route() -> Target | str:
            return await self.target(name)
        return route
