"""Egress shaping shared by `latency` and `packet_loss`: what each fault owns, validated
parameters, and the argv of every tc / iptables / ping / shaper command. Pure.

Two backends shape the packets a target sends (its egress, like netem):

    netem     tc netem as the root qdisc of the target's eth0, under a handle the harness
              owns (`4c45:` latency, `4c46:` packet loss). It is used only while the root
              qdisc is the kernel's default (handle `0:`) or already ours; someone else's
              root qdisc is never replaced. Needs sch_netem in the kernel.
    nfqueue   iptables hands every non-loopback IPv4 packet to a userspace shaper
              (chaos/helper/shaper.py, a daemon helper joined to the target's netns) which
              holds or drops it. Needs only nfnetlink_queue, present where netem is not.

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

Exit codes (iptables 1.8 nft and legacy; iproute2 6.x), all meaning "already absent" where
cleanup lists them: iptables -D/-C of a jump 1 (no such rule) or 2 (no such chain); -F/-X
1 (no such chain), but -X 4 means the chain is still referenced and is NOT ok; tc qdisc del
2 ("Invalid handle": the root qdisc is the default or not ours).
"""

from __future__ import annotations

import ipaddress
import json
import re
import statistics
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from eval.errors import ParameterError

Distribution = Literal["uniform", "normal"]
BackendChoice = Literal["auto", "netem", "nfqueue"]

DEVICE = "eth0"
TABLE = "mangle"
COMMENT = "chaos-eval"
IPTABLES = ("iptables", "-w", "5")
SHAPER_BIN = "chaos-eval-shaper"
DEFAULT_ROOT_HANDLE = "0:"  # what the kernel attaches by itself (noqueue, mq, pfifo_fast)
PROBE_HANDLE = "4c45:"
QUEUE_RANGE = range(4240, 4250)  # NFQUEUE numbers reserved for the harness
MAX_DELAY_MS = 60_000

ABSENT_JUMP = (0, 1, 2)
ABSENT_CHAIN = (0, 1)
ABSENT_QDISC = (0, 2)
NETEM_UNKNOWN = "Specified qdisc kind is unknown"

_DEVICE_RE = re.compile(r"[a-zA-Z0-9_.-]{1,15}")  # used with fullmatch: no "eth0\n"
_CHAIN_RE = re.compile(r"CHAOS_EVAL_[A-Z0-9_]{1,16}")
_HANDLE_RE = re.compile(r"[0-9a-f]{1,4}:")
_HOOKS = ("OUTPUT", "POSTROUTING")


class Backend(StrEnum):
    NETEM = "netem"
    NFQUEUE = "nfqueue"


# -- validation -------------------------------------------------------------------------------


def checked_device(dev: str) -> str:
    if not isinstance(dev, str) or not _DEVICE_RE.fullmatch(dev):
        raise ParameterError(f"not a network device name: {dev!r}")
    return dev


def checked_ipv4(address: str) -> str:
    """The canonical text of a node's IPv4 address; ParameterError for anything else."""
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError as e:
        raise ParameterError(f"not an IPv4 address: {address!r}") from e
    if ip.is_unspecified or ip.is_multicast or ip.is_loopback:
        raise ParameterError(f"not a node address: {address!r}")
    return str(ip)


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


def _pct_text(value: float) -> str:
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


# -- tc ---------------------------------------------------------------------------------------


def netem_argv(slot: Slot, shape: Shape, dev: str = DEVICE) -> tuple[str, ...]:
    """Install (or retune) our netem as the root qdisc of `dev`."""
    argv = ["tc", "qdisc", "replace", "dev", checked_device(dev), "root", "handle", slot.handle]
    argv.append("netem")
    if shape.delay_ms:
        argv += ["delay", f"{shape.delay_ms}ms"]
        if shape.jitter_ms:
            argv.append(f"{shape.jitter_ms}ms")
            if shape.distribution == "normal":
                argv += ["distribution", "normal"]
    if shape.loss_pct:
        argv += ["loss", f"{_pct_text(shape.loss_pct)}%"]
        if shape.loss_corr_pct:
            argv.append(f"{_pct_text(shape.loss_corr_pct)}%")
    return tuple(argv)


