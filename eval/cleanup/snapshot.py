"""Per-node snapshots of everything a fault can leave behind, for proof of removal: what a
snapshot holds, and how two differ.

Each fault proves its own removal (`verify_removed`); a snapshot comparison is the second,
generic witness (taken by eval/cleanup/removal_proof.py before the fault's ledger row is
written and again after `verify_removed`). A snapshot holds, for EVERY node of the cluster,
observed from outside:

    qdiscs        `tc -j qdisc show`
    rules         `iptables-save` (every table): the lines mentioning CHAOS_EVAL or chaos-eval
    fill files    `.chaos-eval-fill-*` on the node's data volume, and its size and free bytes
    state         created | running | paused | exited | ... | absent
    helpers       the trial's daemon helpers (named after its project), e.g. shapers

`compare(before, after)` names every difference ("etcd1: rule left: mangle: -A OUTPUT
..."); free space may differ by `free_tolerance(size)` (the subject writes meanwhile). A
non-empty difference makes the fault's proof of removal fail, so the trial ends
`cleanup_failed`. Anything that could not be observed is a difference too: what we cannot
see we cannot prove. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chaos_eval.cleanup.node_state import VolumeUsage

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


def diff_summary(diff: Sequence[str], limit: int = 10) -> str:
    more = f" (+{len(diff) - limit} more)" if len(diff) > limit else ""
    return "; ".join(diff[:limit]) + more
