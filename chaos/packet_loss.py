"""Packet loss: each IPv4 packet a target sends is dropped with probability `loss_pct`.

Egress only, like netem `loss P% C%`; `correlation_pct` makes drops come in bursts while
keeping the long-run rate (see chaos/helper/shaper.py; netem's own correlation lowers the
rate it achieves). Backends, ownership and cleanup: chaos/net/shape.py, chaos/net/shaping.py.

verify_active pings each target from a peer's network namespace, enough probes to expect
about 20 losses (100..1000 probes, 10 ms apart), and holds iff the probes lost reach the
lower 3-sigma bound of what the requested rate predicts (at least one), the standard
deviation widened by sqrt((1+c)/(1-c)) for correlation c. A round trip crosses one shaped
egress, or two when the only observer is itself a target (expected loss 1-(1-p)^2). By
construction a fault in effect fails this about once in 700 checks; a fault that did not
take hold loses nothing on a Docker bridge.
"""

from __future__ import annotations

import asyncio
import math
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from chaos_eval.chaos.net.shape import LOSS_SLOT, BackendChoice, Shape, Slot
from chaos_eval.chaos.net.shaped_fault import ShapedFault
from chaos_eval.engine.client import Docker
from chaos_eval.engine.helper_containers import HELPER_IMAGE_DEFAULT
from chaos_eval.fault import Evidence
from chaos_eval.subject import Node, TrialContext

MIN_PROBES, MAX_PROBES, EXPECTED_LOSSES = 100, 1000, 20
PROBE_INTERVAL_S = 0.01
MAX_CORRELATION_FOR_BOUNDS = 0.95


class PacketLossParams(BaseModel):
    """`packet_loss` parameters as written in a campaign file."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    loss_pct: float = Field(gt=0, le=100)
    correlation_pct: float = Field(default=0, ge=0, le=100)
    backend: BackendChoice = "auto"


def loss_plan(loss_pct: float, correlation_pct: float, hops: int) -> tuple[int, float, int]:
    """(probes, expected loss fraction per round trip, minimum probes lost to hold). Pure."""
    p = loss_pct / 100
    q = 1 - (1 - p) ** hops
    n = min(MAX_PROBES, max(MIN_PROBES, math.ceil(EXPECTED_LOSSES / q)))
    c = min(correlation_pct / 100, MAX_CORRELATION_FOR_BOUNDS)
    sd = math.sqrt(n * q * (1 - q)) * math.sqrt((1 + c) / (1 - c))
    return n, q, max(1, math.floor(n * q - 3 * sd))


class PacketLossFault(ShapedFault):
    """Drop a share of each target's egress; see the module docstring for the proof."""

    kind: ClassVar[str] = "packet_loss"
    slot: ClassVar[Slot] = LOSS_SLOT

    def __init__(
        self, params: PacketLossParams, targets: tuple[Node, ...], cluster: tuple[Node, ...],
        ctx: TrialContext, docker: Docker, *, helper_image: str = HELPER_IMAGE_DEFAULT,
    ) -> None:
        self.params = params
        shape = Shape(loss_pct=params.loss_pct, loss_corr_pct=params.correlation_pct)
        super().__init__(shape, params.backend, targets, cluster, ctx, docker, helper_image)

    def describe(self) -> str:
        p = self.params
        corr = f" correlation {p.correlation_pct:g}%" if p.correlation_pct else ""
        names = ", ".join(t.name for t in self.targets)
        return f"packet_loss {p.loss_pct:g}%{corr} (backend {p.backend}) on {names}"

    async def verify_active(self) -> Evidence:
        """Enough probes from a peer were lost, on every target. Idempotent; never raises
        for 'does not hold'."""
        holds, notes = True, []
        figures: dict[str, float | str] = {"loss_pct_requested": self.params.loss_pct}
        plans = [loss_plan(self.params.loss_pct, self.params.correlation_pct,
                           max(1, self.hops(node))) for node in self.targets]
        seen = await asyncio.gather(  # every target's pings at once
            *(self.ping(node, n, PROBE_INTERVAL_S, 2)
              for node, (n, _, _) in zip(self.targets, plans, strict=True)))
        for node, (_, q, threshold), (stats, _) in zip(self.targets, plans, seen, strict=True):
            if stats is None:
                holds = False
                notes.append(f"{node.name}: no other node to observe from")
                continue
            ok = stats.lost >= threshold
            holds = holds and ok
            notes.append(f"{node.name}: lost {stats.lost}/{stats.transmitted} "
                         f"({stats.loss_pct:.1f}%, expected {100 * q:.1f}%, need >= {threshold})"
                         f" {'holds' if ok else 'does NOT hold'}")
            prefix = "" if len(self.targets) == 1 else f"{node.name}."
            figures.update({
                f"{prefix}loss_pct_observed": round(stats.loss_pct, 2),
                f"{prefix}loss_pct_expected": round(100 * q, 2),
                f"{prefix}probes": float(stats.transmitted),
                f"{prefix}lost": float(stats.lost),
                f"{prefix}lost_needed": float(threshold),
                f"{prefix}backend": str(self.shaping.chosen.get(node.name, "unknown")),
            })
        return Evidence(holds, "; ".join(notes), figures)
