"""Network partition: iptables DROP rules between members on the cluster's private network.

Shapes (the trial's targets define one side):

    isolate   targets | everyone else
    split     targets | the rest (targets usually chosen with `minority`)
    bridge    left half | bridge | right half: the one target (the bridge) talks to both
              halves, the halves cannot talk to each other (3 nodes: A | bridge | C)

(chaos/net/partition_plan.py computes who cannot talk to whom.)

Mechanism: DROP rules in a harness-owned chain of the filter table of EACH affected node's
network namespace, jumped to from INPUT and OUTPUT (chaos/net/partition_rules.py has the rules
and their builders). One NET_ADMIN helper exec joined to the node applies its whole rule set
atomically (`iptables-restore --noflush`) and, in the same exec, then probes every peer from
the node in a few rounds (chaos/net/probe_rounds.py); one removes it; reachability is proven
with one helper per source node probing all its peers at once (chaos/net/reachability.py),
except that verify_active first takes the rounds inject saw that began after the LAST node's
rules were in (kernel clock). So a node costs a small, fixed number of helper execs, not one
per iptables command or pair, and inject -> observed one round trip to the engine, not two.

Only peer addresses on the private network are dropped: clients reaching a node through
its port published on 127.0.0.1 arrive from the bridge gateway (docker-proxy), which is not
a peer, so they still get through. Cleanup deletes exactly our two jumps and our chain; it
never flushes a built-in chain (chaos/net/partition_tables.py works on each node's table).
The ledger's undo plan is the same removal one iptables command a step (eval/cleanup/undo.py
runs it for a run that died mid-partition).
"""

from __future__ import annotations

import logging
import time
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from chaos_eval.chaos.net.partition_plan import Shape, plan_partition
from chaos_eval.chaos.net.partition_rules import (
    inject_rules,
    leftovers,
    list_rules_argv,
    undo_argvs,
)
from chaos_eval.chaos.net.partition_tables import Applied, PartitionTables
from chaos_eval.chaos.net.probe_rounds import settled
from chaos_eval.chaos.net.reachability import (
    PairProbe,
    ordered_pairs,
    peer_port,
    reachability,
    running_nodes,
)
from chaos_eval.engine.client import Docker
from chaos_eval.engine.helper_containers import HELPER_IMAGE_DEFAULT
from chaos_eval.engine.helper_fanout import bounded_gather
from chaos_eval.errors import CleanupError, DockerError, FaultError
from chaos_eval.fault import Evidence, UndoAction, UndoOp
from chaos_eval.polling import poll_until
from chaos_eval.subject import Node, TrialContext

log = logging.getLogger(__name__)

VERIFY_ACTIVE_TIMEOUT_S = 5.0
VERIFY_REMOVED_TIMEOUT_S = 15.0


class PartitionParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    shape: Shape = "isolate"


