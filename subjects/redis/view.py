"""Pure judgement of a Redis-with-Sentinel cluster from what its nodes answered: which node
the sentinels name as primary, and whether the cluster is healthy. No I/O here.

Healthy means: every sentinel answers and all of them name the same primary, each reports
that it and its peers can authorise a failover (SENTINEL ckquorum), that primary reports
itself master with every other Redis node attached as an online replica, and every other
Redis node reports itself a replica of that primary with its link up and no sync running.
(The subject then writes a probe key, waits for both replicas to acknowledge it, and reads
it back.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chaos_eval.subject import Node
from chaos_eval.subjects.redis.resp import Replication, majority

REDIS_PORT = 6379
SENTINEL_PORT = 26379
MAX_REPLICA_LAG_S = 1  # INFO replication `lag`: seconds since the replica's last ACK

# the role Redis reports (ROLE, INFO replication) -> the node role chaos-eval uses
ROLE_NAMES: Mapping[str, str] = {"master": "primary", "slave": "replica", "sentinel": "sentinel"}


@dataclass(frozen=True)
class SentinelView:
    """One sentinel's answers: the primary it names and whether it can reach a quorum."""

    master: tuple[str, int] | None = None
    quorum: bool = False
    error: str = ""  # why it could not be asked (transport error, error reply)


def node_for_address(host: str, port: int, nodes: Sequence[Node]) -> Node | None:
    """The Redis node a sentinel or primary names by `host` (a hostname, which is the compose
    service name here, or an IP on the private network) and `port`."""
    if port != REDIS_PORT:
        return None
    for node in nodes:
        if node.role != "sentinel" and host in (node.name, node.address):
            return node
    return None


def agreed_primary(
    views: Mapping[str, SentinelView], nodes: Sequence[Node], of: int
) -> tuple[Node | None, list[str]]:
    """The node more than half of `of` sentinels name, and a reason for every sentinel that
    could not be asked or names another node (or an address that is not ours)."""
    reasons: list[str] = []
    named: dict[str, str | None] = {}
    for name, view in sorted(views.items()):
        if view.error:
            reasons.append(f"{name}: {view.error}")
            named[name] = None
            continue
        if view.master is None:
            reasons.append(f"{name}: does not know the primary")
            named[name] = None
            continue
        node = node_for_address(*view.master, nodes)
        if node is None:
            reasons.append(f"{name}: names {view.master[0]}:{view.master[1]}, not one of ours")
        named[name] = node.name if node else None
        if not view.quorum:
            reasons.append(f"{name}: no quorum to authorise a failover (ckquorum)")
    winner = majority(list(named.values()), of)
    if len({v for v in named.values() if v is not None}) > 1:
        reasons.append(f"sentinels disagree on the primary: {dict(sorted(named.items()))}")
    primary = next((n for n in nodes if n.name == winner), None)
    return primary, reasons


def replication_reasons(
    primary: Node, data_nodes: Sequence[Node], repl: Mapping[str, Replication | str]
) -> list[str]:
    """Why the Redis nodes are not one primary with every other node as an in-sync replica
    (empty when they are). `repl` maps node name -> INFO replication, or why it is missing."""
    reasons: list[str] = []
    for node in data_nodes:
        r = repl.get(node.name, "not asked")
        if isinstance(r, str):
            reasons.append(f"{node.name}: {r}")
            continue
        if node.name == primary.name:
            if r.role != "master":
                reasons.append(f"{node.name}: named primary by the sentinels but is a {r.role}")
                continue
            online = {
                n.name
                for link in r.replicas
                if link.state == "online" and link.lag <= MAX_REPLICA_LAG_S
                and (n := node_for_address(link.host, link.port, data_nodes)) is not None
            }
            missing = sorted(n.name for n in data_nodes if n.name != node.name)
            missing = [m for m in missing if m not in online]
            if missing:
                reasons.append(f"{node.name}: replicas not online and in sync: {missing}")
            continue
        if r.role != "slave":
            reasons.append(f"{node.name}: is a {r.role}, want a replica of {primary.name}")
        elif r.master_host not in (primary.name, primary.address):
            reasons.append(f"{node.name}: replicates {r.master_host}, want {primary.name}")
        elif not r.link_up:
            reasons.append(f"{node.name}: link to {primary.name} is down")
        elif r.syncing:
            reasons.append(f"{node.name}: full sync from {primary.name} in progress")
    return reasons
