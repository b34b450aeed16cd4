"""RedisSubject: one Redis primary, two replicas and three sentinels from compose/redis.yml,
one per trial.

Everything is observed from outside over RESP through the ports each node publishes on
127.0.0.1 (re-read from Docker: they change when a container restarts). Nodes are named by
compose service (redis1..3, sentinel1..3); a Redis node's role is its CURRENT role (ROLE),
falling back to its initial role (the chaos-eval.role label) while it does not answer.
Health: see subjects/redis/view.py, then a probe write acknowledged by both replicas (WAIT)
and read back from the primary. The leader (`target: leader`, `role: primary`) is the node
most sentinels name as primary.

Workload routing (params.write_to, subjects/redis/params.py): reads for durability go to the
primary the sentinels name at call time; writes go there too (`primary`), or to the node a
client is bound to (`bound`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from chaos_eval.engine.client import Docker
from chaos_eval.engine.compose import Compose
from chaos_eval.engine.containers import ContainerInfo
from chaos_eval.images.recipes import image_ref
from chaos_eval.subject import (
    LABEL_ROLE,
    ClusterState,
    Endpoint,
    Health,
    Node,
    SubjectShape,
    TrialContext,
)
from chaos_eval.subjects.project import ComposeProject, base_env, poll_healthy, service, trial_token
from chaos_eval.subjects.redis.client import RedisKVClient, RespPool, RespTransportError
from chaos_eval.subjects.redis.params import SENTINELS, SHAPE, RedisParams, WriteTo
from chaos_eval.subjects.redis.resp import (
    Replication,
    Reply,
    RespProtocolError,
    pairs_to_dict,
    parse_replication,
    parse_role,
)
from chaos_eval.subjects.redis.routes import MASTER, RedisRouter
from chaos_eval.subjects.redis.view import (
    REDIS_PORT,
    ROLE_NAMES,
    SENTINEL_PORT,
    agreed_primary,
    replication_reasons,
)

if TYPE_CHECKING:
    from chaos_eval.spec.config import SubjectSpec

log = logging.getLogger(__name__)

DATA = ("redis1", "redis2", "redis3")
NETWORK = "cluster"
DATA_PATH = "/data"
PROBE_KEY = "chaos-eval:probe"
ROLE_TIMEOUT_S = 0.5  # nodes(): how long a node may take to say its role


class RedisSubject:
    """chaos_eval.subject.Subject and LeaderAware for Redis with Sentinel."""

    kind: ClassVar[str] = "redis"
    shape: ClassVar[SubjectShape] = SHAPE

    def __init__(
        self,
        ctx: TrialContext,
        docker: Docker,
        compose: Compose,
        *,
        image: str,
        data_mb: int = 256,
        write_to: WriteTo = "primary",
        compose_file: Path | None = None,
        probe_timeout_s: float = 2.0,
    ) -> None:
        self.ctx = ctx
        self._image = image
        self._write_to = write_to
        self._password = trial_token(ctx)
        env = {**base_env(ctx, data_mb), "CHAOS_EVAL_IMAGE_REDIS": image,
               "CHAOS_EVAL_TOKEN": self._password}
        self._project = ComposeProject(ctx, docker, compose, "redis", env,
                                       compose_file=compose_file)
        self.project = self._project.project
        self._docker = docker
        self._probe_timeout_s = probe_timeout_s
        self._pool = RespPool(self._password)
        self._routes = RedisRouter(docker, self._pool, self.nodes, probe_timeout_s)

    @classmethod
    def from_spec(cls, spec: SubjectSpec, ctx: TrialContext, docker: Docker) -> RedisSubject:
        """image: spec, else the built-in redis image (or CHAOS_EVAL_IMAGE_REDIS);
        params.write_to: see RedisParams."""
        params = RedisParams.model_validate(spec.params)
        return cls(ctx, docker, Compose(), image=spec.image or image_ref("redis"),
                   data_mb=spec.data_mb, write_to=params.write_to)

    @property
    def env(self) -> dict[str, str]:
        return self._project.env

    # -- lifecycle ------------------------------------------------------------------------

    async def up(self) -> None:
        """Start the project; ImageError (saying how to get it) when the image is absent."""
        await self._project.up([self._image])

    async def effective_config(self) -> str:
        return await self._project.effective_config()

    async def teardown(self) -> None:
        self._pool.close()
        await self._project.teardown()

    # -- nodes ----------------------------------------------------------------------------

    def _node(self, info: ContainerInfo, role: str) -> Node:
        sentinel = info.labels.get(LABEL_ROLE) == "sentinel"
        port = SENTINEL_PORT if sentinel else REDIS_PORT
        published = info.ports.get(port)
        return Node(
            name=service(info),
            role=role,
            container_id=info.id,
            address=self._project.address(info, NETWORK),
            endpoints=(Endpoint("client", "127.0.0.1", published, protocol="resp"),)
            if published else (),
            peer_ports=(port,),
            data_volume=info.mounts.get(DATA_PATH),
            data_path=DATA_PATH,
        )

    async def _role(self, info: ContainerInfo) -> str:
        label = info.labels.get(LABEL_ROLE, "")
        if label == "sentinel" or not info.running or REDIS_PORT not in info.ports:
            return label
        try:
            reply = await self._pool.execute(
                ("127.0.0.1", info.ports[REDIS_PORT]), ("ROLE",), ROLE_TIMEOUT_S
            )
            return ROLE_NAMES.get(parse_role(reply), label)
        except (RespTransportError, RespProtocolError):
            return label

    async def nodes(self) -> tuple[Node, ...]:
        """Every Redis node and sentinel, by name, with its current role. A stopped node
        has no endpoint and no address; its container and data volume are still given."""
        infos = await self._project.containers(("primary", "replica", "sentinel"))
        roles = await asyncio.gather(*(self._role(i) for i in infos))
        nodes = tuple(self._node(i, r) for i, r in zip(infos, roles, strict=True))
        self._routes.learn(nodes)
        return nodes

    def client(self, node: Node, timeout_s: float) -> RedisKVClient:
        """See the module docstring: reads go to the current primary (non-linearizable reads
        to `node` itself, if it is a Redis node); writes per params.write_to."""
        sentinel = node.name in SENTINELS
        routes = self._routes
        primary = routes.to_primary(None)
        if sentinel:
            write = routes.to_primary(node.name if self._write_to == "bound" else None)
        else:
            write = routes.to_node(node.name) if self._write_to == "bound" else primary
        return RedisKVClient(
            write_route=write,
            read_route=primary,
            local_route=primary if sentinel else routes.to_node(node.name),
            password=self._password,
            timeout_s=timeout_s,
            on_refused=routes.forget,
        )

    # -- health ---------------------------------------------------------------------------

    async def _replication(self, node: Node, timeout_s: float) -> Replication | str:
        target = await self._routes.target(node.name)
        if isinstance(target, str):
            return "not running" if target == "refused" else target
        try:
            reply = await self._pool.execute(target, ("INFO", "replication"), timeout_s)
            if not isinstance(reply, str):
                return f"INFO replication: {reply!r}"[:120]
            return parse_replication(reply)
        except RespTransportError as e:
            return e.cls
        except RespProtocolError as e:
            return f"bad INFO replication: {e}"

    async def health(self) -> Health:
        return await self._health(self._probe_timeout_s)

    async def _health(self, timeout_s: float) -> Health:
        self._routes.forget()  # a health probe never trusts a cached route
        nodes = await self.nodes()
        reasons: list[str] = []
        if [n.name for n in nodes] != sorted((*DATA, *SENTINELS)):
            reasons.append(f"nodes {[n.name for n in nodes]}, want {[*DATA, *SENTINELS]}")
        primary, why = agreed_primary(await self._routes.views(timeout_s, quorum=True), nodes,
                                      len(SENTINELS))
        reasons += why
        if primary is None:
            return Health(False, None, tuple(reasons or ["no primary agreed by the sentinels"]))
        data = [n for n in nodes if n.name in DATA]
        repl = await asyncio.gather(*(self._replication(n, timeout_s) for n in data))
        reasons += replication_reasons(primary, data, {
            n.name: r for n, r in zip(data, repl, strict=True)})
        if not reasons:
            reasons += await self._probe(primary, len(data) - 1, timeout_s)
        return Health(not reasons, primary.name, tuple(reasons))

    async def _probe(self, primary: Node, replicas: int, timeout_s: float) -> list[str]:
        """SET a fresh value on the primary, WAIT for every replica to acknowledge it, GET it."""
        value = f"{self.ctx.trial_key}:{secrets.token_hex(4)}"
        target = await self._routes.target(primary.name)
        if isinstance(target, str):
            return [f"probe: {primary.name} {target}"]
        wait_ms = max(100, int(timeout_s * 500))
        steps: list[tuple[str, tuple[str | int, ...]]] = [
            ("write", ("SET", PROBE_KEY, value)),
            ("replicas", ("WAIT", replicas, wait_ms)),
            ("read", ("GET", PROBE_KEY)),
        ]
        want: list[Reply] = ["OK", replicas, value]
        for (what, args), expected in zip(steps, want, strict=True):
            try:
                reply = await self._pool.execute(target, args, timeout_s)
            except RespTransportError as e:
                return [f"probe {what} on {primary.name}: {e.cls}"]
            if what == "replicas" and isinstance(reply, int) and reply < replicas:
                return [f"probe: {reply} of {replicas} replicas acknowledged within {wait_ms}ms"]
            if reply != expected:
                return [f"probe {what} on {primary.name}: {reply!r}"[:160]]
        return []

    async def wait_healthy(self, timeout_s: float) -> Health:
        return await poll_healthy(self._health, timeout_s, self._probe_timeout_s)

    # -- state ----------------------------------------------------------------------------

    async def state(self) -> ClusterState:
        """Members, the agreed primary, the sentinels' config epoch (as `term`) and the
        primary's replication offset (as `index`); per node its replication summary."""
        nodes = await self.nodes()
        timeout = self._probe_timeout_s
        views = await self._routes.views(timeout, quorum=False)
        primary, _ = agreed_primary(views, nodes, len(SENTINELS))
        data = [n for n in nodes if n.name in DATA]
        repl = dict(zip((n.name for n in data), await asyncio.gather(
            *(self._replication(n, timeout) for n in data)), strict=True))
        extra = {name: json.dumps(r.summary() if isinstance(r, Replication) else {"error": r},
                                  sort_keys=True) for name, r in repl.items()}
        for name, v in views.items():
            extra[name] = json.dumps({"master": list(v.master) if v.master else None,
                                      "error": v.error}, sort_keys=True)
        epoch = await self._config_epoch(timeout)
        offset = repl.get(primary.name) if primary else None
        return ClusterState(
            members=tuple(n.name for n in nodes),
            leader=primary.name if primary else None,
            term=epoch,
            index=offset.offset if isinstance(offset, Replication) else None,
            extra=extra,
        )

    async def _config_epoch(self, timeout_s: float) -> int | None:
        for name in SENTINELS:
            target = await self._routes.target(name)
            if isinstance(target, str):
                continue
            try:
                info = pairs_to_dict(await self._pool.execute(
                    target, ("SENTINEL", "master", MASTER), timeout_s))
                return int(info["config-epoch"])
            except (RespTransportError, RespProtocolError, KeyError, ValueError):
                continue
        return None

    async def leader(self, role: str | None = None) -> Node | None:
        """The node most sentinels name as primary (for role None or "primary")."""
        if role not in (None, "primary"):
            return None
        self._routes.forget()
        nodes = await self.nodes()
        name = await self._routes.primary(None)
        return next((n for n in nodes if n.name == name), None)
