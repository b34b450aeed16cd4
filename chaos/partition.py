"""Network partition: iptables DROP rules between members on the cluster's private network.

Shapes (the trial's targets define one side):

    isolate   targets | everyone else
    split     targets | the rest (targets usually chosen with `minority`)
    bridge    left half | bridge | right half: the one target (the bridge) talks to both
              halves, the halves cannot talk to each other (3 nodes: A | bridge | C)

(chaos/net/partition_plan.py computes who cannot talk to whom.)

Mechanism: DROP rules in a harness-owned chain of the filter table of EACH affected node's
network namespace, jumped to from INPUT and OUTPUT (chaos/net/partition_rules.py has the rules
and their builders). One one-shot NET_ADMIN helper joined to the node applies its whole
rule set atomically (`iptables-restore --noflush`); one removes it; reachability is proven
with one helper per source node probing all its peers at once (chaos/net/reachability.py). So a
node costs a small, fixed number of helper starts, not one per iptables command or pair.

Only peer addresses on the private network are dropped: clients reaching a node through
its port published on 127.0.0.1 arrive from the bridge gateway (docker-proxy), which is not
a peer, so they still get through. Cleanup deletes exactly our two jumps and our chain; it
never flushes a built-in chain. The ledger's undo plan is the same removal one iptables
command a step (eval/cleanup/undo.py runs it for a run that died mid-partition).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from chaos_eval.chaos.net.addresses import checked_ipv4
from chaos_eval.chaos.net.partition_plan import Shape, plan_partition
from chaos_eval.chaos.net.partition_rules import (
    RULES_PATH,
    found,
    inject_rules,
    leftovers,
    list_rules_argv,
    removal_rules,
    restore_argv,
    undo_argvs,
)
from chaos_eval.chaos.net.reachability import PairProbe, ordered_pairs, peer_port, reachability
from chaos_eval.engine.client import Docker
from chaos_eval.engine.containers import HelperResult
from chaos_eval.engine.helper_containers import HELPER_IMAGE_DEFAULT
from chaos_eval.engine.helper_fanout import bounded_gather
from chaos_eval.errors import CleanupError, DockerError, FaultError
from chaos_eval.fault import Evidence, UndoAction, UndoOp
from chaos_eval.polling import poll_until
from chaos_eval.subject import Node, TrialContext

log = logging.getLogger(__name__)

MAX_REMOVAL_ATTEMPTS = 3  # list-then-remove rounds when the table is not as inject left it
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

    async def _restore(self, node: Node, rules: str) -> HelperResult:
        """Apply one rules file to the node's filter table, atomically, in one helper."""
        return await self._docker.run_helper(
            restore_argv(),
            labels=self._labels,
            netns_of=node.container_id,
            image=self._image,
            files={RULES_PATH: rules.encode()},
        )

    # inject -------------------------------------------------------------------------------

    async def inject(self) -> None:
        results = await bounded_gather(self._inject_node, self._affected())
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise FaultError(f"partition inject failed: {'; '.join(map(str, errors))}")

    async def _inject_node(self, node: Node) -> None:
        """One helper; when the chain is left over from an earlier attempt (the transaction
        refuses it whole), remove what is ours and apply again: at most four."""
        rules = inject_rules(self.plan.drops[node.name])
        res = await self._restore(node, rules)
        if not res.ok and await self._remove_listed(node):
            res = await self._restore(node, rules)
        if not res.ok:
            raise FaultError(
                f"{node.name}: iptables-restore: exit {res.exit_code}: {res.stderr.strip()}"
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
        every other pair still can; observed from each source node's netns (one helper a
        source node and poll, connecting to all its peers at once)."""
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
            await self._cleanup_running(node)
        except DockerError as e:
            info = await self._docker.inspect(node.container_id)
            if info is None or not info.running:
                return  # it stopped meanwhile: the rules went with its netns
            raise CleanupError(f"{node.name}: {e}") from e

    async def _cleanup_running(self, node: Node) -> None:
        """One helper removes what inject leaves (both jumps, the chain) in one transaction.
        If the table holds anything else of ours (half-done, doubled or already removed),
        that transaction changes nothing; then list it and remove exactly what is there."""
        rules = removal_rules()
        assert rules is not None
        if (await self._restore(node, rules)).ok:
            return
        for _ in range(MAX_REMOVAL_ATTEMPTS):
            if not await self._remove_listed(node):
                return
        raise CleanupError(
            f"{node.name}: rules of ours still listed after {MAX_REMOVAL_ATTEMPTS} removals"
        )

    async def _remove_listed(self, node: Node) -> bool:
        """List the node's filter table and remove every jump of ours and our chain in one
        transaction. False when nothing of ours was listed; True after a removal attempt
        (whether it worked is for the next listing to tell). CleanupError when the table
        holds lines of ours in a shape we never write (we do not guess at deleting them)."""
        listing = await self._run(node, list_rules_argv())
        if not listing.ok:
            raise CleanupError(
                f"{node.name}: iptables -S: exit {listing.exit_code}: {listing.stderr.strip()}"
            )
        ours = found(listing.stdout)
        if ours.foreign:
            raise CleanupError(f"{node.name}: unexpected rules of ours: {'; '.join(ours.foreign)}")
        rules = removal_rules(ours.jumps, ours.chain)
        if rules is None:
            return False
        res = await self._restore(node, rules)
        if not res.ok:
            log.info(
                "partition: removal on %s: exit %s: %s",
                node.name,
                res.exit_code,
                res.stderr.strip(),
            )
        return True

    async def verify_removed(self) -> Evidence:
        """Every member runs, no member's filter table holds our chain or a chaos-eval jump,
        and every directed pair connects again (polled to a deadline). One listing helper a
        node, then one probing helper a node and poll."""
        t0 = time.monotonic()
        up, down = await self._running()
        listings = await bounded_gather(lambda n: self._run(n, list_rules_argv()), up)
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
