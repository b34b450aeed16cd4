"""The generic proof of removal: every node of the cluster snapshotted (eval/cleanup/
snapshot.py) right before a fault's ledger row is written and again after `verify_removed`,
observed from outside, and the two compared (`RemovalCheck`, the trial's seam):

    qdiscs, rules,  ONE NET_ADMIN helper in the node's netns with its data volume mounted
    fill files      (find runs `tc -j qdisc show`, `iptables-save` and df: no shell); a
                    node without a volume gets the netns part, a stopped one (no netns)
                    the volume part, in a helper with no caps
    state           engine API
    helpers         the trial's daemon helpers, by label and name

The helpers' argv and the parsers of their output are eval/cleanup/node_state.py (pure).
Helpers of one snapshot run concurrently (one per node, at most SNAPSHOT_CONCURRENCY at
once). A subject is snapshotted only when its images include the helper
(registry.SUBJECT_IMAGES): in-memory subjects used at the seams have no containers to
observe and get `NoSnapshot`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from chaos_eval.cleanup.node_state import (
    VolumeUsage,
    harness_rules,
    netns_argv,
    node_argv,
    parse_node_output,
    parse_qdiscs,
    parse_volume_usage,
    split_netns_output,
    volume_usage_argv,
)
from chaos_eval.cleanup.snapshot import ClusterSnapshot, NodeSnapshot, compare, diff_summary
from chaos_eval.engine.client import Docker
from chaos_eval.engine.containers import HelperResult
from chaos_eval.errors import DockerError
from chaos_eval.fault import Evidence
from chaos_eval.images.recipes import image_ref
from chaos_eval.spec import registry
from chaos_eval.subject import LABEL_ROLE, Node, TrialContext

log = logging.getLogger(__name__)

SNAPSHOT_CONCURRENCY = 6
HELPER_TIMEOUT_S = 30.0

# -- observing ------------------------------------------------------------------------------


class Snapshotter(Protocol):
    async def take(self, nodes: Sequence[Node]) -> ClusterSnapshot:
        """Observe every node; never raises for what cannot be observed (it is recorded in
        `errors`). Changes nothing on any node."""


class NoSnapshot:
    """For subjects with no containers to observe (the in-memory ones used at the seams)."""

    async def take(self, nodes: Sequence[Node]) -> ClusterSnapshot:
        return ClusterSnapshot(tuple(NodeSnapshot(n.name, "unobserved") for n in nodes))


class DockerSnapshotter:
    """Snapshots through the engine API and one-shot helpers (module docstring)."""

    def __init__(self, docker: Docker, ctx: TrialContext, image: str | None = None) -> None:
        self._docker, self._ctx = docker, ctx
        self._image = image or image_ref("helper")
        self._labels = ctx.labels("helper")
        self._gate = asyncio.Semaphore(SNAPSHOT_CONCURRENCY)

    async def _helper(self, argv: tuple[str, ...], **kw: Any) -> HelperResult:
        """Run one helper, retried once when the engine fails it."""
        async with self._gate:
            try:
                return await self._docker.run_helper(
                    argv, labels=self._labels, image=self._image, timeout_s=HELPER_TIMEOUT_S, **kw
                )
            except DockerError as e:
                log.info("snapshot helper %s failed (%s); retrying once", argv[0], e)
                return await self._docker.run_helper(
                    argv, labels=self._labels, image=self._image, timeout_s=HELPER_TIMEOUT_S, **kw
                )

    async def _netns(self, node: Node) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(qdiscs, harness rules) in the node's netns; DockerError/ValueError if unseen.
        find exits 0 whatever its -exec commands did, so stderr is the failure signal."""
        res = await self._helper(netns_argv(), netns_of=node.container_id)
        if not res.ok or res.stderr.strip():
            raise ValueError(f"exit {res.exit_code}: {res.stderr.strip()[:200]}")
        tc, ipt = split_netns_output(res.stdout)
        return parse_qdiscs(tc), harness_rules(ipt)

    async def _volume(self, node: Node) -> tuple[VolumeUsage | None, str]:
        if node.data_volume is None:
            return None, ""
        try:
            if await self._docker.volume_info(node.data_volume) is None:
                return None, f"data volume {node.data_volume} is gone"
            res = await self._helper(volume_usage_argv(), volume=node.data_volume, caps=())
        except DockerError as e:
            return None, f"data volume: {e}"
        try:
            return parse_volume_usage(res.stdout), ""
        except ValueError as e:
            return None, f"data volume: exit {res.exit_code}: {e}; {res.stderr.strip()[:200]}"

    async def _combined(
        self, node: Node
    ) -> tuple[tuple[tuple[str, ...], tuple[str, ...]] | str, tuple[VolumeUsage | None, str]]:
        """A running node with a data volume: netns and volume seen by ONE helper. Returns
        what `_node` gathers from the two one-shot helpers otherwise (errors as strings)."""
        assert node.data_volume is not None
        try:
            if await self._docker.volume_info(node.data_volume) is None:
                return await self._netns_or_error(node), (
                    None, f"data volume {node.data_volume} is gone")
            res = await self._helper(node_argv(), netns_of=node.container_id,
                                     volume=node.data_volume)
        except DockerError as e:
            return f"tc/iptables-save: {e}", (None, f"data volume: {e}")
        if not res.ok or res.stderr.strip():
            why = f"exit {res.exit_code}: {res.stderr.strip()[:200]}"
            return f"tc/iptables-save: {why}", (None, f"data volume: {why}")
        try:
            qdiscs, rules, vol = parse_node_output(res.stdout)
        except ValueError as e:
            return f"tc/iptables-save/df: {e}", (None, f"data volume: {e}")
        return (qdiscs, rules), (vol, "")

    async def _netns_or_error(self, node: Node) -> tuple[tuple[str, ...], tuple[str, ...]] | str:
        try:
            return await self._netns(node)
        except (DockerError, ValueError) as e:
            return f"tc/iptables-save: {e}"

    async def _node(self, node: Node) -> NodeSnapshot:
        errors: list[str] = []
        try:
            info = await self._docker.inspect(node.container_id)
        except DockerError as e:
            return NodeSnapshot(node.name, "unknown", errors=(f"state: {e}",))
        state = "absent" if info is None else info.status
        in_netns = info is not None and info.running  # a paused container keeps its netns

        async def netns() -> tuple[tuple[str, ...], tuple[str, ...]] | str | None:
            if not in_netns:
                return None  # no netns: nothing of ours can be inside one
            return await self._netns_or_error(node)

        seen: tuple[tuple[str, ...], tuple[str, ...]] | str | None
        if in_netns and node.data_volume is not None:
            seen, (vol, vol_err) = await self._combined(node)
        else:
            seen, (vol, vol_err) = await asyncio.gather(netns(), self._volume(node))
        qdiscs = rules = None
        if isinstance(seen, str):
            errors.append(seen)
        elif seen is not None:
            qdiscs, rules = seen
        if vol_err:
            errors.append(vol_err)
        return NodeSnapshot(node.name, state, qdiscs, rules, vol, tuple(errors))

    async def _helpers(self) -> tuple[str, ...]:
        """The trial's daemon helpers: named after its project (one-shot helpers are not)."""
        found = await self._docker.find_containers(self._labels)
        prefix = self._ctx.project + "-"
        return tuple(
            sorted(
                i.name
                for i in found
                if i.labels.get(LABEL_ROLE) == "helper" and i.name.startswith(prefix)
            )
        )

    async def take(self, nodes: Sequence[Node]) -> ClusterSnapshot:
        t0 = time.monotonic()
        errors: list[str] = []
        try:
            helpers = await self._helpers()  # before this snapshot's own helpers start
        except DockerError as e:
            helpers, errors = (), [f"helper containers: {e}"]
        snaps = await asyncio.gather(*(self._node(n) for n in nodes))
        return ClusterSnapshot(tuple(snaps), helpers, time.monotonic() - t0, tuple(errors))


