"""A real three-member etcd cluster for the fault integration tests, started with docker-py.

Stands in until subjects/etcd.py lands. Every container and the network carry the trial's
chaos-eval labels, and teardown removes only what carries this trial's label. Members talk
by container name on a private bridge network; each member's client port 2379 is published
on 127.0.0.1 on an ephemeral port. Data lives in the container's own filesystem, so a member
killed and started again comes back with it.

The etcd client here speaks the v3 JSON gateway over httpx (the same door a user has).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from eval.docker import Docker
from eval.subject import LABEL_TRIAL, Endpoint, Node, TrialContext

logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns the figures

ETCD_IMAGE = os.environ.get("CHAOS_EVAL_TEST_ETCD_IMAGE", "chaos-eval-test:latest")
# the dev image carries the helper's tools too; switch to chaos-eval/helper:local once built
HELPER_IMAGE = os.environ.get("CHAOS_EVAL_TEST_HELPER_IMAGE", "chaos-eval-test:latest")
MEMBERS = ("etcd1", "etcd2", "etcd3")


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def new_ctx() -> TrialContext:
    return TrialContext(campaign_id=0, trial_key=f"itest{uuid.uuid4().hex}", seed=1)


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
    nodes: tuple[Node, ...] = ()
    network: str = ""
    containers: dict[str, str] = field(default_factory=dict)

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        client = self.docker.client
        labels = self.ctx.labels("etcd")
        prefix = self.ctx.project
        token = f"tok-{self.ctx.trial_key}"
        cluster = ",".join(f"{m}=http://{prefix}-{m}:2380" for m in MEMBERS)

        def run() -> None:
            net = client.networks.create(
                f"{prefix}-net", driver="bridge", labels=self.ctx.labels("network")
            )
            self.network = str(net.name)
            for m in MEMBERS:
                host = f"{prefix}-{m}"
                c = client.containers.run(
                    ETCD_IMAGE,
                    [
                        "/usr/bin/etcd",
                        f"--name={m}",
                        "--data-dir=/data/etcd",
                        "--listen-client-urls=http://0.0.0.0:2379",
                        f"--advertise-client-urls=http://{host}:2379",
                        "--listen-peer-urls=http://0.0.0.0:2380",
                        f"--initial-advertise-peer-urls=http://{host}:2380",
                        f"--initial-cluster={cluster}",
                        f"--initial-cluster-token={token}",
                        "--initial-cluster-state=new",
                        "--heartbeat-interval=100",
                        "--election-timeout=1000",
                    ],
                    name=host,
                    hostname=m,
                    labels=labels,
                    network=self.network,
                    ports={"2379/tcp": ("127.0.0.1", None)},
                    detach=True,
                )
                self.containers[m] = str(c.id)

        await asyncio.to_thread(run)
        await self.refresh()

    async def refresh(self) -> None:
        """Re-read addresses and published ports (they change when a member restarts)."""
        nodes = []
        for m in MEMBERS:
            info = await self.docker.inspect(self.containers[m])
            assert info is not None
            port = info.ports.get(2379)
            nodes.append(
                Node(
                    name=m,
                    role="etcd",
                    container_id=info.id,
                    address=info.ips.get(self.network, ""),
                    endpoints=(Endpoint("client", "127.0.0.1", port),) if port else (),
                    peer_ports=(2380,),
                )
            )
        self.nodes = tuple(nodes)

    async def teardown(self) -> None:
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
        """Poll until every member (or `via`) agrees on a leader and a write succeeds."""
        deadline = time.monotonic() + timeout_s
        nodes = via or self.nodes
        last = "no attempt"
        while time.monotonic() < deadline:
            leader = await self.leader(nodes)
            if leader is not None:
                put = await self.put(nodes[0], "health", str(time.time()), 2.0)
                if put.ok:
                    return leader
                last = f"put failed: {put.error}"
            else:
                last = "no agreed leader"
            await asyncio.sleep(0.2)
        raise AssertionError(f"etcd cluster {self.ctx.project} not healthy: {last}")


async def started_cluster() -> LocalEtcd:
    """Start a cluster (Docker must be reachable: failing here fails the test)."""
    cluster = LocalEtcd(Docker(), new_ctx())
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

    def longest_gap(self, since: float) -> float:
        """Longest interval without an acknowledged write, from `since` on."""
        ends = [since] + [p.end for p in self.puts if p.ok and p.end >= since]
        return max((b - a for a, b in itertools.pairwise(ends)), default=0.0)
