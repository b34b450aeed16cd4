"""Pure, reproducible choice of the nodes a fault acts on.

A target spec is one of

    random     one node, chosen with the trial's seed
    leader     the node leading now (the caller asks the subject's LeaderAware)
    follower   one node that is not the leader, chosen with the seed
    all        every node
    minority   floor((n-1)/2) nodes (at least 1), chosen with the seed
    majority   floor(n/2)+1 nodes, chosen with the seed
    <name>     the node with that name (^[a-z0-9][a-z0-9_.-]{0,62}$)

`role` narrows the candidates first (pd/tikv, primary/replica/sentinel). Every choice is
made by `random.Random(seed)` over the candidates sorted by name, so the same spec, nodes
and seed always give the same targets, whatever order the subject listed its nodes in.
The result is sorted by name. Keywords win over node names: a node called "leader" can
only be targeted as `leader`.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from enum import StrEnum

from chaos_eval.errors import FaultError, ParameterError
from chaos_eval.subject import Node

NODE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


class TargetKind(StrEnum):
    RANDOM = "random"
    LEADER = "leader"
    FOLLOWER = "follower"
    ALL = "all"
    MINORITY = "minority"
    MAJORITY = "majority"
    NODE = "node"  # a node named explicitly; not itself a valid spec string


_KEYWORDS = tuple(k.value for k in TargetKind if k is not TargetKind.NODE)


@dataclass(frozen=True)
class TargetSpec:
    """A parsed target spec: a keyword, or NODE with the node's name."""

    kind: TargetKind
    node: str | None = None

    @classmethod
    def parse(cls, spec: str) -> TargetSpec:
        """Parse a spec string; raise ParameterError with the reason when it is not one."""
        reason = validate_target(spec)
        if reason is not None:
            raise ParameterError(reason)
        if spec in _KEYWORDS:
            return cls(TargetKind(spec))
        return cls(TargetKind.NODE, spec)

    def __str__(self) -> str:
        return self.node if self.kind is TargetKind.NODE and self.node else self.kind.value


def validate_target(spec: str) -> str | None:
    """None when `spec` is a valid target spec, else a one-line reason for a config error."""
    if spec in _KEYWORDS:
        return None
    if NODE_NAME_RE.fullmatch(spec):
        return None
    return (
        f"invalid target {spec!r}: expected one of {', '.join(_KEYWORDS)} "
        "or a node name matching ^[a-z0-9][a-z0-9_.-]{0,62}$"
    )


def minority_size(n: int) -> int:
    """floor((n-1)/2), at least 1: the largest group whose loss keeps a quorum (n >= 3)."""
    return max(1, (n - 1) // 2)


def majority_size(n: int) -> int:
    """floor(n/2)+1: the smallest group that is a quorum."""
    return n // 2 + 1


def select_targets(
    spec: str,
    nodes: tuple[Node, ...],
    seed: int,
    leader: str | None,
    role: str | None,
) -> tuple[Node, ...]:
    """The nodes `spec` names among `nodes` (filtered by `role`), sorted by name.

    Pure and deterministic for a given (spec, node set, seed, leader, role). Raises
    ParameterError for an invalid spec and FaultError when the spec cannot be satisfied
    (no candidates, unknown node, `leader`/`follower` without a known leader, a follower
    asked of a one-node group).
    """
    parsed = TargetSpec.parse(spec)
    pool = tuple(sorted((n for n in nodes if role is None or n.role == role), key=_name))
    where = f" with role {role!r}" if role is not None else ""
    if not pool:
        raise FaultError(f"target {spec!r}: no nodes{where} to choose from")
    names = [n.name for n in pool]
    if len(set(names)) != len(names):
        raise FaultError(f"target {spec!r}: duplicate node names in {names}")
    rng = random.Random(seed)
    kind = parsed.kind

    if kind is TargetKind.NODE:
        chosen = [n for n in pool if n.name == parsed.node]
        if not chosen:
            raise FaultError(f"target {spec!r}: no such node{where}; nodes are {names}")
        return tuple(chosen)
    if kind is TargetKind.ALL:
        return pool
    if kind is TargetKind.RANDOM:
        return (rng.choice(pool),)
    if kind is TargetKind.MINORITY:
        return _sample(rng, pool, minority_size(len(pool)))
    if kind is TargetKind.MAJORITY:
        return _sample(rng, pool, majority_size(len(pool)))

    # leader / follower
    if leader is None:
        raise FaultError(
            f"target {spec!r} needs the current leader, but none is known (the subject "
            "is not LeaderAware, or the cluster has no leader right now)"
        )
    leaders = [n for n in pool if n.name == leader]
    if not leaders:
        raise FaultError(
            f"target {spec!r}: leader {leader!r} is not among the nodes{where} {names}"
        )
    if kind is TargetKind.LEADER:
        return (leaders[0],)
    followers = tuple(n for n in pool if n.name != leader)
    if not followers:
        raise FaultError(f"target {spec!r}: the leader {leader!r} is the only node{where}")
    return (rng.choice(followers),)


def _name(node: Node) -> str:
    return node.name


def _sample(rng: random.Random, pool: tuple[Node, ...], k: int) -> tuple[Node, ...]:
    return tuple(sorted(rng.sample(pool, min(k, len(pool))), key=_name))
