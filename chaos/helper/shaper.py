#!/usr/bin/env python3
"""chaos-eval-shaper: delay and drop IPv4 packets handed over by an NFQUEUE queue.

Standard library only; runs in the helper image (installed as
/usr/local/bin/chaos-eval-shaper), joined to the target's network namespace with just
CAP_NET_ADMIN. The harness starts this program, waits for its "bound" status line, and
only then adds `iptables ... -j NFQUEUE --queue-num N --queue-bypass`; it removes that
rule before stopping us. `--queue-bypass` makes the kernel accept packets while nobody
is bound, so a dead shaper never blackholes the node.

Importing this module has no side effects: the encoders, decoders and the Decider are
pure and unit-tested by the harness (tests/unit/test_netshape.py).

The protocol, over one AF_NETLINK socket of protocol NETLINK_NETFILTER (12). Integers
are host byte order except those marked "be" (big-endian, network order):

    nlmsghdr  16 bytes  u32 len | u16 type | u16 flags | u32 seq | u32 portid
              type = NFNL_SUBSYS_QUEUE (3) << 8 | msg; msg PACKET=0 VERDICT=1 CONFIG=2
    nfgenmsg   4 bytes  u8 family | u8 version (0) | be16 res_id (the queue number)
    nlattr     4 bytes  u16 len | u16 type, then the payload, padded to 4 bytes

    CONFIG  (harness -> kernel, NLM_F_REQUEST|NLM_F_ACK)
        NFQA_CFG_CMD (1)          u8 command (BIND=1) | u8 pad | be16 pf (AF_INET=2)
        NFQA_CFG_PARAMS (2)       be32 copy_range | u8 copy_mode (COPY_META=1), packed
        NFQA_CFG_QUEUE_MAXLEN (3) be32 packets held in the kernel at most
        NFQA_CFG_MASK (4), NFQA_CFG_FLAGS (5)  be32; FAIL_OPEN=1 accepts when full
    ERROR   (kernel -> us)  type NLMSG_ERROR (2): i32 error (0 = ack, else -errno)
    PACKET  (kernel -> us)
        NFQA_PACKET_HDR (1)       be32 packet_id | be16 hw_protocol | u8 hook
    VERDICT (us -> kernel, several may share one datagram)
        NFQA_VERDICT_HDR (2)      be32 verdict (NF_DROP=0, NF_ACCEPT=1) | be32 packet_id

The helper image ships python3-minimal, which has no `json`: status lines are encoded by
`json_line` below.

Loss with correlation C is a two-state Markov chain: after a drop the next packet drops
with P + C(1-P), after a pass with P(1-C). Its long-run drop rate is exactly P and its
lag-1 correlation is C. (netem's `r = C*last + (1-C)*uniform` pulls the effective rate
towards 50 % as C grows; we keep the requested rate instead.)
"""

from __future__ import annotations

import argparse
import errno
import heapq
import os
import random
import select
import signal
import socket
import struct
import sys
import time
from collections.abc import Iterator

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN, NFQA_CFG_MASK, NFQA_CFG_FLAGS = 1, 2, 3, 4, 5
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NFQA_CFG_F_FAIL_OPEN = 0x1
NFQA_PACKET_HDR, NFQA_VERDICT_HDR = 1, 2
NF_DROP, NF_ACCEPT = 0, 1
NLA_TYPE_MASK = 0x3FFF  # strips NLA_F_NESTED / NLA_F_NET_BYTEORDER
AF_INET = 2
QUEUE_MAXLEN = 16384

_NLMSGHDR = struct.Struct("=IHHII")
_NFGENMSG = struct.Struct("!BBH")
_NLATTR = struct.Struct("=HH")


def _align4(n: int) -> int:
    return (n + 3) & ~3


def nla(attr_type: int, payload: bytes) -> bytes:
    """One netlink attribute, padded to a 4-byte boundary."""
    length = _NLATTR.size + len(payload)
    return _NLATTR.pack(length, attr_type) + payload + b"\0" * (_align4(length) - length)


def nfq_message(msg: int, queue: int, attrs: bytes, *, seq: int, flags: int, family: int) -> bytes:
    """nlmsghdr + nfgenmsg + attributes for an nfnetlink_queue message."""
    body = _NFGENMSG.pack(family, 0, queue) + attrs
    msg_type = (NFNL_SUBSYS_QUEUE << 8) | msg
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), msg_type, flags, seq, 0) + body


def bind_message(queue: int, seq: int = 1) -> bytes:
    """CONFIG: bind `queue` for IPv4, copy metadata only, fail open when the queue is full."""
    attrs = (
        nla(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_BIND, AF_INET))
        + nla(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META))
        + nla(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", QUEUE_MAXLEN))
        + nla(NFQA_CFG_MASK, struct.pack("!I", NFQA_CFG_F_FAIL_OPEN))
        + nla(NFQA_CFG_FLAGS, struct.pack("!I", NFQA_CFG_F_FAIL_OPEN))
    )
    return nfq_message(
        NFQNL_MSG_CONFIG, queue, attrs, seq=seq, flags=NLM_F_REQUEST | NLM_F_ACK, family=AF_INET
    )


