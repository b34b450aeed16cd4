"""Network partition: iptables DROP rules between members on the cluster's private network.

Shapes (the trial's targets define one side):

    isolate   targets | everyone else
    split     targets | the rest (targets usually chosen with `minority`)
    bridge    left half | bridge | right half: the one target (the bridge) talks to both
              halves, the halves cannot talk to each other (3 nodes: A | bridge | C)

Mechanism, in the filter table of EACH affected node's network namespace, run from a
one-shot NET_ADMIN helper joined to it (the target image needs no tools):

    iptables -N CHAOS_EVAL_PART
    iptables -A CHAOS_EVAL_PART -s <peer ips> -j DROP      # matches on the INPUT path
    iptables -A CHAOS_EVAL_PART -d <peer ips> -j DROP      # matches on the OUTPUT path
    iptables -I INPUT 1  -m comment --comment chaos-eval -j CHAOS_EVAL_PART
    iptables -I OUTPUT 1 -m comment --comment chaos-eval -j CHAOS_EVAL_PART

The jumps go in last, so a node's rules take effect all at once. Only peer addresses on
the private network are dropped: clients reaching a node through its port published on
127.0.0.1 arrive from the bridge gateway (docker-proxy), which is not a peer, so they still
get through. Cleanup deletes exactly the two jumps (`-C` then `-D`, while present) and the
harness chain (`-F`, `-X`); it never flushes a built-in chain.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from chaos.probes import (
    HELPER_CONCURRENCY,
    PairProbe,
    checked_ipv4,
    ordered_pairs,
    peer_port,
    poll_until,
    reachability,
)
from eval.docker import HELPER_IMAGE_DEFAULT, Docker, HelperResult
from eval.errors import CleanupError, DockerError, FaultError
from eval.fault import Evidence, UndoAction, UndoOp
from eval.subject import Node, TrialContext

log = logging.getLogger(__name__)

CHAIN = "CHAOS_EVAL_PART"
COMMENT = "chaos-eval"
HOOKS = ("INPUT", "OUTPUT")
IPTABLES = ("iptables", "-w", "5")
# exit codes (iptables 1.8, nft and legacy): 1 = rule/chain absent (or already exists, for
# -N); 2 = -C/-D of a jump to a chain that does not exist; 4 = -X of a chain still in use
ABSENT_JUMP = (1, 2)
ABSENT_CHAIN = (1,)
MAX_JUMP_DELETES = 32  # bound on the "delete while present" loop
VERIFY_ACTIVE_TIMEOUT_S = 5.0
VERIFY_REMOVED_TIMEOUT_S = 15.0

Shape = Literal["isolate", "split", "bridge"]
T = TypeVar("T")


class PartitionParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    shape: Shape = "isolate"


# -- pure planning ---------------------------------------------------------------------------


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


# -- pure argv builders ----------------------------------------------------------------------


def new_chain_argv() -> tuple[str, ...]:
    return (*IPTABLES, "-N", CHAIN)


def flush_chain_argv() -> tuple[str, ...]:
    return (*IPTABLES, "-F", CHAIN)


def delete_chain_argv() -> tuple[str, ...]:
    return (*IPTABLES, "-X", CHAIN)


def list_rules_argv() -> tuple[str, ...]:
    return (*IPTABLES, "-S")


def drop_rules_argv(peer_ips: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The two rules of the harness chain: drop from the peers, drop to the peers."""
    if not peer_ips:
        raise FaultError("partition: no peer addresses to drop")
    ips = ",".join(checked_ipv4(ip) for ip in peer_ips)
    return (
        (*IPTABLES, "-A", CHAIN, "-s", ips, "-j", "DROP"),
        (*IPTABLES, "-A", CHAIN, "-d", ips, "-j", "DROP"),
    )


def jump_argv(action: Literal["-I", "-C", "-D"], hook: str) -> tuple[str, ...]:
    """Insert (at the top), check or delete the jump from a built-in chain to ours."""
    if hook not in HOOKS:
        raise FaultError(f"partition: unexpected hook {hook!r}")
    where = (hook, "1") if action == "-I" else (hook,)
    return (*IPTABLES, action, *where, "-m", "comment", "--comment", COMMENT, "-j", CHAIN)


