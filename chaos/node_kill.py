"""Node kill: stop the target containers with a signal through the engine API.

Observed from outside: the engine reports the container not running, its client endpoint
no longer answers (the address a client held: docker-proxy is gone, so it is refused), and
a peer's network namespace can no longer connect to the target's peer port (within
chaos/net/reachability.py's REACH_TIMEOUT_S: a live peer port answers in well under a
millisecond). Cleanup starts
the container again; it comes back with its data (the data dir outlives the process) and a
new host port for its endpoint, which `EndpointTracker` follows.
"""

from __future__ import annotations

import asyncio
import logging
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from chaos_eval.chaos.net.reachability import PairProbe, probe_from
from chaos_eval.chaos.probes import (
    EndpointTracker,
    HttpOutcome,
    HttpProbe,
    probe_endpoint,
    probe_endpoint_of,
    serving_evidence,
)
from chaos_eval.engine.client import Docker
from chaos_eval.engine.containers import ContainerInfo
from chaos_eval.engine.helper_containers import HELPER_IMAGE_DEFAULT
from chaos_eval.errors import CleanupError, DockerError, FaultError
from chaos_eval.fault import Evidence, UndoAction, UndoOp
from chaos_eval.polling import poll_until
from chaos_eval.subject import Endpoint, Node, TrialContext

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 1.0
STOP_TIMEOUT_S = 15.0  # SIGTERM: how long the process may take to exit
VERIFY_REMOVED_TIMEOUT_S = 30.0


class NodeKillParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    signal: Literal["SIGKILL", "SIGTERM"] = "SIGKILL"


class NodeKillFault:
    """Kill every target container; see the module docstring."""

    kind: ClassVar[str] = "node_kill"

    def __init__(
        self,
        params: NodeKillParams,
        targets: tuple[Node, ...],
        cluster: tuple[Node, ...],
        ctx: TrialContext,
        docker: Docker,
        *,
        helper_image: str = HELPER_IMAGE_DEFAULT,
    ) -> None:
        if not targets:
            raise FaultError("node_kill: no targets")
        self.params, self.targets, self.cluster = params, targets, cluster
        self._docker, self._image = docker, helper_image
        self._labels = ctx.labels("helper")
        tnames = {t.name for t in targets}
        self._peers = tuple(sorted((n for n in cluster if n.name not in tnames), key=_name))
        self._endpoints: dict[str, Endpoint] = {}
        self._trackers: dict[str, EndpointTracker] = {}
        for node in targets:
            ep = probe_endpoint_of(node)
            if ep is None:
                raise FaultError(f"node_kill: node {node.name} publishes no endpoint to observe")
            self._endpoints[node.name] = ep
            self._trackers[node.name] = EndpointTracker(docker, node, ep)

    def describe(self) -> str:
        return f"node_kill {self.params.signal} {','.join(n.name for n in self.targets)}"

    def undo_plan(self) -> tuple[UndoAction, ...]:
        return tuple(UndoAction(UndoOp.START_CONTAINER, n.container_id) for n in self.targets)

    async def inject(self) -> None:
        for node in self.targets:
            await self._trackers[node.name].pin()  # before the kill unpublishes the port
            try:
                found = await self._docker.kill(node.container_id, self.params.signal)
            except DockerError as e:
                raise FaultError(f"node_kill {node.name}: {e}") from e
            if not found:
                raise FaultError(f"node_kill {node.name}: no such container")

    async def _peer_probe(self, node: Node) -> PairProbe | None:
        """From the first running peer's netns, try the target's peer port."""
        if not node.peer_ports:
            return None
        for peer in self._peers:
            info = await self._docker.inspect(peer.container_id)
            if info is not None and info.running and not info.paused:
                (probe,) = await probe_from(self._docker, self._labels, peer, (node,),
                                            image=self._image)
                return probe
        return None

    async def _dead(self, node: Node) -> tuple[bool, str, dict[str, str]]:
        """The engine's state, the endpoint a client held before the kill, and the peer port
        seen from a peer: three independent observations, all taken after the kill returned.
        The engine answers a SIGKILL once the container has exited, so all three start at
        once; when the state still reads running (SIGTERM: the process may take its time),
        poll it until stopped and only then probe, as a probe taken earlier proves nothing."""

        async def stopped() -> ContainerInfo | None:
            return await self._docker.inspect(node.container_id)

        def down(i: ContainerInfo | None) -> bool:
            return i is None or not i.running

        async def probes() -> tuple[HttpProbe, PairProbe | None]:
            return await asyncio.gather(
                probe_endpoint(self._endpoints[node.name], PROBE_TIMEOUT_S),
                self._peer_probe(node))

        observed: tuple[HttpProbe, PairProbe | None] | None = None
        if self.params.signal == "SIGKILL":
            info, observed = await asyncio.gather(stopped(), probes())
            if not down(info):
                observed = None
        if observed is None:
            info, _ = await poll_until(stopped, down, STOP_TIMEOUT_S)
            if not down(info):
                return False, f"{node.name}: still running", {}
            observed = await probes()
        probe, peer = observed
        fig = {f"{node.name}_endpoint": probe.outcome.value}
        fig[f"{node.name}_peer_probe"] = "none" if peer is None else str(peer)
        if probe.outcome is HttpOutcome.ANSWERED:
            return False, f"{node.name}: stopped, but its endpoint still answers", fig
        if peer is not None and peer.open:
            return False, f"{node.name}: stopped, but {peer} connects", fig
        seen = f", {peer}" if peer else ""
        return True, f"{node.name}: stopped, endpoint {probe.outcome.value}{seen}", fig

    async def verify_active(self) -> Evidence:
        """Each target is not running, its endpoint does not answer, and a peer cannot
        connect to its peer port."""
        results = await asyncio.gather(*(self._dead(n) for n in self.targets))
        figures: dict[str, float | str] = {"targets": len(self.targets)}
        for _, _, fig in results:
            figures.update(fig)
        figures["targets_down"] = sum(ok for ok, _, _ in results)
        return Evidence(
            all(ok for ok, _, _ in results), "; ".join(w for _, w, _ in results), figures
        )

    async def cleanup_chaos(self) -> None:
        """Start every target that is not running (unpause one found paused). Idempotent;
        a target that was already started again is left alone."""
        problems: list[str] = []
        for node in self.targets:
            try:
                info = await self._docker.inspect(node.container_id)
                if info is None:
                    problems.append(f"{node.name}: container is gone; cannot start it")
                elif info.paused:
                    await self._docker.unpause(node.container_id)
                elif not info.running:
                    await self._docker.start(node.container_id)
            except DockerError as e:
                info = await self._docker.inspect(node.container_id)
                if info is None or not info.running:
                    problems.append(f"{node.name}: {e}")
        if problems:
            raise CleanupError(f"node_kill cleanup failed: {'; '.join(problems)}")

    async def verify_removed(self) -> Evidence:
        """Each target runs and its endpoint (as published now) answers, polled to 30 s."""
        return await serving_evidence(
            self._docker,
            self.targets,
            self._trackers,
            probe_timeout_s=PROBE_TIMEOUT_S,
            deadline_s=VERIFY_REMOVED_TIMEOUT_S,
        )


def _name(node: Node) -> str:
    return node.name
