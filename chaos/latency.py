"""Latency: every IPv4 packet a target sends leaves `delay_ms` (± `jitter_ms`) late.

Egress only, like netem: replies to clients and to peers are delayed, so a round trip to
the target grows by about the delay. Backends, ownership and cleanup are described in
chaos/net/shape.py and chaos/net/shaping.py; this module adds the parameters and the proof.

verify_active pings each target from a peer's network namespace (10 probes, 0.02 s apart)
and holds iff the median RTT >= baseline median + 0.5 x the expected increase. The expected
increase is the delay, or twice the delay when the only available observer is itself a
target (the request then leaves a delayed egress too). Half the delay is the tolerance: it
stays clear of jitter (at most the delay, symmetric around it) and of a bridge's baseline
RTT (well under 1 ms), while a fault that did not take hold adds nothing at all.
"""

from __future__ import annotations

import asyncio
import math
from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chaos_eval.chaos.net.shape import LATENCY_SLOT, BackendChoice, Distribution, Shape, Slot
from chaos_eval.chaos.net.shaped_fault import ShapedFault
from chaos_eval.engine.client import Docker
from chaos_eval.engine.helper_containers import HELPER_IMAGE_DEFAULT
from chaos_eval.fault import Evidence
from chaos_eval.subject import Node, TrialContext

ACTIVE_PROBES, ACTIVE_INTERVAL_S = 10, 0.02  # all 10 sent within 0.2 s: the median is
# of 10 delayed replies whatever the spacing, and the proof takes ~delay + 0.2 s, not + 1 s
ACTIVE_FRACTION = 0.5


class LatencyParams(BaseModel):
    """`latency` parameters as written in a campaign file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    delay_ms: int = Field(ge=1, le=60_000)
    jitter_ms: int = Field(default=0, ge=0, le=60_000)
    distribution: Distribution = "uniform"  # of the jitter; netem's "distribution normal"
    backend: BackendChoice = "auto"

    @model_validator(mode="after")
    def _jitter_within_delay(self) -> Self:
        if self.jitter_ms > self.delay_ms:
            raise ValueError(f"jitter_ms ({self.jitter_ms}) must not exceed delay_ms "
                             f"({self.delay_ms})")
        return self


class LatencyFault(ShapedFault):
    """Delay the egress of each target; see the module docstring for the proof."""

    kind: ClassVar[str] = "latency"
    slot: ClassVar[Slot] = LATENCY_SLOT

    def __init__(
        self, params: LatencyParams, targets: tuple[Node, ...], cluster: tuple[Node, ...],
        ctx: TrialContext, docker: Docker, *, helper_image: str = HELPER_IMAGE_DEFAULT,
    ) -> None:
        self.params = params
        shape = Shape(delay_ms=params.delay_ms, jitter_ms=params.jitter_ms,
                      distribution=params.distribution)
        super().__init__(shape, params.backend, targets, cluster, ctx, docker, helper_image)

    def describe(self) -> str:
        p = self.params
        jitter = f" ±{p.jitter_ms}ms {p.distribution}" if p.jitter_ms else ""
        names = ", ".join(t.name for t in self.targets)
        return f"latency +{p.delay_ms}ms{jitter} (backend {p.backend}) on {names}"

    async def verify_active(self) -> Evidence:
        """Median RTT from a peer rose by at least half the expected delay, on every target.
        Idempotent; never raises for 'does not hold'."""
        holds, notes = True, []
        figures: dict[str, float | str] = {"delay_ms": self.params.delay_ms}
        wait = min(120, math.ceil(2 * 2 * self.params.delay_ms / 1000) + 2)
        seen = await asyncio.gather(  # every target's pings at once
            *(self.ping(node, ACTIVE_PROBES, ACTIVE_INTERVAL_S, wait) for node in self.targets))
        for node, (stats, hops) in zip(self.targets, seen, strict=True):
            if stats is None:
                holds = False
                notes.append(f"{node.name}: no other node to observe from")
                continue
            base = (self.baseline or {}).get(node.name)
            base_rtt = (base.median_ms if base else None) or 0.0
            expected = self.params.delay_ms * hops
            during = stats.median_ms
            ok = during is not None and during >= base_rtt + ACTIVE_FRACTION * expected
            holds = holds and ok
            shown = "no reply" if during is None else f"{during:.1f}ms"
            notes.append(f"{node.name}: RTT {base_rtt:.1f}ms -> {shown} "
                         f"(expected +{expected}ms) {'holds' if ok else 'does NOT hold'}")
            prefix = "" if len(self.targets) == 1 else f"{node.name}."
            figures.update({
                f"{prefix}rtt_ms_baseline": round(base_rtt, 3),
                f"{prefix}rtt_ms_during": round(during, 3) if during is not None else -1.0,
                f"{prefix}rtt_ms_expected_added": float(expected),
                f"{prefix}backend": str(self.shaping.chosen.get(node.name, "unknown")),
            })
        return Evidence(holds, "; ".join(notes), figures)
