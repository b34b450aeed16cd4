"""Node kill: stop the target containers with a signal through the engine API.

Observed from outside, three independent observations, each of the target after its process
died: the engine reports the container not running; its client endpoint no longer answers
(the address a client held: docker-proxy is gone, so it is refused); and a peer's network
namespace cannot connect to the target's peer port.

The peer's view comes first from a watch (chaos/net/reach_watch.py): inject starts it in
the node helper of a peer that has one and sends the kill once it is looking (within
WATCH_READY_S). It counts only through an attempt that failed having STARTED after the
engine's recorded exit time of the target (State.FinishedAt, set by the daemon once the
process has died), with no attempt connecting after that time. When none qualifies (no node
helper, the watch started late or broke, a SIGTERM'd process that took its time), a probe
after the kill decides, as before: a connect within chaos/net/reachability.py's
REACH_TIMEOUT_S (a live peer port answers in well under a millisecond). A watch's task is
awaited, or cancelled and awaited, on every path: by verify_active, by an inject that fails,
and by cleanup (which runs also when verify_active never did); its exec ends by the watch's
own deadline (WATCH_DEADLINE_S, the exec's time limit a little beyond it) whatever happens.

Cleanup starts the container again; it comes back with its data (the data dir outlives the
process) and a new host port for its endpoint, which `EndpointTracker` follows.
"""

from __future__ import annotations

import asyncio
import logging
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from chaos_eval.chaos.net.reach_watch import Watch, new_ready_path, until_watching, watch_from
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
from chaos_eval.engine.containers import ContainerInfo, engine_time_ns
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
        self._watches: dict[str, asyncio.Task[Watch | None]] = {}  # by target name

    def describe(self) -> str:
        return f"node_kill {self.params.signal} {','.join(n.name for n in self.targets)}"

    def undo_plan(self) -> tuple[UndoAction, ...]:
        return tuple(UndoAction(UndoOp.START_CONTAINER, n.container_id) for n in self.targets)

    async def inject(self) -> None:
        try:
            for node in self.targets:
                # before the kill: the watch looking (so it sees the port fail) and the
                # endpoint pinned (the kill unpublishes the port)
                await asyncio.gather(self._start_watch(node), self._trackers[node.name].pin())
                try:
                    found = await self._docker.kill(node.container_id, self.params.signal)
                except DockerError as e:
                    raise FaultError(f"node_kill {node.name}: {e}") from e
                if not found:
                    raise FaultError(f"node_kill {node.name}: no such container")
        except BaseException:
            await self._stop_watches()
            raise

    async def _start_watch(self, node: Node) -> None:
        """Start watching `node`'s peer port from the first peer with a node helper (a
        one-shot helper would take too long to start) and return once it is looking."""
        await self._stop_watches(node.name)
        if not node.peer_ports:
            return
        peer = next((p for p in self._peers if self._docker.node_helper_of(p.container_id)),
                    None)
        if peer is not None:
            ready = new_ready_path()
            task = asyncio.create_task(self._watch(peer, node, ready))
            self._watches[node.name] = task
            await until_watching(self._docker, peer, ready, task)

    async def _watch(self, peer: Node, node: Node, ready: str) -> Watch | None:
        try:
            return await watch_from(self._docker, self._labels, peer, node, ready,
                                    image=self._image)
        except (DockerError, FaultError) as e:
            log.info("node_kill %s: no watch from %s (%s): probing after", node.name, peer.name, e)
            return None

    async def _stop_watches(self, *names: str) -> None:
        """Cancel the watch tasks of `names` (all when none named) and wait until each ended
        (an exec already running in the helper ends by its own deadline)."""
        tasks = [self._watches.pop(n) for n in (names or tuple(self._watches))
                 if n in self._watches]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        for task in tasks:
            if not task.cancelled() and task.exception() is not None:
                log.warning("node_kill watch failed: %r", task.exception())

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
        seen from a peer: three independent observations of the target after its death.
        The engine answers a SIGKILL once the container has exited, so the state and the
        endpoint are taken at once, beside the end of the watch; when the state still reads
        running (SIGTERM: the process may take its time), poll it until stopped and only then
        probe, as a probe taken earlier proves nothing. The watch counts only through an
        attempt that started after the recorded exit; else the peer is probed now."""
        watch = self._watches.get(node.name)

        async def stopped() -> ContainerInfo | None:
            return await self._docker.inspect(node.container_id)

        def down(i: ContainerInfo | None) -> bool:
            return i is None or not i.running

        async def endpoint() -> HttpProbe:
            return await probe_endpoint(self._endpoints[node.name], PROBE_TIMEOUT_S)

        async def watched() -> Watch | None:
            return None if watch is None else await watch

        observed: tuple[HttpProbe, Watch | None] | None = None
        if self.params.signal == "SIGKILL":
            info, first, seen = await asyncio.gather(stopped(), endpoint(), watched())
            observed = (first, seen) if down(info) else None
        if observed is None:
            info, _ = await poll_until(stopped, down, STOP_TIMEOUT_S)
            if not down(info):
                return False, f"{node.name}: still running", {}
            observed = await asyncio.gather(endpoint(), watched())
        probe, seen = observed
        exited_ns = None if info is None else engine_time_ns(info.finished_at)
        peer = None if seen is None else seen.proof(exited_ns)
        fig = {f"{node.name}_endpoint": probe.outcome.value,
               f"{node.name}_peer_seen": "probed after the kill (no watch)" if seen is None
               else seen.account(exited_ns)}
        if peer is None:
            peer = await self._peer_probe(node)
        fig[f"{node.name}_peer_probe"] = "none" if peer is None else str(peer)
        if probe.outcome is HttpOutcome.ANSWERED:
            return False, f"{node.name}: stopped, but its endpoint still answers", fig
        if peer is not None and peer.open:
            return False, f"{node.name}: stopped, but {peer} connects", fig
        seen_by = f", {peer}" if peer else ""
        return True, f"{node.name}: stopped, endpoint {probe.outcome.value}{seen_by}", fig

    async def verify_active(self) -> Evidence:
        """Each target is not running, its endpoint does not answer, and a peer cannot
        connect to its peer port."""
        try:
            results = await asyncio.gather(*(self._dead(n) for n in self.targets))
        finally:
            await self._stop_watches()
        figures: dict[str, float | str] = {"targets": len(self.targets)}
        for _, _, fig in results:
            figures.update(fig)
        figures["targets_down"] = sum(ok for ok, _, _ in results)
        return Evidence(
            all(ok for ok, _, _ in results), "; ".join(w for _, w, _ in results), figures
        )

    async def cleanup_chaos(self) -> None:
        """Start every target that is not running (unpause one found paused). Idempotent;
        a target that was already started again is left alone. Ends any watch still
        running first (verify_active may never have run)."""
        await self._stop_watches()
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
