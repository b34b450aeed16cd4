"""Ping, the outside observation of egress shaping: echo requests from an observer's netns,
whose replies leave the target through its shaped egress. The argv and its parser. Pure.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass

from chaos_eval.chaos.net.addresses import checked_ipv4
from chaos_eval.errors import ParameterError


def ping_argv(ip: str, count: int, interval_s: float, wait_s: int, quiet: bool) -> tuple[str, ...]:
    """Echo requests from the observer's netns; replies leave the target through its egress."""
    if not 1 <= count <= 5000 or not 0.002 <= interval_s <= 5 or not 1 <= wait_s <= 120:
        raise ParameterError(f"ping count/interval/wait out of range: {count}, {interval_s}, "
                             f"{wait_s}")
    argv = ["ping", "-n", "-c", str(count), "-i", f"{interval_s:g}", "-W", str(wait_s)]
    if quiet:
        argv.append("-q")
    return (*argv, checked_ipv4(ip))


_SUMMARY_RE = re.compile(r"(\d+) packets transmitted, (\d+) (?:packets )?received")
_REPLY_RE = re.compile(r"icmp_seq=(\d+) .*time=([\d.]+) ms")


@dataclass(frozen=True)
class PingStats:
    transmitted: int
    received: int
    rtts_ms: tuple[float, ...] = ()

    @property
    def lost(self) -> int:
        return max(0, self.transmitted - self.received)

    @property
    def loss_pct(self) -> float:
        return 100.0 * self.lost / self.transmitted if self.transmitted else 100.0

    @property
    def median_ms(self) -> float | None:
        return statistics.median(self.rtts_ms) if self.rtts_ms else None


def parse_ping(text: str) -> PingStats | None:
    """Counts and per-reply RTTs from iputils ping output; None without a summary line."""
    m = _SUMMARY_RE.search(text)
    if m is None:
        return None
    rtts: dict[int, float] = {}
    for seq, ms in _REPLY_RE.findall(text):
        rtts.setdefault(int(seq), float(ms))  # a duplicate reply (DUP!) counts once
    return PingStats(int(m.group(1)), int(m.group(2)), tuple(rtts[k] for k in sorted(rtts)))
