"""EtcdSubject: a three-member etcd cluster from compose/etcd.yml, one per trial.

Everything is observed from outside through each member's v3 JSON gateway, published on
127.0.0.1 (the port is ephemeral and re-read from Docker on every call, because it changes
when a member restarts). Health means: all three members answer status, agree on one
cluster and one non-zero leader, and a probe write through one member is read back
linearizably through every member.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import httpx

from chaos_eval.engine.client import Docker
from chaos_eval.engine.compose import Compose
from chaos_eval.engine.containers import ContainerInfo
from chaos_eval.errors import ImageError, ParameterError
from chaos_eval.http_client import http_client
from chaos_eval.images.recipes import image_ref
from chaos_eval.outcomes import OpOutcome
from chaos_eval.subject import (
    ClusterState,
    Endpoint,
    Health,
    Node,
    SubjectShape,
    TrialContext,
)
from chaos_eval.subjects.etcd.client import EtcdKVClient, classify_exception
from chaos_eval.subjects.etcd.disk import EtcdDiskFull
from chaos_eval.subjects.etcd.gateway import (
    MEMBERS_PATH,
    STATUS_PATH,
    GatewayParseError,
    MemberStatus,
    parse_members,
    parse_status,
)
from chaos_eval.subjects.etcd.params import SHAPE, EtcdParams
from chaos_eval.subjects.project import ComposeProject, base_env, poll_healthy, service, trial_token

if TYPE_CHECKING:
    from chaos_eval.spec.config import SubjectSpec

log = logging.getLogger(__name__)

MEMBERS = ("etcd1", "etcd2", "etcd3")
CLIENT_PORT = 2379
PEER_PORT = 2380
DATA_PATH = "/data"  # where each member's volume is mounted (data dir: /data/etcd)
NETWORK = "cluster"  # the compose network's key in etcd.yml
PROBE_KEY = "/chaos-eval/probe"
# etcd preallocates its WAL in 64 MB segments, the live one plus the next: 123 MiB of each
# member's tmpfs are taken at start. Below 192 members die with ENOSPC or run with no room
# for the database, so a smaller size is refused rather than producing a flaky cluster.
MIN_DATA_MB = SHAPE.min_data_mb


class EtcdSubject(EtcdDiskFull):
    """chaos_eval.subject.Subject and LeaderAware for etcd."""

    kind: ClassVar[str] = "etcd"
    shape: ClassVar[SubjectShape] = SHAPE

    def __init__(
        self,
        ctx: TrialContext,
        docker: Docker,
        compose: Compose,
        *,
        image: str,
        data_mb: int = 256,
        pre_vote: bool = False,
        compose_file: Path | None = None,
        probe_timeout_s: float = 2.0,
    ) -> None:
        if data_mb < MIN_DATA_MB:
            raise ParameterError(
                f"etcd data_mb={data_mb}: at least {MIN_DATA_MB} (the WAL alone preallocates"
                " 128 MB per member)"
            )
        self.ctx = ctx
        self._docker = docker
        self._compose = compose
        self._image = image
        self._probe_timeout_s = probe_timeout_s
        self._probe_seq = 0
        self._cluster_id: int | None = None
        env = {**base_env(ctx, data_mb), "CHAOS_EVAL_TOKEN": trial_token(ctx),
               "CHAOS_EVAL_IMAGE_ETCD": image,
               "CHAOS_EVAL_ETCD_PRE_VOTE": "true" if pre_vote else "false"}
        self._project = ComposeProject(ctx, docker, compose, "etcd", env,
                                       compose_file=compose_file)
        self.project = self._project.project

    @classmethod
    def from_spec(cls, spec: SubjectSpec, ctx: TrialContext, docker: Docker) -> EtcdSubject:
        """The subject a campaign's `subjects:` entry describes (image: spec, else the
        built-in etcd image or its CHAOS_EVAL_IMAGE_ETCD override; `params:` EtcdParams)."""
        params = EtcdParams.model_validate(spec.params)
        return cls(ctx, docker, Compose(), image=spec.image or image_ref("etcd"),
                   data_mb=spec.data_mb, pre_vote=params.pre_vote)

    @property
    def env(self) -> dict[str, str]:
        return self._project.env

    # -- lifecycle ------------------------------------------------------------------------

    async def up(self) -> None:
        """Start the project. ImageError when the image is absent: Compose would try to pull
        it, and there is no registry to pull from."""
        if await self._docker.image_labels(self._image) is None:
            raise ImageError(f"image {self._image} is not present; build it (eval images)")
        await self._compose.up(self.project, self._project.file, self.env)

    async def effective_config(self) -> str:
        return await self._project.effective_config()

    async def teardown(self) -> None:
        """compose down -v, then force-remove whatever still carries this trial's labels
        (helpers, a half-created project). Idempotent. Raises DockerError only when
        something labelled with this trial is still there afterwards. No grace period: the
        data is thrown away, and a leader stopped with SIGTERM first tries to hand
        leadership to peers that are stopping too (up to 7 s)."""
        await self._project.teardown()

    # -- nodes ----------------------------------------------------------------------------

    def _node(self, info: ContainerInfo) -> Node:
        port = info.ports.get(CLIENT_PORT)
        return Node(
            name=service(info),
            role="etcd",
            container_id=info.id,
            address=self._project.address(info, NETWORK),
            endpoints=(Endpoint("client", "127.0.0.1", port),) if port else (),
            peer_ports=(PEER_PORT,),
            data_volume=info.mounts.get(DATA_PATH),
            data_path=DATA_PATH,
        )

    async def nodes(self) -> tuple[Node, ...]:
        """Every etcd member, sorted by name. A stopped member has no endpoints (and no
        address); its container id and data volume are still given."""
        found = await self._project.containers(("etcd",))
        return tuple(sorted((self._node(i) for i in found), key=lambda n: n.name))

    async def _url_of(self, container_id: str) -> str | None:
        info = await self._docker.inspect(container_id)
        if info is None or not info.running or CLIENT_PORT not in info.ports:
            return None
        return f"http://127.0.0.1:{info.ports[CLIENT_PORT]}"

    def client(self, node: Node, timeout_s: float) -> EtcdKVClient:
        """A KV client for `node`; it follows the member to a new port after a restart."""
        url = node.endpoint("client").url if node.endpoints else None

        async def resolve() -> str | None:
            return await self._url_of(node.container_id)

        return EtcdKVClient(url, timeout_s, resolve=resolve, cluster_id=self._cluster_id)

    # -- probes ---------------------------------------------------------------------------

    async def _status(
        self, http: httpx.AsyncClient, node: Node
    ) -> tuple[MemberStatus | None, str]:
        if not node.endpoints:
            return None, "not running"
        try:
            resp = await http.post(node.endpoint("client").url + STATUS_PATH, json={})
        except httpx.HTTPError as e:
            return None, classify_exception(e, write=False)[1]
        if resp.status_code != 200:
            return None, f"status http {resp.status_code}"
        try:
            return parse_status(resp.content), ""
        except GatewayParseError as e:
            return None, f"bad status: {e}"

    async def _statuses(
        self, http: httpx.AsyncClient, nodes: tuple[Node, ...]
    ) -> dict[str, tuple[MemberStatus | None, str]]:
        results = await asyncio.gather(*(self._status(http, n) for n in nodes))
        return {n.name: r for n, r in zip(nodes, results, strict=True)}

    async def _members(self, http: httpx.AsyncClient, nodes: tuple[Node, ...]) -> dict[int, str]:
        """{member id: name} from the first member that answers, or {}."""
        for node in nodes:
            if not node.endpoints:
                continue
            try:
                resp = await http.post(node.endpoint("client").url + MEMBERS_PATH, json={})
                if resp.status_code == 200:
                    return parse_members(resp.content)
            except (httpx.HTTPError, GatewayParseError):
                continue
        return {}

    def _http(self, timeout_s: float | None = None) -> httpx.AsyncClient:
        return http_client(timeout_s or self._probe_timeout_s)

    async def health(self) -> Health:
        return await self._health(self._probe_timeout_s)

    async def _health(self, timeout_s: float) -> Health:
        nodes = await self.nodes()
        reasons: list[str] = []
        if [n.name for n in nodes] != list(MEMBERS):
            reasons.append(f"members {[n.name for n in nodes]}, want {list(MEMBERS)}")
        async with self._http(timeout_s) as http:
            statuses = await self._statuses(http, nodes)
            ok = {name: s for name, (s, _) in statuses.items() if s is not None}
            reasons += [f"{name}: {err}" for name, (s, err) in statuses.items() if s is None]
            names = {s.member_id: name for name, s in ok.items()}
            leaders = {s.leader for s in ok.values()}
            clusters = {s.cluster_id for s in ok.values()}
            for name, s in ok.items():
                if s.leader == 0:
                    why = f" ({'; '.join(s.errors)})" if s.errors else ""
                    reasons.append(f"{name}: no leader{why}")
            known = leaders - {0}
            if len(known) > 1:
                reasons.append(f"members disagree on the leader: {sorted(known)}")
            if len(clusters) > 1:
                reasons.append(f"members report different clusters: {sorted(clusters)}")
            leader_id = next(iter(known)) if len(known) == 1 else 0
            if leader_id and leader_id not in names:  # e.g. the leader was just killed
                names.update(await self._members(http, nodes))
            leader = names.get(leader_id)
            if leader_id and leader is None:
                reasons.append(f"leader {leader_id} is not one of our members")
            if reasons:
                return Health(False, leader, tuple(reasons))
            self._cluster_id = next(iter(clusters))
            reasons += await self._probe(nodes, timeout_s)
        return Health(not reasons, leader, tuple(reasons))

    async def _probe(self, nodes: tuple[Node, ...], timeout_s: float) -> list[str]:
        """Write a fresh value through the first member; read it back linearizably through
        every member (each must reach the leader for a read index)."""
        self._probe_seq += 1
        value = f"{self.ctx.trial_key}:{self._probe_seq}:{secrets.token_hex(4)}"
        reasons: list[str] = []
        clients = [self.client(n, timeout_s) for n in nodes]
        try:
            outcome, err = await clients[0].put(PROBE_KEY, value)
            if outcome != OpOutcome.OK:
                return [f"probe write via {nodes[0].name}: {outcome.value} {err}"]
            reads = await asyncio.gather(*(c.get(PROBE_KEY, linearizable=True) for c in clients))
            for node, res in zip(nodes, reads, strict=True):
                if res.outcome != OpOutcome.OK:
                    reasons.append(f"probe read via {node.name}: {res.outcome.value} {res.error}")
                elif res.value != value:
                    reasons.append(f"probe read via {node.name}: stale value {res.value!r}")
        finally:
            for c in clients:
                await c.aclose()
        return reasons

    async def wait_healthy(self, timeout_s: float) -> Health:
        return await poll_healthy(self._health, timeout_s, self._probe_timeout_s)

    async def state(self) -> ClusterState:
        nodes = await self.nodes()
        async with self._http() as http:
            statuses = await self._statuses(http, nodes)
            members = await self._members(http, nodes)
        ok = [s for s, _ in statuses.values() if s is not None]
        names = {**{s.member_id: n for n, (s, _) in statuses.items() if s is not None},
                 **members}
        leaders = {s.leader for s in ok} - {0}
        leader = names.get(next(iter(leaders))) if len(leaders) == 1 else None
        extra = {
            name: json.dumps(s.summary() if s is not None else {"error": err}, sort_keys=True)
            for name, (s, err) in statuses.items()
        }
        if ok:
            extra["cluster_id"] = str(ok[0].cluster_id)
        return ClusterState(
            members=tuple(sorted(members.values())) or tuple(n.name for n in nodes),
            leader=leader,
            term=max((s.raft_term for s in ok), default=None),
            index=max((s.raft_index for s in ok), default=None),
            extra=extra,
        )

    async def leader(self, role: str | None = None) -> Node | None:
        if role not in (None, "etcd"):
            return None
        state = await self.state()
        return next((n for n in await self.nodes() if n.name == state.leader), None)