def inject_argvs(peer_ips: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """Everything inject runs in one node's netns, in order (after `-N`)."""
    return (*drop_rules_argv(peer_ips), *(jump_argv("-I", h) for h in HOOKS))


def undo_argvs() -> tuple[tuple[tuple[str, ...], tuple[int, ...]], ...]:
    """The ledger form of cleanup for one node: (argv, exit codes meaning done/absent)."""
    return (
        *((jump_argv("-D", h), (0, *ABSENT_JUMP)) for h in HOOKS),
        (flush_chain_argv(), (0, *ABSENT_CHAIN)),
        (delete_chain_argv(), (0, *ABSENT_CHAIN)),
    )


def leftovers(iptables_s: str) -> tuple[str, ...]:
    """Lines of `iptables -S` output that belong to this fault (chain, jumps, comment)."""
    return tuple(
        line.strip()
        for line in iptables_s.splitlines()
        if CHAIN in line.split() or f"--comment {COMMENT}" in line
    )


# -- the fault -------------------------------------------------------------------------------


async def for_each_node(
    fn: Callable[[Node], Awaitable[T]], nodes: tuple[Node, ...]
) -> list[T | BaseException]:
    """Run fn on every node, a few helpers at a time; exceptions are returned, not raised,
    so one node's failure never abandons the others half-done."""
    gate = asyncio.Semaphore(HELPER_CONCURRENCY)

    async def one(node: Node) -> T:
        async with gate:
            return await fn(node)

    return list(await asyncio.gather(*(one(n) for n in nodes), return_exceptions=True))


class PartitionFault:
    """Partition the cluster's private network; see the module docstring."""

    kind: ClassVar[str] = "partition"

    def __init__(
        self,
        params: PartitionParams,
        targets: tuple[Node, ...],
        cluster: tuple[Node, ...],
        ctx: TrialContext,
        docker: Docker,
        *,
        helper_image: str = HELPER_IMAGE_DEFAULT,
    ) -> None:
        self.params, self.targets, self.cluster = params, targets, cluster
        self._docker, self._image = docker, helper_image
        self._labels = ctx.labels("helper")
        self.plan = plan_partition(params.shape, targets, cluster)
        for n in cluster:
            peer_port(n)  # every member must have a port to prove (un)reachability with
        self._by_name = {n.name: n for n in cluster}

    def describe(self) -> str:
        sides = " | ".join(",".join(s) for s in self.plan.sides)
        return f"partition shape={self.params.shape}: {sides}"

    def _affected(self) -> tuple[Node, ...]:
        return tuple(self._by_name[name] for name in sorted(self.plan.drops))

    def undo_plan(self) -> tuple[UndoAction, ...]:
        return tuple(
            UndoAction(UndoOp.HELPER_RUN, node.container_id, argv, ok_exit_codes=codes)
            for node in self._affected()
            for argv, codes in undo_argvs()
        )

    async def _run(self, node: Node, argv: tuple[str, ...]) -> HelperResult:
        return await self._docker.run_helper(
            argv, labels=self._labels, netns_of=node.container_id, image=self._image
        )

    # inject -------------------------------------------------------------------------------

    async def inject(self) -> None:
        results = await for_each_node(self._inject_node, self._affected())
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise FaultError(f"partition inject failed: {'; '.join(map(str, errors))}")

    async def _inject_node(self, node: Node) -> None:
        res = await self._run(node, new_chain_argv())
        if res.exit_code in ABSENT_CHAIN:  # left over from an earlier attempt: start clean
            res = await self._run(node, flush_chain_argv())
        if not res.ok:
            raise FaultError(f"{node.name}: iptables: exit {res.exit_code}: {res.stderr.strip()}")
        for argv in inject_argvs(self.plan.drops[node.name]):
            res = await self._run(node, argv)
            if not res.ok:
                raise FaultError(
                    f"{node.name}: {' '.join(argv)}: exit {res.exit_code}: {res.stderr.strip()}"
                )

    # observation --------------------------------------------------------------------------

    async def _running(self) -> tuple[tuple[Node, ...], tuple[str, ...]]:
        """Running members, with their address as it is now (a restarted container may get
        a new one on the private network), and the names of those not running."""
        infos = await asyncio.gather(*(self._docker.inspect(n.container_id) for n in self.cluster))
        up: list[Node] = []
        down: list[str] = []
        for node, info in zip(self.cluster, infos, strict=True):
            if info is None or not info.running:
                down.append(node.name)
                continue
            ips = set(info.ips.values())
            if node.address not in ips and len(ips) == 1:
                node = replace(node, address=checked_ipv4(ips.pop()))
            up.append(node)
        return tuple(up), tuple(down)

    async def _matrix(self, nodes: tuple[Node, ...]) -> tuple[PairProbe, ...]:
        return await reachability(
            self._docker, self._labels, ordered_pairs(nodes), image=self._image
        )

    async def verify_active(self) -> Evidence:
        """Blocked pairs cannot connect to each other's peer port, in both directions, and
        every other pair still can; observed with `nc` from each source node's netns."""
        up, down = await self._running()
        if down:
            return Evidence(False, f"cannot observe: not running: {', '.join(down)}")

        def wrong(probes: tuple[PairProbe, ...]) -> list[PairProbe]:
            return [p for p in probes if p.open == self.plan.is_blocked(p.src, p.dst)]

        probes, took = await poll_until(
            lambda: self._matrix(up), lambda ps: not wrong(ps), VERIFY_ACTIVE_TIMEOUT_S
        )
        bad = wrong(probes)
        blocked = [p for p in probes if self.plan.is_blocked(p.src, p.dst)]
        open_ = [p for p in probes if not self.plan.is_blocked(p.src, p.dst)]
        figures: dict[str, float | str] = {
            "blocked_pairs_checked": len(blocked),
            "blocked_pairs_confirmed": sum(not p.open for p in blocked),
            "open_pairs_checked": len(open_),
            "open_pairs_confirmed": sum(p.open for p in open_),
            "seconds": round(took, 3),
        }
        if bad:
            return Evidence(False, f"unexpected: {', '.join(map(str, bad))}", figures)
        return Evidence(
            True,
            f"{len(blocked)} directed pairs blocked, {len(open_)} open, as planned",
            figures,
        )

    # cleanup ------------------------------------------------------------------------------

    async def cleanup_chaos(self) -> None:
        results = await for_each_node(self._cleanup_node, self._affected())
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise CleanupError(f"partition cleanup failed: {'; '.join(map(str, errors))}")

    async def _cleanup_node(self, node: Node) -> None:
        info = await self._docker.inspect(node.container_id)
        if info is None or not info.running:
            log.info("partition cleanup: %s not running; its netns and rules are gone", node.name)
            return
        try:
            await self._cleanup_running(node)
        except DockerError as e:
            info = await self._docker.inspect(node.container_id)
            if info is None or not info.running:
                return  # it stopped meanwhile: the rules went with its netns
            raise CleanupError(f"{node.name}: {e}") from e

    async def _cleanup_running(self, node: Node) -> None:
        for hook in HOOKS:
            for _ in range(MAX_JUMP_DELETES):
                check = await self._run(node, jump_argv("-C", hook))
                if check.exit_code in ABSENT_JUMP:
                    break
                if not check.ok:
                    raise CleanupError(f"{node.name}: -C {hook}: exit {check.exit_code}")
                delete = await self._run(node, jump_argv("-D", hook))
                if delete.exit_code not in (0, *ABSENT_JUMP):
                    raise CleanupError(f"{node.name}: -D {hook}: {delete.stderr.strip()}")
            else:
                raise CleanupError(f"{node.name}: more than {MAX_JUMP_DELETES} jumps in {hook}")
        for argv in (flush_chain_argv(), delete_chain_argv()):
            res = await self._run(node, argv)
            if res.exit_code not in (0, *ABSENT_CHAIN):
                raise CleanupError(
                    f"{node.name}: {' '.join(argv)}: exit {res.exit_code}: {res.stderr.strip()}"
                )

    async def verify_removed(self) -> Evidence:
        """Every member runs, no member's filter table holds our chain or a chaos-eval jump,
        and every directed pair connects again (polled to a deadline)."""
        t0 = time.monotonic()
        up, down = await self._running()
        listings = await for_each_node(lambda n: self._run(n, list_rules_argv()), up)
        problems = [f"not running (cannot prove removal): {', '.join(down)}"] if down else []
        left = 0
        for node, res in zip(up, listings, strict=True):
            if isinstance(res, BaseException) or not res.ok:
                problems.append(f"{node.name}: could not list rules: {res}")
                continue
            found = leftovers(res.stdout)
            left += len(found)
            if found:
                problems.append(f"{node.name} still has: {'; '.join(found)}")
        probes, _ = await poll_until(
            lambda: self._matrix(up), lambda ps: all(p.open for p in ps), VERIFY_REMOVED_TIMEOUT_S
        )
        closed = [p for p in probes if not p.open]
        if closed:
            problems.append(f"still blocked: {', '.join(map(str, closed))}")
        figures: dict[str, float | str] = {
            "nodes_checked": len(up),
            "leftover_rules": left,
            "pairs_checked": len(probes),
            "pairs_open": len(probes) - len(closed),
            "seconds": round(time.monotonic() - t0, 3),
        }
        if problems:
            return Evidence(False, "; ".join(problems), figures)
        return Evidence(True, f"no rules left on {len(up)} nodes; all pairs connect", figures)