# -- the fault -------------------------------------------------------------------------------


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
        self._sorted = tuple(sorted(cluster, key=lambda n: n.name))
        self._tables = PartitionTables(docker, self._labels, helper_image)
        # inject's probes begun after every node's rules were in, for verify_active's first look
        self._early: dict[tuple[str, str], PairProbe] = {}
        self._spread = 0.0  # seconds between the first and the last node's rules going in

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

    # inject -------------------------------------------------------------------------------

    async def inject(self) -> None:
        """Every affected node's rules, each node in one exec that then probes its peers;
        keeps the probes begun after the last node's rules were in (chaos/net/
        probe_rounds.py) for verify_active."""
        self._early = {}
        nodes = self._affected()
        peers = {n.name: tuple(p for p in self._sorted if p.name != n.name) for n in nodes}
        results = await bounded_gather(
            lambda n: self._tables.apply(n, inject_rules(self.plan.drops[n.name]), peers[n.name]),
            nodes)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise FaultError(f"partition inject failed: {'; '.join(map(str, errors))}")
        applied = {n.name: r for n, r in zip(nodes, results, strict=True)
                   if isinstance(r, Applied)}
        in_place = max(a.at for a in applied.values())
        self._early = settled({k: (peers[k], a.rounds) for k, a in applied.items()}, in_place)
        self._spread = in_place - min(a.at for a in applied.values())

    # observation --------------------------------------------------------------------------

    async def _running(self) -> tuple[tuple[Node, ...], tuple[str, ...]]:
        return await running_nodes(self._docker, self.cluster)

    async def _matrix(self, pairs: tuple[tuple[Node, Node], ...]) -> tuple[PairProbe, ...]:
        return await reachability(self._docker, self._labels, pairs, image=self._image)

    async def verify_active(self) -> Evidence:
        """Blocked pairs cannot connect to each other's peer port, in both directions, and
        every other pair still can; observed from each source node's netns (one helper a
        source node and poll, connecting to all its peers at once). The first look takes,
        for the sources it has them for, the probe rounds inject ran in the same exec as the
        node's rules that began after every node's rules were in (chaos/net/
        probe_rounds.py), and probes only the other sources."""
        up, down = await self._running()
        if down:
            return Evidence(False, f"cannot observe: not running: {', '.join(down)}")

        def wrong(probes: tuple[PairProbe, ...]) -> list[PairProbe]:
            return [p for p in probes if p.open == self.plan.is_blocked(p.src, p.dst)]

        pairs = ordered_pairs(up)
        same = all(n.address == self._by_name[n.name].address for n in up)  # none restarted
        early, self._early = (self._early if same else {}), {}
        used = len(early)

        async def look() -> tuple[PairProbe, ...]:  # inject's rounds, once; the rest afresh
            nonlocal early
            seen, early = early, {}
            rest = tuple((s, d) for s, d in pairs if (s.name, d.name) not in seen)
            fresh = await self._matrix(rest) if rest else ()
            seen = {**seen, **{(p.src, p.dst): p for p in fresh}}
            return tuple(seen[(s.name, d.name)] for s, d in pairs)

        probes, took = await poll_until(look, lambda ps: not wrong(ps), VERIFY_ACTIVE_TIMEOUT_S)
        bad = wrong(probes)
        blocked = [p for p in probes if self.plan.is_blocked(p.src, p.dst)]
        open_ = [p for p in probes if not self.plan.is_blocked(p.src, p.dst)]
        figures: dict[str, float | str] = {
            "blocked_pairs_checked": len(blocked),
            "blocked_pairs_confirmed": sum(not p.open for p in blocked),
            "open_pairs_checked": len(open_),
            "open_pairs_confirmed": sum(p.open for p in open_),
            "seconds": round(took, 3),
            "pairs_seen_at_inject": used,
            "rules_in_spread_s": round(self._spread, 3),
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
        results = await bounded_gather(self._cleanup_node, self._affected())
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise CleanupError(f"partition cleanup failed: {'; '.join(map(str, errors))}")

    async def _cleanup_node(self, node: Node) -> None:
        info = await self._docker.inspect(node.container_id)
        if info is None or not info.running:
            log.info("partition cleanup: %s not running; its netns and rules are gone", node.name)
            return
        try:
            await self._tables.remove(node)
        except DockerError as e:
            info = await self._docker.inspect(node.container_id)
            if info is None or not info.running:
                return  # it stopped meanwhile: the rules went with its netns
            raise CleanupError(f"{node.name}: {e}") from e

    async def verify_removed(self) -> Evidence:
        """Every member runs, no member's filter table holds our chain or a chaos-eval jump,
        and every directed pair connects again (polled to a deadline). One listing helper a
        node, then one probing helper a node and poll."""
        t0 = time.monotonic()
        up, down = await self._running()
        listings = await bounded_gather(lambda n: self._tables.run(n, list_rules_argv()), up)
        problems = [f"not running (cannot prove removal): {', '.join(down)}"] if down else []
        left = 0
        for node, res in zip(up, listings, strict=True):
            if isinstance(res, BaseException) or not res.ok:
                problems.append(f"{node.name}: could not list rules: {res}")
                continue
            ours = leftovers(res.stdout)
            left += len(ours)
            if ours:
                problems.append(f"{node.name} still has: {'; '.join(ours)}")
        probes, _ = await poll_until(
            lambda: self._matrix(ordered_pairs(up)), lambda ps: all(p.open for p in ps),
            VERIFY_REMOVED_TIMEOUT_S,
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