def netem_delete_argv(slot: Slot, dev: str = DEVICE) -> tuple[str, ...]:
    """Delete the root qdisc only if it carries our handle (the kernel checks it)."""
    return ("tc", "qdisc", "del", "dev", checked_device(dev), "root", "handle", slot.handle)


def qdisc_show_argv(dev: str = DEVICE) -> tuple[str, ...]:
    return ("tc", "-j", "qdisc", "show", "dev", checked_device(dev))


def netem_probe_argv() -> tuple[str, ...]:
    """Run in a helper with its own empty netns (network_mode none): touches no target."""
    return ("tc", "qdisc", "add", "dev", "lo", "root", "handle", PROBE_HANDLE, "netem", "delay",
            "1ms")


@dataclass(frozen=True)
class RootQdisc:
    kind: str
    handle: str

    @property
    def is_default(self) -> bool:
        return self.handle == DEFAULT_ROOT_HANDLE


def parse_root_qdisc(text: str) -> RootQdisc | None:
    """The root qdisc from `tc -j qdisc show dev X` output; None when there is none."""
    try:
        rows = json.loads(text or "[]")
    except ValueError as e:
        raise ValueError(f"tc -j printed something that is not JSON: {text[:200]!r}") from e
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, dict) and row.get("root"):
            return RootQdisc(str(row.get("kind", "")), str(row.get("handle", "")))
    return None


# -- iptables ---------------------------------------------------------------------------------


def _ipt(*args: str) -> tuple[str, ...]:
    return (*IPTABLES, "-t", TABLE, *args)


def _jump(slot: Slot) -> tuple[str, ...]:
    return ("-m", "comment", "--comment", COMMENT, "-j", slot.chain)


def new_chain_argv(slot: Slot) -> tuple[str, ...]:
    return _ipt("-N", slot.chain)


def flush_chain_argv(slot: Slot) -> tuple[str, ...]:
    return _ipt("-F", slot.chain)


def delete_chain_argv(slot: Slot) -> tuple[str, ...]:
    return _ipt("-X", slot.chain)


def queue_rule_argv(slot: Slot) -> tuple[str, ...]:
    return _ipt("-A", slot.chain, "!", "-o", "lo", "-j", "NFQUEUE", "--queue-num",
                str(slot.queue), "--queue-bypass")


def jump_check_argv(slot: Slot) -> tuple[str, ...]:
    return _ipt("-C", slot.hook, *_jump(slot))


def jump_insert_argv(slot: Slot) -> tuple[str, ...]:
    return _ipt("-I", slot.hook, "1", *_jump(slot))


def jump_delete_argv(slot: Slot) -> tuple[str, ...]:
    return _ipt("-D", slot.hook, *_jump(slot))


def list_rules_argv() -> tuple[str, ...]:
    return _ipt("-S")


def chain_residue(rules: str, slot: Slot) -> tuple[str, ...]:
    """The lines of `iptables -t mangle -S` output that belong to `slot` (empty when clean)."""
    mine = []
    for line in rules.splitlines():
        words = line.split()
        if slot.chain in words and words[:1] in (["-N"], ["-A"]):
            mine.append(line.strip())
    return tuple(mine)


# -- the shaper daemon ------------------------------------------------------------------------


def shaper_argv(slot: Slot, shape: Shape, seed: int) -> tuple[str, ...]:
    return (
        SHAPER_BIN, "--queue", str(slot.queue),
        "--delay-ms", str(shape.delay_ms), "--jitter-ms", str(shape.jitter_ms),
        "--distribution", shape.distribution,
        "--loss-pct", _pct_text(shape.loss_pct),
        "--loss-corr-pct", _pct_text(shape.loss_corr_pct),
        "--seed", str(seed & 0xFFFFFFFF),
    )


def shaper_event(logs: str) -> dict[str, object] | None:
    """The last status event ("bound", "error", "stopped") the shaper printed, if any."""
    last: dict[str, object] | None = None
    for line in logs.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("event"), str):
            last = obj
    return last


def helper_name(project: str, slot: Slot, node_name: str) -> str:
    """The shaper's container name: deterministic from trial and target."""
    safe = re.sub(r"[^a-zA-Z0-9_.-]", "-", node_name)[:40] or "node"
    return f"{project}-shaper-{slot.short}-{safe}"


# -- ping, the outside observation ------------------------------------------------------------


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
