"""A real three-member etcd cluster for the fault integration tests: the project's own
EtcdSubject (compose/etcd.yml, one compose project per test, labelled with the trial), on
the locally built images, plus a small independent client for observing it.

The client here speaks the v3 JSON gateway over httpx through each member's port published
on 127.0.0.1 (the same door a user has), independently of the subject's own client, so a
test's observations do not depend on the code under test.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from chaos_eval.engine.client import Docker
from chaos_eval.engine.compose import Compose
from chaos_eval.images.build import ensure_images
from chaos_eval.images.recipes import image_ref
from chaos_eval.polling import poll_until
from chaos_eval.subject import LABEL_TRIAL, Node, TrialContext
from chaos_eval.subjects.etcd.subject import EtcdSubject

logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns the figures

MEMBERS = ("etcd1", "etcd2", "etcd3")


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def new_ctx() -> TrialContext:
    # a campaign id and trial key nobody else on this machine uses
    return TrialContext(900_000 + secrets.randbelow(99_999), secrets.token_hex(16), seed=1)


@dataclass
class Put:
    start: float
    end: float
    ok: bool
    error: str = ""


@dataclass
class LocalEtcd:
    docker: Docker
    ctx: TrialContext
    helper_image: str = ""
    pre_vote: bool = False
    nodes: tuple[Node, ...] = ()
    subject: EtcdSubject | None = field(default=None, repr=False)

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Build missing/stale images (etcd, helper), then bring the subject up."""
        built = {r.name: r.ref for r in await ensure_images(["etcd", "helper"], self.docker)}
        self.helper_image = built["helper"]
        self.subject = EtcdSubject(self.ctx, self.docker, Compose(), image=image_ref("etcd"),
                                   pre_vote=self.pre_vote)
        await self.subject.up()
        await self.refresh()

    async def refresh(self) -> None:
        """Re-read addresses and published ports (they change when a member restarts)."""
        assert self.subject is not None
        self.nodes = await self.subject.nodes()

    async def teardown(self) -> None:
        if self.subject is not None:
            await self.subject.teardown()
        res = await self.docker.labelled(LABEL_TRIAL, self.ctx.trial_key)
        await self.docker.remove_labelled(res)

    # -- client ---------------------------------------------------------------------------

    async def _post(self, node: Node, path: str, body: dict[str, Any], timeout_s: float) -> Any:
        url = node.endpoint("client").url + path
        async with httpx.AsyncClient(timeout=timeout_s, trust_env=False) as c:
            r = await c.post(url, content=json.dumps(body))
            r.raise_for_status()
            return r.json()

    async def put(self, node: Node, key: str, value: str, timeout_s: float = 2.0) -> Put:
        t0 = time.monotonic()
        try:
            body = await self._post(
                node, "/v3/kv/put", {"key": _b64(key), "value": _b64(value)}, timeout_s
            )
            ok, err = "header" in body, ""
        except httpx.TimeoutException:
            ok, err = False, "timeout"
        except httpx.HTTPError as e:
            ok, err = False, type(e).__name__
        return Put(t0, time.monotonic(), ok, err)

    async def get(
        self, node: Node, key: str, *, serializable: bool, timeout_s: float = 2.0
    ) -> str | None:
        body = await self._post(
            node, "/v3/kv/range", {"key": _b64(key), "serializable": serializable}, timeout_s
        )
        kvs = body.get("kvs") or []
        return base64.b64decode(kvs[0]["value"]).decode() if kvs else None

    async def status(self, node: Node, timeout_s: float = 1.0) -> dict[str, Any] | None:
        try:
            body: dict[str, Any] = await self._post(node, "/v3/maintenance/status", {}, timeout_s)
            return body
        except httpx.HTTPError:
            return None

    async def leader(self, via: tuple[Node, ...] | None = None) -> str | None:
        """The leader's member name, as every reachable member in `via` agrees; else None."""
        names: dict[str, str] = {}
        seen: set[str] = set()
        for node in via or self.nodes:
            st = await self.status(node)
            if st is None or st.get("leader") in (None, "0"):
                return None
            names[str(st["header"]["member_id"])] = node.name
            seen.add(str(st["leader"]))
        if len(seen) != 1:
            return None
        lid = seen.pop()
        if lid in names:
            return names[lid]
        members = await self._post(self.nodes[0], "/v3/cluster/member/list", {}, 2.0)
        for m in members.get("members", []):
            if str(m.get("ID")) == lid:
                return str(m.get("name"))
        return None

    async def wait_healthy(self, timeout_s: float = 60.0, via: tuple[Node, ...] = ()) -> str:
        """The whole cluster: the subject's own health (all members agree on a leader, a
        write is read back linearizably through each). A subset (`via`): those members
        agree on a leader and a write through the first succeeds. Returns the leader."""
        if not via:
            assert self.subject is not None
            health = await self.subject.wait_healthy(timeout_s)
            assert health.healthy and health.leader, health.reasons
            await self.refresh()
            return health.leader
        deadline = time.monotonic() + timeout_s
        last = "no attempt"
        while time.monotonic() < deadline:
            leader = await self.leader(via)
            if leader is not None:
                put = await self.put(via[0], "health", str(time.time()), 2.0)
                if put.ok:
                    return leader
                last = f"put failed: {put.error}"
            else:
                last = "no agreed leader"
            await asyncio.sleep(0.2)  # poll interval
        raise AssertionError(f"etcd members {[n.name for n in via]} not healthy: {last}")


async def started_cluster(*, pre_vote: bool = False) -> LocalEtcd:
    """Start a cluster (Docker must be reachable: failing here fails the test)."""
    cluster = LocalEtcd(Docker(), new_ctx(), pre_vote=pre_vote)
    try:
        await cluster.start()
        await cluster.wait_healthy()
    except BaseException:
        await cluster.teardown()
        raise
    return cluster


class Writer:
    """Back-to-back puts against one node, recorded, until stopped."""

    def __init__(self, cluster: LocalEtcd, node: Node, timeout_s: float = 0.5) -> None:
        self.cluster, self.node, self.timeout_s = cluster, node, timeout_s
        self.puts: list[Put] = []
        self._stop = asyncio.Event()

    async def run(self) -> None:
        i = 0
        while not self._stop.is_set():
            i += 1
            self.puts.append(await self.cluster.put(self.node, f"w{i}", str(i), self.timeout_s))
            await asyncio.sleep(0.02)  # pacing between writes, not a wait for state

    def stop(self) -> None:
        self._stop.set()

    async def until_acknowledged(self, n: int, after: float = 0.0, timeout_s: float = 60) -> None:
        """Poll to a deadline until `n` puts started after `after` were acknowledged."""

        async def acked() -> int:
            return sum(p.ok and p.start > after for p in self.puts)

        got, waited = await poll_until(acked, lambda k: k >= n, timeout_s, interval_s=0.05)
        assert got >= n, f"{got}/{n} writes to {self.node.name} acknowledged in {waited:.0f}s"

    def longest_gap(self, since: float) -> float:
        """Longest interval without an acknowledged write, from `since` on."""
        ends = [since] + [p.end for p in self.puts if p.ok and p.end >= since]
        return max((b - a for a, b in itertools.pairwise(ends)), default=0.0)