def snapshotter_for(subject_type: str, docker: Docker, ctx: TrialContext) -> Snapshotter:
    """DockerSnapshotter for subjects that run in containers with the helper image
    available, NoSnapshot for the rest."""
    if "helper" in registry.SUBJECT_IMAGES.get(subject_type, ()):
        return DockerSnapshotter(docker, ctx)
    return NoSnapshot()


# -- the trial's seam -----------------------------------------------------------------------


@dataclass
class RemovalCheck:
    """A before-snapshot, kept until the fault's removal is to be confirmed."""

    snapshotter: Snapshotter
    nodes: tuple[Node, ...]
    timeout_s: float
    before: ClusterSnapshot = field(default_factory=lambda: ClusterSnapshot(()))

    async def _take(self) -> ClusterSnapshot:
        try:
            return await asyncio.wait_for(self.snapshotter.take(self.nodes), self.timeout_s)
        except TimeoutError:
            return ClusterSnapshot(
                tuple(NodeSnapshot(n.name, "unknown") for n in self.nodes),
                errors=(f"snapshot timed out ({self.timeout_s}s)",),
            )

    async def take_after(self) -> ClusterSnapshot:
        """The after-snapshot: once the fault's cleanup has returned, it observes, changes
        nothing, and so may run beside the fault's own verify_removed."""
        return await self._take()

    async def confirm(
        self, removed: Evidence, proof: dict[str, Any], after: ClusterSnapshot | None = None
    ) -> Evidence:
        """Compare with the after-snapshot (taken now unless given); store both and the
        difference in `proof`. Returns `removed`, made to fail (naming each discrepancy)
        when anything differs."""
        after = after if after is not None else await self._take()
        diff = compare(self.before, after)
        proof["snapshot_after"] = after.to_json()
        proof["snapshot_diff"] = list(diff)
        if not diff:
            return removed
        figures = {**removed.figures, "snapshot_discrepancies": len(diff)}
        return Evidence(
            False, f"{removed.summary}; snapshot differs: {diff_summary(diff)}", figures
        )


async def snapshot_before(
    subject_type: str,
    docker: Docker,
    ctx: TrialContext,
    nodes: Sequence[Node],
    proof: dict[str, Any],
    timeout_s: float,
) -> RemovalCheck:
    """Snapshot every node before the fault; store it in proof["snapshot_before"]."""
    check = RemovalCheck(snapshotter_for(subject_type, docker, ctx), tuple(nodes), timeout_s)
    check.before = await check._take()
    proof["snapshot_before"] = check.before.to_json()
    return check