def verdict_message(queue: int, packet_id: int, verdict: int, seq: int = 0) -> bytes:
    """VERDICT for one packet (no ack requested: the kernel only answers on error)."""
    attrs = nla(NFQA_VERDICT_HDR, struct.pack("!II", verdict, packet_id))
    return nfq_message(NFQNL_MSG_VERDICT, queue, attrs, seq=seq, flags=NLM_F_REQUEST, family=0)


def split_messages(buf: bytes) -> Iterator[tuple[int, int, bytes]]:
    """Yield (type, seq, payload) for each netlink message in one datagram."""
    off = 0
    while off + _NLMSGHDR.size <= len(buf):
        length, msg_type, _flags, seq, _pid = _NLMSGHDR.unpack_from(buf, off)
        if length < _NLMSGHDR.size or off + length > len(buf):
            raise ValueError(f"truncated netlink message at offset {off}")
        yield msg_type, seq, buf[off + _NLMSGHDR.size : off + length]
        off += _align4(length)


def parse_attrs(data: bytes) -> dict[int, bytes]:
    """Attribute type -> payload for a run of nlattrs."""
    attrs: dict[int, bytes] = {}
    off = 0
    while off + _NLATTR.size <= len(data):
        length, attr_type = _NLATTR.unpack_from(data, off)
        if length < _NLATTR.size or off + length > len(data):
            raise ValueError(f"truncated netlink attribute at offset {off}")
        attrs[attr_type & NLA_TYPE_MASK] = data[off + _NLATTR.size : off + length]
        off += _align4(length)
    return attrs


def packet_id_of(payload: bytes) -> int:
    """The packet id in a PACKET message's payload (after nlmsghdr)."""
    hdr = parse_attrs(payload[_NFGENMSG.size :]).get(NFQA_PACKET_HDR)
    if hdr is None or len(hdr) < 4:
        raise ValueError("PACKET message without NFQA_PACKET_HDR")
    return int(struct.unpack_from("!I", hdr)[0])


def error_code(payload: bytes) -> int:
    """The errno carried by an NLMSG_ERROR payload (0 for an ack)."""
    return -int(struct.unpack_from("=i", payload)[0])


class Decider:
    """Per-packet fate: None means drop, a float is the delay in seconds."""

    def __init__(
        self,
        *,
        delay_ms: float,
        jitter_ms: float,
        distribution: str,
        loss_pct: float,
        loss_corr_pct: float,
        seed: int,
    ) -> None:
        self.delay = delay_ms / 1000.0
        self.jitter = jitter_ms / 1000.0
        self.normal = distribution == "normal"
        self.p = loss_pct / 100.0
        self.c = loss_corr_pct / 100.0
        self.rng = random.Random(seed)
        self.last_dropped = self.rng.random() < self.p

    def drop(self) -> bool:
        if self.p <= 0.0:
            return False
        p_now = self.p + self.c * (1 - self.p) if self.last_dropped else self.p * (1 - self.c)
        self.last_dropped = self.rng.random() < p_now
        return self.last_dropped

    def decide(self) -> float | None:
        if self.drop():
            return None
        if self.jitter <= 0.0:
            return self.delay
        if self.normal:
            return max(0.0, self.rng.gauss(self.delay, self.jitter))
        return max(0.0, self.delay + self.rng.uniform(-self.jitter, self.jitter))


def json_line(fields: dict[str, object]) -> str:
    """A one-line JSON object of str/int/float/bool/None values (python3-minimal has no json)."""

    def enc(v: object) -> str:
        if v is None or isinstance(v, bool):
            return {None: "null", True: "true", False: "false"}[v]
        if isinstance(v, int | float):
            return repr(v) if v == v and abs(v) != float("inf") else "null"
        text = "".join(c if c >= " " and c not in '"\\' else f"\\u{ord(c):04x}" for c in str(v))
        return f'"{text}"'

    return "{" + ", ".join(f"{enc(k)}: {enc(v)}" for k, v in sorted(fields.items())) + "}"


def status(event: str, **fields: object) -> None:
    print(json_line({"event": event, **fields}), flush=True)


