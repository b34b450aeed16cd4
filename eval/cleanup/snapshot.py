"""Per-node snapshots of everything a fault can leave behind, for proof of removal.

Each fault proves its own removal (`verify_removed`); this module is the second, generic
witness. Right before a fault's ledger row is written, and again after `verify_removed`,
the trial snapshots EVERY node of the cluster, observed from outside:

    qdiscs        `tc -j qdisc show`                  } one NET_ADMIN helper in the node's
    rules         `iptables-save` (every table): the  } netns (find runs both: no shell)
                  lines mentioning CHAOS_EVAL or chaos-eval
    fill files    `.chaos-eval-fill-*` on the node's data volume, and its size and free
                  bytes (find runs df)                 one helper with the volume, no caps
    state         created | running | paused | exited | ... | absent   engine API
    helpers       the trial's daemon helpers (named after its project), e.g. shapers

The helpers' argv and the parsers of their output are eval/cleanup/node_state.py (pure).
`compare(before, after)` names every difference ("etcd1: rule left: mangle: -A OUTPUT
..."); free space may differ by `free_tolerance(size)` (the subject writes meanwhile). A
non-empty difference makes the fault's proof of removal fail, so the trial ends
`cleanup_failed`. Anything that could not be observed is a difference too: what we cannot
see we cannot prove.

Helpers of one snapshot run concurrently (two per node, at most SNAPSHOT_CONCURRENCY at
once; about 3 s for three nodes on a busy 2-core machine). A subject is snapshotted only
when its images include the helper (registry.SUBJECT_IMAGES): in-memory subjects used at
the seams have no containers to observe and get `NoSnapshot`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from eval.cleanup.node_state import (
    VolumeUsage,
    harness_rules,
    netns_argv,
    parse_qdiscs,
    parse_volume_usage,
    split_netns_output,
    volume_usage_argv,
)
from eval.engine.client import Docker
from eval.engine.containers import HelperResult
from eval.errors import DockerError
from eval.fault import Evidence
from eval.images.recipes import image_ref
from eval.spec import registry
from eval.subject import LABEL_ROLE, Node, TrialContext

log = logging.getLogger(__name__)

SNAPSHOT_CONCURRENCY = 6
HELPER_TIMEOUT_S = 30.0
MIN_FREE_TOLERANCE = 8 << 20
FREE_TOLERANCE_FRAC = 0.03

# -- snapshots ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeSnapshot:
    node: str
    state: str  # the engine's status, or "absent"
    qdiscs: tuple[str, ...] | None = None  # None: no netns to look into (not running)
    rules: tuple[str, ...] | None = None
    volume: VolumeUsage | None = None  # None: the node has no data volume
    errors: tuple[str, ...] = ()  # what could not be observed, and why

    def to_json(self) -> dict[str, object]:
        vol = self.volume
        return {
            "state": self.state,
            "qdiscs": None if self.qdiscs is None else list(self.qdiscs),
            "rules": None if self.rules is None else list(self.rules),
            "fill_files": None if vol is None else [list(f) for f in vol.fill_files],
            "size_bytes": None if vol is None else vol.size,
            "free_bytes": None if vol is None else vol.avail,
            "errors": list(self.errors),
        }


@dataclass(frozen=True)
class ClusterSnapshot:
    nodes: tuple[NodeSnapshot, ...]
    helpers: tuple[str, ...] = ()
    seconds: float = 0.0
    errors: tuple[str, ...] = ()

    def node(self, name: str) -> NodeSnapshot | None:
        return next((n for n in self.nodes if n.node == name), None)

    def to_json(self) -> dict[str, object]:
        return {
            "nodes": {n.node: n.to_json() for n in self.nodes},
            "helpers": list(self.helpers),
            "seconds": round(self.seconds, 3),
            "errors": list(self.errors),
        }


def free_tolerance(size: int) -> int:
    """How far free bytes may move between two snapshots without being a difference."""
    return max(MIN_FREE_TOLERANCE, int(FREE_TOLERANCE_FRAC * size))


def _set_diff(name: str, what: str, before: Sequence[str], after: Sequence[str]) -> list[str]:
    out = [f"{name}: {what} left: {x}" for x in sorted(set(after) - set(before))]
    out += [f"{name}: {what} gone: {x}" for x in sorted(set(before) - set(after))]
    return out


def _compare_node(b: NodeSnapshot, a: NodeSnapshot) -> list[str]:
    n = b.node
    out = [f"{n}: before: could not observe {e}" for e in b.errors]
    out += [f"{n}: after: could not observe {e}" for e in a.errors]
    if a.state != b.state:
        out.append(f"{n}: state {b.state} -> {a.state}")
    for what, bv, av in (("qdisc", b.qdiscs, a.qdiscs), ("rule", b.rules, a.rules)):
        if bv is not None and av is not None:
            out += _set_diff(n, what, bv, av)
    bvol, avol = b.volume, a.volume
    if bvol is not None and avol is not None:
        out += _set_diff(
            n, "fill file", [f for f, _ in bvol.fill_files], [f for f, _ in avol.fill_files]
        )
        if avol.size != bvol.size:
            out.append(f"{n}: data filesystem size {bvol.size} -> {avol.size} bytes")
        tol = free_tolerance(bvol.size)
        if abs(avol.avail - bvol.avail) > tol:
            out.append(f"{n}: free bytes {bvol.avail} -> {avol.avail} (tolerance {tol})")
    return out


def compare(before: ClusterSnapshot, after: ClusterSnapshot) -> tuple[str, ...]:
    """Every difference between two snapshots of one cluster, as named discrepancies.
    Empty: the cluster is as it was. Pure."""
    out = [f"before: {e}" for e in before.errors] + [f"after: {e}" for e in after.errors]
    for b in before.nodes:
        a = after.node(b.node)
        out += [f"{b.node}: missing after"] if a is None else _compare_node(b, a)
    out += [f"{a.node}: new after" for a in after.nodes if before.node(a.node) is None]
    out += _set_diff("trial", "helper container", before.helpers, after.helpers)
    return tuple(out)


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
            try:
                return await self._netns(node)
            except (DockerError, ValueError) as e:
                return f"tc/iptables-save: {e}"

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

    async def confirm(self, removed: Evidence, proof: dict[str, Any]) -> Evidence:
        """Snapshot again and compare; store both and the difference in `proof`. Returns
        `removed`, made to fail (naming each discrepancy) when anything differs."""
        after = await self._take()
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


def diff_summary(diff: Sequence[str], limit: int = 10) -> str:
    more = f" (+{len(diff) - limit} more)" if len(diff) > limit else ""
    return "; ".join(diff[:limit]) + more
