"""Pause: freeze the target containers (`docker pause`, the cgroup freezer).

How the freeze is observed from outside, and why this way:

- `docker inspect` saying Paused is the engine's bookkeeping, not an observation of the
  process, so it is required but not sufficient.
- A TCP connect proves nothing: the kernel completes handshakes for a frozen process's
  listening socket (and docker-proxy accepts on 127.0.0.1 regardless), so `nc -z` from a
  peer still succeeds while the member is frozen.
- Reading the freezer state in /sys/fs/cgroup would read back what the harness asked for.

So the observation is an application-level request through the node's published client
endpoint: `POST /v3/maintenance/status` (any HTTP response counts as "serving", so this
works for any HTTP endpoint; a Redis endpoint, `protocol="resp"`, is sent PING instead, see
chaos/probes.py). Before the pause it must answer; while paused it must time out - the
connection is accepted, the request is never answered. The time it is given is
FROZEN_FACTOR times what the baseline request took, between FROZEN_MIN_S and
PROBE_TIMEOUT_S. The engine reports Paused only once the cgroup freezer says FROZEN, so the
request is corroboration, not the only witness: a serving member answers this local request
in milliseconds (the baseline's figure includes making the client), so silence for 5x the
baseline and at least 0.3 s beside the engine's word is a freeze, not a slow answer.
After cleanup it must answer again within a deadline.
"""

from __future__ import annotations

import asyncio
import logging
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from chaos_eval.chaos.probes import (
    EndpointTracker,
    HttpOutcome,
    HttpProbe,
    probe_endpoint_of,
    probe_tracked,
    serving_evidence,
)
from chaos_eval.engine.client import Docker
from chaos_eval.engine.helper_containers import HELPER_IMAGE_DEFAULT
from chaos_eval.errors import CleanupError, DockerError, FaultError
from chaos_eval.fault import Evidence, UndoAction, UndoOp
from chaos_eval.polling import poll_until
from chaos_eval.subject import Node, TrialContext

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 1.0
FROZEN_FACTOR, FROZEN_MIN_S = 5.0, 0.3
VERIFY_ACTIVE_TIMEOUT_S = 5.0
VERIFY_REMOVED_TIMEOUT_S = 30.0


class PauseParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PauseFault:
    """Freeze every target with the cgroup freezer; see the module docstring."""

    kind: ClassVar[str] = "pause"

    def __init__(
        self,
        params: PauseParams,
        targets: tuple[Node, ...],
        cluster: tuple[Node, ...],
        ctx: TrialContext,
        docker: Docker,
        *,
        helper_image: str = HELPER_IMAGE_DEFAULT,  # unused: no helper; uniform signature
    ) -> None:
        if not targets:
            raise FaultError("pause: no targets")
        self.params, self.targets, self.cluster = params, targets, cluster
        self._docker = docker
        self._trackers: dict[str, EndpointTracker] = {}
        for node in targets:
            ep = probe_endpoint_of(node)
            if ep is None:
                raise FaultError(f"pause: node {node.name} publishes no endpoint to observe")
            self._trackers[node.name] = EndpointTracker(docker, node, ep)
        self._baseline: dict[str, HttpProbe] = {}

    def describe(self) -> str:
        return f"pause {','.join(n.name for n in self.targets)}"

    def undo_plan(self) -> tuple[UndoAction, ...]:
        return tuple(UndoAction(UndoOp.UNPAUSE_CONTAINER, n.container_id) for n in self.targets)

    async def inject(self) -> None:
        """Probe each endpoint (the baseline verify_active compares with), then pause."""
        for node in self.targets:
            tracker = self._trackers[node.name]
            await tracker.pin()
            self._baseline[node.name] = await probe_tracked(tracker, PROBE_TIMEOUT_S)
            try:
                found = await self._docker.pause(node.container_id)
            except DockerError as e:
                raise FaultError(f"pause {node.name}: {e}") from e
            if not found:
                raise FaultError(f"pause {node.name}: no such container")

    async def _frozen(self, node: Node) -> tuple[bool, str, HttpProbe | None]:
        info = await self._docker.inspect(node.container_id)
        if info is None or not info.paused:
            return False, f"{node.name}: not paused ({info.status if info else 'gone'})", None
        probe = await probe_tracked(self._trackers[node.name], self.frozen_timeout(node))
        if probe.outcome is not HttpOutcome.TIMEOUT:
            return False, f"{node.name}: endpoint {probe.outcome.value}, not frozen", probe
        return True, f"{node.name}: paused, request timed out", probe

    def frozen_timeout(self, node: Node) -> float:
        """How long a request to the paused `node` must go unanswered (module docstring)."""
        base = self._baseline.get(node.name)
        took = base.elapsed_s if base is not None else PROBE_TIMEOUT_S
        return min(PROBE_TIMEOUT_S, max(FROZEN_MIN_S, FROZEN_FACTOR * took))

    async def verify_active(self) -> Evidence:
        """Each target is Paused and its endpoint, which answered before, now times out."""
        base_bad = [
            f"{name}: endpoint did not answer before the pause ({p.outcome.value})"
            for name, p in self._baseline.items()
            if p.outcome is not HttpOutcome.ANSWERED
        ]

        async def check() -> list[tuple[bool, str, HttpProbe | None]]:
            return list(await asyncio.gather(*(self._frozen(n) for n in self.targets)))

        results, took = await poll_until(
            check, lambda rs: all(ok for ok, _, _ in rs), VERIFY_ACTIVE_TIMEOUT_S
        )
        frozen = sum(ok for ok, _, _ in results)
        figures: dict[str, float | str] = {
            "targets": len(self.targets),
            "endpoints_frozen": frozen,
            "baseline_answered": len(self._baseline) - len(base_bad),
            "frozen_timeout_s": round(max(self.frozen_timeout(n) for n in self.targets), 3),
            "seconds": round(took, 3),
        }
        bad = base_bad + [why for ok, why, _ in results if not ok]
        if bad:
            return Evidence(False, "; ".join(bad), figures)
        return Evidence(True, "; ".join(why for _, why, _ in results), figures)

    async def cleanup_chaos(self) -> None:
        """Unpause every target that is paused. A target that is gone, stopped or was
        restarted meanwhile is not paused, so there is nothing to do for it."""
        problems: list[str] = []
        for node in self.targets:
            try:
                info = await self._docker.inspect(node.container_id)
                if info is not None and info.paused:
                    await self._docker.unpause(node.container_id)
            except DockerError as e:
                info = await self._docker.inspect(node.container_id)
                if info is not None and info.paused:
                    problems.append(f"{node.name}: {e}")
                # else: it was unpaused or stopped under us - the freeze is gone either way
        if problems:
            raise CleanupError(f"pause cleanup failed: {'; '.join(problems)}")

    async def verify_removed(self) -> Evidence:
        """Each target runs unpaused and its endpoint answers again (polled to a deadline)."""
        return await serving_evidence(
            self._docker,
            self.targets,
            self._trackers,
            probe_timeout_s=PROBE_TIMEOUT_S,
            deadline_s=VERIFY_REMOVED_TIMEOUT_S,
        )
