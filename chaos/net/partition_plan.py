"""Who cannot talk to whom in a partition, computed from the trial's targets. Pure.

Shapes (the trial's targets define one side):

    isolate   targets | everyone else
    split     targets | the rest (targets usually chosen with `minority`)
    bridge    left half | bridge | right half: the one target (the bridge) talks to both
              halves, the halves cannot talk to each other (3 nodes: A | bridge | C)

The plan also lists, for each affected node, the peer addresses it drops (checked IPv4: they
go into a rules file, chaos/net/partition_rules.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from chaos_eval.chaos.net.addresses import checked_ipv4
from chaos_eval.errors import FaultError
from chaos_eval.subject import Node

Shape = Literal["isolate", "split", "bridge"]


@dataclass(frozen=True)
class PartitionPlan:
    """Who cannot talk to whom, and the peer addresses each affected node drops."""

    sides: tuple[tuple[str, ...], ...]  # for describe(): the groups, bridge in the middle
    blocked: frozenset[tuple[str, str]]  # unordered pairs, stored as (smaller, larger) names
    drops: Mapping[str, tuple[str, ...]]  # node name -> peer IPs it drops (affected nodes)

    def is_blocked(self, a: str, b: str) -> bool:
        return (min(a, b), max(a, b)) in self.blocked


def plan_partition(
    shape: Shape, targets: tuple[Node, ...], cluster: tuple[Node, ...]
) -> PartitionPlan:
    """Compute the partition; FaultError when the targets cannot form that shape.
    Addresses are validated (IPv4) before they can reach an argv."""
    by_name = {n.name: n for n in cluster}
    if len(by_name) != len(cluster):
        raise FaultError(f"partition: duplicate node names in {[n.name for n in cluster]}")
    tnames = sorted({t.name for t in targets})
    if not tnames:
        raise FaultError("partition: no targets")
    unknown = [t for t in tnames if t not in by_name]
    if unknown:
        raise FaultError(f"partition: targets {unknown} are not cluster members")
    rest = sorted(set(by_name) - set(tnames))

    if shape in ("isolate", "split"):
        if not rest:
            raise FaultError(f"partition {shape}: the targets are the whole cluster")
        sides: tuple[tuple[str, ...], ...] = (tuple(tnames), tuple(rest))
        pairs = [(a, b) for a in tnames for b in rest]
    else:
        if len(tnames) != 1:
            raise FaultError(f"partition bridge: needs exactly one target, got {tnames}")
        if len(rest) < 2:
            raise FaultError("partition bridge: needs at least 3 nodes")
        left, right = rest[: len(rest) // 2], rest[len(rest) // 2 :]
        sides = (tuple(left), tuple(tnames), tuple(right))
        pairs = [(a, b) for a in left for b in right]

    blocked = frozenset((min(a, b), max(a, b)) for a, b in pairs)
    drops: dict[str, list[str]] = {}
    for a, b in sorted(blocked):
        drops.setdefault(a, []).append(checked_ipv4(by_name[b].address))
        drops.setdefault(b, []).append(checked_ipv4(by_name[a].address))
    return PartitionPlan(sides, blocked, {k: tuple(sorted(v)) for k, v in drops.items()})
