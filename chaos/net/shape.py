"""Egress shaping shared by `latency` and `packet_loss`: the Shape a fault applies, what
each fault kind owns in a target (its Slot), and their validation. Pure.

Two backends shape the packets a target sends (its egress, like netem):

    netem     tc netem as the root qdisc of the target's eth0, under a handle the harness
              owns (`4c45:` latency, `4c46:` packet loss). It is used only while the root
              qdisc is the kernel's default (handle `0:`) or already ours; someone else's
              root qdisc is never replaced. Needs sch_netem in the kernel.
              Its argv: chaos/net/netem.py.
    nfqueue   iptables hands every non-loopback IPv4 packet to a userspace shaper
              (chaos/helper/shaper.py, a daemon helper joined to the target's netns) which
              holds or drops it. Needs only nfnetlink_queue, present where netem is not.
              Its argv: chaos/net/queue_rules.py (the chain) and chaos/net/shaper_daemon.py.

What one fault kind owns in a target's network namespace (its `Slot`):

    mangle <HOOK>:  -m comment --comment chaos-eval -j <CHAIN>       (inserted at position 1)
    mangle <CHAIN>: ! -o lo -j NFQUEUE --queue-num <N> --queue-bypass
    eth0 root qdisc <HANDLE>: netem ...
    one daemon helper <project>-shaper-<short>-<node>

The kinds get distinct chains, queues, handles and hooks so they compose on one node and
are removed independently: an ACCEPT verdict from a queue ends the packet's walk through
that table's hook, so two NFQUEUE rules in mangle OUTPUT would let the second one see
nothing. Latency therefore queues from mangle OUTPUT and loss from mangle POSTROUTING,
which every locally generated packet reaches afterwards. `--queue-bypass` makes the kernel
accept packets while no shaper is bound: a dead shaper never blackholes a node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from chaos_eval.errors import ParameterError

Distribution = Literal["uniform", "normal"]
BackendChoice = Literal["auto", "netem", "nfqueue"]

DEFAULT_ROOT_HANDLE = "0:"  # what the kernel attaches by itself (noqueue, mq, pfifo_fast)
QUEUE_RANGE = range(4240, 4250)  # NFQUEUE numbers reserved for the harness
MAX_DELAY_MS = 60_000

_CHAIN_RE = re.compile(r"CHAOS_EVAL_[A-Z0-9_]{1,16}")
_HANDLE_RE = re.compile(r"[0-9a-f]{1,4}:")
_HOOKS = ("OUTPUT", "POSTROUTING")


class Backend(StrEnum):
    NETEM = "netem"
    NFQUEUE = "nfqueue"


# -- validation -------------------------------------------------------------------------------


def checked_delay_ms(ms: int) -> int:
    if isinstance(ms, bool) or not isinstance(ms, int) or not 1 <= ms <= MAX_DELAY_MS:
        raise ParameterError(f"delay must be an integer 1..{MAX_DELAY_MS} ms, got {ms!r}")
    return ms


def checked_jitter_ms(jitter: int, delay: int) -> int:
    if isinstance(jitter, bool) or not isinstance(jitter, int) or not 0 <= jitter <= delay:
        raise ParameterError(f"jitter must be an integer 0..delay ({delay}) ms, got {jitter!r}")
    return jitter


def checked_pct(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise ParameterError(f"{what} must be a percentage 0..100, got {value!r}")
    return float(value)


def checked_queue(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n not in QUEUE_RANGE:
        raise ParameterError(
            f"NFQUEUE number must be within {QUEUE_RANGE.start}..{QUEUE_RANGE.stop - 1}: {n!r}"
        )
    return n


def pct_text(value: float) -> str:
    """A percentage as tc and the shaper read it: no exponent, at most 4 decimals."""
    return f"{value:.4f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class Slot:
    """What one fault kind owns inside a target's network namespace."""

    kind: str
    short: str  # used in helper container names
    chain: str
    hook: str
    queue: int
    handle: str

    def __post_init__(self) -> None:
        if not _CHAIN_RE.fullmatch(self.chain):
            raise ParameterError(f"not a harness chain name: {self.chain!r}")
        if self.hook not in _HOOKS:
            raise ParameterError(f"not an egress hook: {self.hook!r}")
        if not _HANDLE_RE.fullmatch(self.handle) or self.handle == DEFAULT_ROOT_HANDLE:
            raise ParameterError(f"not a tc handle the harness may own: {self.handle!r}")
        if not re.fullmatch(r"[a-z]{1,8}", self.short):
            raise ParameterError(f"not a short slot name: {self.short!r}")
        checked_queue(self.queue)


LATENCY_SLOT = Slot("latency", "lat", "CHAOS_EVAL_LAT", "OUTPUT", 4242, "4c45:")
LOSS_SLOT = Slot("packet_loss", "loss", "CHAOS_EVAL_LOSS", "POSTROUTING", 4243, "4c46:")


@dataclass(frozen=True)
class Shape:
    """What happens to each egress packet: delayed by delay ± jitter, or dropped."""

    delay_ms: int = 0  # 0: no delay
    jitter_ms: int = 0
    distribution: Distribution = "uniform"
    loss_pct: float = 0.0
    loss_corr_pct: float = 0.0

    def __post_init__(self) -> None:
        if self.delay_ms != 0:
            checked_delay_ms(self.delay_ms)
        checked_jitter_ms(self.jitter_ms, self.delay_ms)
        if self.distribution not in ("uniform", "normal"):
            raise ParameterError(f"unknown delay distribution {self.distribution!r}")
        checked_pct(self.loss_pct, "loss")
        checked_pct(self.loss_corr_pct, "loss correlation")
        if self.delay_ms == 0 and self.loss_pct == 0:
            raise ParameterError("a shape must delay or drop something")
