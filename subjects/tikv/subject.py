"""TikvSubject: three PD members and three TiKV stores from compose/tikv.yml, one per trial.

The cluster is observed from outside through PD's HTTP API on each PD's client port
(subjects/tikv/pd_http.py), and each TiKV's HTTP status port, all published on 127.0.0.1
(re-read from Docker: they change when a container restarts). Healthy means: PD reports
every member healthy and has a leader among them, every store is `Up`, no region misses a
peer or has a down or pending one, the cluster is initialised and its regions replicated, PD
runs with the configured max-store-down-time, and a raw write through the workload client
is read back.

The workload's raw-KV client runs in the project's `client` container (subjects/tikv/
gateway.py, on the cluster network, where PD's and TiKV's advertised names resolve);
the harness reaches it on its one port published on 127.0.0.1 (subjects/tikv/client.py).
It is not a node: no fault targets it.

Roles: `pd` and `tikv`. LeaderAware: `leader(None)` and `leader("pd")` are the PD leader;
`leader("tikv")` is the store leading the region that holds the workload's keys.

Images: pingcap/pd and pingcap/tikv (pinned, EXTERNAL in eval/images/recipes.py) cannot be built
here; `up` raises ImageError naming every missing one and how to get it. The gateway's image
(`tikv-client`) and the holder's (`helper`) are built locally.
"""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import httpx

from chaos_eval.engine.client import Docker
from chaos_eval.engine.compose import Compose
from chaos_eval.engine.containers import ContainerInfo
from chaos_eval.errors import ParameterError
from chaos_eval.http_client import http_client
from chaos_eval.images.recipes import external_ref, image_ref
from chaos_eval.outcomes import OpOutcome
from chaos_eval.subject import (
    LABEL_ROLE,
    ClusterState,
    Endpoint,
    Health,
    Node,
    SubjectShape,
    TrialContext,
)
from chaos_eval.subjects.project import ComposeProject, base_env, poll_healthy, service
from chaos_eval.subjects.tikv import pd_api
from chaos_eval.subjects.tikv.client import TikvKVClient
from chaos_eval.subjects.tikv.gateway import PORT as GATEWAY_PORT
from chaos_eval.subjects.tikv.params import PDS, SHAPE, STORES, TikvParams
from chaos_eval.subjects.tikv.pd_http import parsed, pd_request, quiet, region_leader

if TYPE_CHECKING:
    from chaos_eval.spec.config import SubjectSpec

log = logging.getLogger(__name__)

PD_CLIENT_PORT, PD_PEER_PORT = 2379, 2380
TIKV_PORT, TIKV_STATUS_PORT = 20160, 20180
NETWORK = "cluster"
DATA_PATH = "/data"
DEFAULT_DATA_MB = SHAPE.default_data_mb
MIN_DATA_MB = SHAPE.min_data_mb
PROBE_KEY = "chaos-eval/probe"  # workload keys are chaos-eval/<trial>/...: same region