class Shaper:
    """The select loop: read packets, hold accepted ones in a heap, release them on time."""

    def __init__(self, queue: int, decider: Decider) -> None:
        self.queue = queue
        self.decider = decider
        self.held: list[tuple[float, int, int]] = []  # (due, tie-break, packet_id)
        self.counter = 0
        self.stats = {"received": 0, "accepted": 0, "dropped": 0, "overruns": 0, "errors": 0}
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        try:  # CAP_NET_ADMIN lets us exceed rmem_max; fall back quietly without it
            self.sock.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind((0, 0))

    def bind(self) -> None:
        """Bind the queue; raise OSError with the kernel's errno when it refuses."""
        self.sock.send(bind_message(self.queue, seq=1))
        self.sock.settimeout(5.0)
        while True:
            for msg_type, seq, payload in split_messages(self.sock.recv(65536)):
                if msg_type == NLMSG_ERROR and seq == 1:
                    code = error_code(payload)
                    if code:
                        raise OSError(code, os.strerror(code))
                    self.sock.setblocking(False)
                    return

    def _send(self, verdicts: list[tuple[int, int]]) -> None:
        if verdicts:
            self.sock.send(b"".join(verdict_message(self.queue, pid, v) for pid, v in verdicts))

    def _receive(self, now: float) -> None:
        verdicts: list[tuple[int, int]] = []
        while True:
            try:
                buf = self.sock.recv(1 << 16)
            except BlockingIOError:
                break
            except OSError as e:
                if e.errno != errno.ENOBUFS:
                    raise
                self.stats["overruns"] += 1  # fail-open: the kernel accepted those packets
                continue
            for msg_type, _seq, payload in split_messages(buf):
                if msg_type == NLMSG_ERROR:
                    self.stats["errors"] += error_code(payload) != 0
                elif msg_type == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                    self.stats["received"] += 1
                    pid = packet_id_of(payload)
                    fate = self.decider.decide()
                    if fate is None:
                        self.stats["dropped"] += 1
                        verdicts.append((pid, NF_DROP))
                    elif fate <= 0.0:
                        self.stats["accepted"] += 1
                        verdicts.append((pid, NF_ACCEPT))
                    else:
                        self.counter += 1
                        heapq.heappush(self.held, (now + fate, self.counter, pid))
        self._send(verdicts)

    def _release(self, now: float, everything: bool = False) -> None:
        verdicts: list[tuple[int, int]] = []
        while self.held and (everything or self.held[0][0] <= now):
            verdicts.append((heapq.heappop(self.held)[2], NF_ACCEPT))
        self.stats["accepted"] += len(verdicts)
        for i in range(0, len(verdicts), 256):  # keep each datagram well under 64 KiB
            self._send(verdicts[i : i + 256])

    def run(self, wakeup: int) -> None:
        while True:
            now = time.monotonic()
            self._release(now)
            timeout = max(0.0, self.held[0][0] - now) if self.held else None
            ready, _, _ = select.select([self.sock.fileno(), wakeup], [], [], timeout)
            if wakeup in ready:
                break
            if self.sock.fileno() in ready:
                self._receive(time.monotonic())
        # Stopping: everything still held goes out now, as do packets that raced in.
        self._release(time.monotonic(), everything=True)
        self._receive(time.monotonic())
        self._release(time.monotonic(), everything=True)
        self.sock.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="chaos-eval-shaper", description=__doc__.splitlines()[0])
    ap.add_argument("--queue", type=int, required=True, help="NFQUEUE queue number to bind")
    ap.add_argument("--delay-ms", type=float, default=0.0)
    ap.add_argument("--jitter-ms", type=float, default=0.0)
    ap.add_argument("--distribution", choices=("uniform", "normal"), default="uniform")
    ap.add_argument("--loss-pct", type=float, default=0.0)
    ap.add_argument("--loss-corr-pct", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if not 0 <= args.queue <= 65535:
        ap.error("--queue must be 0..65535")
    if args.delay_ms < 0 or not 0 <= args.jitter_ms <= max(args.delay_ms, 0):
        ap.error("need --delay-ms >= 0 and 0 <= --jitter-ms <= --delay-ms")
    if not (0 <= args.loss_pct <= 100 and 0 <= args.loss_corr_pct <= 100):
        ap.error("--loss-pct and --loss-corr-pct must be within 0..100")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    decider = Decider(
        delay_ms=args.delay_ms,
        jitter_ms=args.jitter_ms,
        distribution=args.distribution,
        loss_pct=args.loss_pct,
        loss_corr_pct=args.loss_corr_pct,
        seed=args.seed,
    )
    try:
        shaper = Shaper(args.queue, decider)
        shaper.bind()
    except OSError as e:
        hint = {
            # the kernel answers EPERM both without the capability and for a queue
            # another socket holds
            errno.EPERM: "CAP_NET_ADMIN missing, or another process holds this queue",
            errno.EPROTONOSUPPORT: "the kernel lacks nfnetlink_queue",
        }.get(e.errno or 0, "")
        message = f"cannot bind NFQUEUE {args.queue}: {e.strerror or e}"
        status("error", queue=args.queue, error=message, hint=hint)
        print(f"chaos-eval-shaper: {message}" + (f" ({hint})" if hint else ""), file=sys.stderr)
        return 2
    rd, wr = os.pipe()
    os.set_blocking(rd, False)
    os.set_blocking(wr, False)
    signal.set_wakeup_fd(wr)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _s, _f: None)  # the wakeup fd ends the select loop
    status("bound", pid=os.getpid(), **vars(args))
    shaper.run(rd)
    status("stopped", queue=args.queue, **shaper.stats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
