"""What the egress-shaping faults (`latency`, `packet_loss`) share: the baseline, inject and
cleanup through `Shaping`, and the proof of removal.

Observations are pings from a peer's network namespace: the echo replies leave the target
through its egress, where the shaping is. The peer is an untouched member when there is
one, else another target (a round trip then crosses two shaped egresses).

verify_removed holds, per target, iff no harness chain, jump, qdisc or shaper container is
left AND the peer's median RTT <= baseline + max(5 ms, 20 %) AND at most one probe more
than at baseline is lost (50 probes). It re-measures until that holds or 15 s pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import ClassVar

from chaos_eval.chaos.net.ping import PingStats, parse_ping, ping_argv
from chaos_eval.chaos.net.shape import BackendChoice, Shape, Slot
from chaos_eval.chaos.net.shaping import Shaping
from chaos_eval.engine.client import Docker
from chaos_eval.errors import FaultError
from chaos_eval.fault import Evidence, UndoAction
from chaos_eval.polling import poll_until
from chaos_eval.subject import Node, TrialContext

VERIFY_REMOVED_TIMEOUT_S = 15.0
REMOVED_RTT_SLACK_MS, REMOVED_RTT_SLACK_FRAC = 5.0, 0.2
# The baseline and the removal check each take 50 echo requests, 5 ms apart: the count sets
# what the checks can see (a median RTT, one loss in 50), the spacing only how long they take
# (0.25 s, was 1 s at 20 ms); on a bridge a round trip is well under a millisecond, so
# requests 5 ms apart never queue behind each other. ping allows 2 ms to root.
BASELINE_PROBES, BASELINE_INTERVAL_S = 50, 0.005


def observer_for(target: Node, cluster: Sequence[Node], targets: Sequence[Node]) \
        -> tuple[Node, int] | None:
    """A node to ping `target` from, and how many shaped egresses a round trip crosses
    (2 when the observer is itself a target). Prefers untouched nodes; None if alone."""
    names = {t.name for t in targets}
    others = sorted((n for n in cluster if n.name != target.name), key=lambda n: n.name)
    for node in others:
        if node.name not in names:
            return node, 1
    return (others[0], 2) if others else None


class ShapedFault:
    """Shared body of the egress-shaping faults; subclasses add params and verify_active."""

    kind: ClassVar[str]
    slot: ClassVar[Slot]

    def __init__(
        self, shape: Shape, backend: BackendChoice, targets: tuple[Node, ...],
        cluster: tuple[Node, ...], ctx: TrialContext, docker: Docker, image: str,
    ) -> None:
        self.targets, self.cluster, self.ctx, self.docker = targets, cluster, ctx, docker
        self.image = image
        self.shaping = Shaping(docker, ctx, self.slot, shape, backend, targets, image)
        self.baseline: dict[str, PingStats] | None = None

    def undo_plan(self) -> tuple[UndoAction, ...]:
        return self.shaping.undo_plan()

    def hops(self, target: Node) -> int:
        """Shaped egresses a round trip from target's observer crosses (0: no observer)."""
        seen = observer_for(target, self.cluster, self.targets)
        return 0 if seen is None else seen[1]

    async def ping(self, target: Node, count: int, interval_s: float, wait_s: int) \
            -> tuple[PingStats | None, int]:
        """Ping `target` from its observer: (stats, hops); (None, 0) without an observer.
        Never reads anything the harness wrote."""
        seen = observer_for(target, self.cluster, self.targets)
        if seen is None:
            return None, 0
        observer, hops = seen
        res = await self.docker.run_helper(
            ping_argv(target.address, count, interval_s, wait_s, quiet=False),
            labels=self.ctx.labels("helper"), netns_of=observer.container_id, caps=(),
            image=self.image, timeout_s=count * interval_s + 2 * wait_s + 30,
        )
        stats = parse_ping(res.stdout)
        if stats is None:
            raise FaultError(f"ping {observer.name} -> {target.name} printed no summary "
                             f"(exit {res.exit_code}): {res.stderr.strip()[:200]}")
        return stats, hops

    async def measure_baseline(self) -> Mapping[str, PingStats]:
        """RTT and loss to each target before the fault (inject does it if not done yet); at
        the same time, whether the kernel has netem (`Shaping.prepare`), so inject need not
        find out. Both only observe."""

        async def pings() -> dict[str, PingStats]:
            seen = await asyncio.gather(*(self.ping(node, BASELINE_PROBES, BASELINE_INTERVAL_S, 2)
                                          for node in self.targets))
            return {n.name: s for n, (s, _) in zip(self.targets, seen, strict=True) if s}

        base, _ = await asyncio.gather(pings(), self.shaping.prepare())
        self.baseline = base
        return base

    async def inject(self) -> None:
        """Measure the baseline if not yet done, then shape every target."""
        if self.baseline is None:
            await self.measure_baseline()
        await self.shaping.inject()

    async def cleanup_chaos(self) -> None:
        """Idempotent; removes only this fault's chain, jump, qdisc and shaper."""
        await self.shaping.cleanup()

    def _removed(self, node: Node, now: PingStats | None) -> tuple[bool, dict[str, float]]:
        base = (self.baseline or {}).get(node.name)
        if now is None:  # no observer: only the residue speaks
            return True, {}
        base_rtt = (base.median_ms if base else None) or 0.0
        limit = base_rtt + max(REMOVED_RTT_SLACK_MS, REMOVED_RTT_SLACK_FRAC * base_rtt)
        rtt = now.median_ms
        ok = rtt is not None and rtt <= limit and now.lost <= (base.lost if base else 0) + 1
        return ok, {"rtt_ms_baseline": base_rtt, "rtt_ms_after": rtt if rtt is not None else -1,
                    "rtt_ms_limit": limit, "loss_pct_after": now.loss_pct}

    async def verify_removed(self) -> Evidence:
        """No chain, jump, qdisc or shaper left, and RTT/loss back within tolerance of the
        baseline (module docstring). Re-measures until that holds or the deadline."""

        async def check() -> Evidence:
            notes: list[str] = []
            figures: dict[str, float | str] = {}
            holds = True
            for node in self.targets:
                residue, (now, _) = await asyncio.gather(  # independent: at once
                    self.shaping.residue(node),
                    self.ping(node, BASELINE_PROBES, BASELINE_INTERVAL_S, 2))
                ok, figs = self._removed(node, now)
                holds = holds and ok and residue.clean
                notes.append(f"{residue}, {'back to baseline' if ok else 'NOT at baseline'}")
                prefix = "" if len(self.targets) == 1 else f"{node.name}."
                figures.update({prefix + k: round(v, 3) for k, v in figs.items()})
            return Evidence(holds, "; ".join(notes), figures)

        # no pause between rounds: each round's pings take a second or more
        evidence, _ = await poll_until(check, lambda e: e.holds, VERIFY_REMOVED_TIMEOUT_S, 0.0)
        return evidence