class TikvSubject:
    """chaos_eval.subject.Subject and LeaderAware for PD + TiKV."""

    kind: ClassVar[str] = "tikv"
    shape: ClassVar[SubjectShape] = SHAPE

    def __init__(
        self,
        ctx: TrialContext,
        docker: Docker,
        compose: Compose,
        *,
        pd_image: str,
        tikv_image: str,
        helper_image: str,
        client_image: str,
        data_mb: int = DEFAULT_DATA_MB,
        max_store_down_time_s: int = 30,
        compose_file: Path | None = None,
        probe_timeout_s: float = 3.0,
    ) -> None:
        if data_mb < MIN_DATA_MB:
            raise ParameterError(f"tikv data_mb={data_mb}: at least {MIN_DATA_MB}")
        self.ctx = ctx
        self._images = (pd_image, tikv_image, client_image, helper_image)
        env = {**base_env(ctx, data_mb), "CHAOS_EVAL_IMAGE_PD": pd_image,
               "CHAOS_EVAL_IMAGE_TIKV": tikv_image, "CHAOS_EVAL_IMAGE_TIKV_CLIENT": client_image,
               "CHAOS_EVAL_IMAGE_HELPER": helper_image}
        self._project = ComposeProject(ctx, docker, compose, "tikv", env,
                                       compose_file=compose_file)
        self.project = self._project.project
        self._probe_timeout_s = probe_timeout_s
        self._down_time = f"{int(max_store_down_time_s)}s"
        self._configured = False
        self._probe_client: TikvKVClient | None = None
        self._gateway = ""  # the client gateway's base URL, re-read by every health check

    @classmethod
    def from_spec(cls, spec: SubjectSpec, ctx: TrialContext, docker: Docker) -> TikvSubject:
        """Images: pingcap/pd and pingcap/tikv at `version:` (default v7.5.1) or the
        CHAOS_EVAL_IMAGE_PD / _TIKV overrides. data_mb's default (1024) is SHAPE's, filled in
        by the spec itself, so a recorded spec builds the same subject."""
        if spec.image:
            raise ParameterError(
                "tikv runs two images: choose them with `version:` or CHAOS_EVAL_IMAGE_PD "
                "and CHAOS_EVAL_IMAGE_TIKV, not `image:`")
        params = TikvParams.model_validate(spec.params)
        data_mb = spec.data_mb  # the spec resolved the default per subject (SHAPE)
        return cls(ctx, docker, Compose(), pd_image=external_ref("pd", spec.version),
                   tikv_image=external_ref("tikv", spec.version),
                   helper_image=image_ref("helper"), client_image=image_ref("tikv-client"),
                   data_mb=data_mb,
                   max_store_down_time_s=params.max_store_down_time_s)

    @property
    def env(self) -> dict[str, str]:
        return self._project.env

    async def up(self) -> None:
        """Start the project; ImageError naming every absent image and how to get it."""
        await self._project.up(self._images)

    async def effective_config(self) -> str:
        return await self._project.effective_config()

    async def teardown(self) -> None:
        if self._probe_client is not None:
            await self._probe_client.aclose()
        await self._project.teardown()

    # -- nodes ----------------------------------------------------------------------------

    def _node(self, info: ContainerInfo) -> Node:
        pd = info.labels.get(LABEL_ROLE) == "pd"
        port = PD_CLIENT_PORT if pd else TIKV_STATUS_PORT
        published = info.ports.get(port)
        # both are HTTP: any answer proves the process serves (chaos/probes.py)
        name = "client" if pd else "status"
        return Node(
            name=service(info),
            role="pd" if pd else "tikv",
            container_id=info.id,
            address=self._project.address(info, NETWORK),
            endpoints=(Endpoint(name, "127.0.0.1", published),) if published else (),
            peer_ports=(PD_PEER_PORT, PD_CLIENT_PORT) if pd else (TIKV_PORT,),
            data_volume=info.mounts.get(DATA_PATH),
            data_path=DATA_PATH,
        )

    async def nodes(self) -> tuple[Node, ...]:
        """PD members and TiKV stores, by name. A stopped node has no endpoint."""
        return (await self._nodes_and_gateway())[0]

    async def gateway_url(self) -> str:
        """The client gateway's base URL on 127.0.0.1, or "" while it publishes no port."""
        return (await self._nodes_and_gateway())[1]

    async def _nodes_and_gateway(self) -> tuple[tuple[Node, ...], str]:
        """Both from one listing of the project's containers."""
        infos = await self._project.containers(("pd", "tikv", "client"))
        ports = [i.ports.get(GATEWAY_PORT) for i in infos if i.labels.get(LABEL_ROLE) == "client"]
        gateway = next((f"http://127.0.0.1:{p}" for p in ports if p), "")
        return tuple(self._node(i) for i in infos if i.labels.get(LABEL_ROLE) != "client"), gateway

    def client(self, node: Node, timeout_s: float) -> TikvKVClient:
        """A raw-KV client through the gateway (whichever node it is bound to: the client
        routes every key to its region's leader itself). Needs one health check first."""
        return TikvKVClient(self._gateway, timeout_s)

    async def health(self) -> Health:
        return await self._health(self._probe_timeout_s)

    async def _health(self, timeout_s: float) -> Health:
        nodes, self._gateway = await self._nodes_and_gateway()
        reasons: list[str] = []
        if [n.name for n in nodes] != [*PDS, *STORES]:
            reasons.append(f"nodes {[n.name for n in nodes]}, want {[*PDS, *STORES]}")
        leader: str | None = None
        async with http_client(timeout_s) as http:
            raw, why = await pd_request(http, nodes, pd_api.HEALTH_PATH)
            health = parsed(pd_api.parse_health, raw, why, "PD health", reasons)
            raw, why = await pd_request(http, nodes, pd_api.LEADER_PATH)
            leader = quiet(pd_api.parse_leader, raw)
            if health is not None:
                reasons += pd_api.pd_reasons(health, PDS, leader)
            elif leader is None:
                reasons.append(f"PD leader: {why or 'bad answer'}")
            raw, why = await pd_request(http, nodes, pd_api.STORES_PATH)
            stores = parsed(pd_api.parse_stores, raw, why, "stores", reasons)
            if stores is not None:
                reasons += pd_api.store_reasons(stores, STORES)
            for check in pd_api.REGION_CHECKS:
                raw, why = await pd_request(http, nodes, pd_api.region_check_path(check))
                count = parsed(pd_api.parse_region_check, raw, why, check, reasons)
                if count:
                    reasons.append(f"{count} region(s) with a {check}")
            raw, why = await pd_request(http, nodes, pd_api.CLUSTER_STATUS_PATH)
            if parsed(pd_api.parse_cluster_initialized, raw, why, "cluster", reasons) is False:
                reasons.append("cluster not initialised")
            raw, why = await pd_request(http, nodes, pd_api.REPLICATED_PATH)
            state = parsed(pd_api.parse_replicated, raw, why, "replicated", reasons)
            if state is not None and state != "REPLICATED":
                reasons.append(f"regions {state}, not REPLICATED")
            if not reasons and not self._configured:
                reasons += await self._configure(http, nodes)
        if not reasons:
            reasons += await self._probe(nodes, timeout_s)
        return Health(not reasons, leader, tuple(reasons))

    async def _configure(self, http: httpx.AsyncClient, nodes: tuple[Node, ...]) -> list[str]:
        """Set schedule.max-store-down-time once, through PD's API (any PD forwards it)."""
        _, why = await pd_request(http, nodes, pd_api.SCHEDULE_CONFIG_PATH, method="POST",
                                  body={"max-store-down-time": self._down_time})
        if why:
            return [f"setting max-store-down-time: {why}"]
        self._configured = True
        return []

    async def _probe(self, nodes: tuple[Node, ...], timeout_s: float) -> list[str]:
        if self._probe_client is None:
            self._probe_client = TikvKVClient(self._gateway, timeout_s)
        value = f"{self.ctx.trial_key}:{secrets.token_hex(4)}"
        outcome, err = await self._probe_client.put(PROBE_KEY, value)
        if outcome != OpOutcome.OK:
            if err in ("no_gateway", "gateway_refused"):
                await self._probe_client.aclose()
                self._probe_client = None  # the gateway's port may have changed
            return [f"probe write: {outcome.value} {err}"]
        res = await self._probe_client.get(PROBE_KEY)
        if res.outcome != OpOutcome.OK or res.value != value:
            return [f"probe read: {res.outcome.value} {res.error or repr(res.value)}"]
        return []

    async def wait_healthy(self, timeout_s: float) -> Health:
        return await poll_healthy(self._health, timeout_s, self._probe_timeout_s)

    # -- state and leaders --------------------------------------------------------------------

    async def state(self) -> ClusterState:
        """Members (PD and stores), the PD leader, and per store its state and counts;
        `region_leader` names the store leading the workload's region."""
        nodes = await self.nodes()
        extra: dict[str, str] = {}
        async with http_client(self._probe_timeout_s) as http:
            raw, _ = await pd_request(http, nodes, pd_api.LEADER_PATH)
            leader = quiet(pd_api.parse_leader, raw)
            raw, why = await pd_request(http, nodes, pd_api.STORES_PATH)
            stores = quiet(pd_api.parse_stores, raw) or ()
            for s in stores:
                extra[s.host] = json.dumps({"store_id": s.id, "state": s.state_name,
                                            "leaders": s.leader_count,
                                            "regions": s.region_count}, sort_keys=True)
            if raw is None:
                extra["stores_error"] = why
            extra["region_leader"] = str(await region_leader(http, nodes, stores, PROBE_KEY))
        return ClusterState(members=tuple(n.name for n in nodes), leader=leader, term=None,
                            index=None, extra=extra)

    async def leader(self, role: str | None = None) -> Node | None:
        """The PD leader (role None or "pd"), or the store leading the workload's region
        (role "tikv")."""
        nodes = await self.nodes()
        async with http_client(self._probe_timeout_s) as http:
            if role in (None, "pd"):
                raw, _ = await pd_request(http, nodes, pd_api.LEADER_PATH)
                name = quiet(pd_api.parse_leader, raw)
            elif role == "tikv":
                raw, _ = await pd_request(http, nodes, pd_api.STORES_PATH)
                name = await region_leader(http, nodes,
                                           quiet(pd_api.parse_stores, raw) or (), PROBE_KEY)
            else:
                return None
        return next((n for n in nodes if n.name == name), None)
