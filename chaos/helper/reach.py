#!/usr/bin/env python3
"""chaos-eval-reach: TCP connect probes from one helper, to several peers at once or as a
watch on one peer port.

Standard library only (python3-minimal: no json); the harness copies this file into a
helper joined to the SOURCE node's network namespace (chaos/net/reachability.py,
chaos/net/reach_watch.py) and runs one of

    python3 /tmp/chaos-eval-reach.py TIMEOUT_S IP PORT [IP PORT ...]
    python3 /tmp/chaos-eval-reach.py watch DEADLINE_S WINDOW_S LINGER_S INTERVAL_S READY IP PORT

Probe: every connect starts at once (non-blocking), so probing n peers takes at most
TIMEOUT_S, not n times it. Output: one line per IP PORT argument pair, in argument order,

    <ip> <port> open
    <ip> <port> closed <reason>      reason: ETIMEDOUT, ECONNREFUSED, EPERM (a local DROP) ...

`open` means the TCP handshake completed (what `nc -z` reports with exit 0).

Watch: connect to IP PORT again and again (INTERVAL_S between attempts, each given WINDOW_S)
until LINGER_S after the end of the first attempt that failed, or DEADLINE_S after the
start, whichever comes first. Once its first attempt has ended it creates the empty file
READY (WATCH_DIR/<hex>), which the harness looks for to know it is watching, and removes it
when it stops. One line per attempt, in order, then one closing line:

    <start_ns> open
    <start_ns> closed <reason>       refused, unreachable..., or ETIMEDOUT: the whole window
    <start_ns> cut                   the stop came before its window ended: proves nothing
    end failed|deadline              why it stopped (a failure seen, or the deadline)

<start_ns> is CLOCK_REALTIME (time.time_ns) just before the connect: the kernel's clock,
which the Docker daemon and every container share, so the harness can compare it with the
times the engine records (a container's State.FinishedAt).

Exit 0 when it ran (whatever the outcomes); 2 on bad arguments (nothing tried). Importing
this module has no side effects; `probe`, `watch` and `main` are unit-tested by the harness.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import select
import socket
import sys
import time

WATCH_DIR = "/tmp/chaos-eval-watch"
READY_NAME = re.compile(r"[0-9a-f]{8,64}")


def _reason(code: int) -> str:
    return errno.errorcode.get(code, str(code))


def probe(targets: list[tuple[str, int]], timeout_s: float) -> list[str]:
    """One status per target ("open" or "closed <reason>"), in input order. A handshake
    that completed by the deadline counts as open, also when this process is scheduled late:
    past the deadline, one last poll that does not wait comes before any ETIMEDOUT."""
    results: list[str | None] = [None] * len(targets)
    pending: dict[socket.socket, int] = {}
    for i, (ip, port) in enumerate(targets):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        code = s.connect_ex((ip, port))
        if code in (errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK):
            pending[s] = i
            continue
        results[i] = "open" if code == 0 else f"closed {_reason(code)}"
        s.close()
    deadline = time.monotonic() + timeout_s
    while pending:
        left = max(0.0, deadline - time.monotonic())
        _, writable, _ = select.select([], list(pending), [], left)
        for s in writable:
            i = pending.pop(s)
            code = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            results[i] = "open" if code == 0 else f"closed {_reason(code)}"
            s.close()
        if left == 0.0:  # that was the last poll
            break
    for s, i in pending.items():
        results[i] = "closed ETIMEDOUT"
        s.close()
    return [r or "closed ETIMEDOUT" for r in results]


def watch(
    ip: str, port: int, deadline_s: float, window_s: float, linger_s: float, interval_s: float,
    ready: str | None = None,
) -> list[str]:
    """The watch's output lines (module docstring); `ready` is created after the first
    attempt and removed at the end."""
    try:
        return _watch(ip, port, deadline_s, window_s, linger_s, interval_s, ready)
    finally:
        if ready is not None:
            with contextlib.suppress(OSError):
                os.unlink(ready)


def _watch(
    ip: str, port: int, deadline_s: float, window_s: float, linger_s: float, interval_s: float,
    ready: str | None,
) -> list[str]:
    lines: list[str] = []
    stop = time.monotonic() + deadline_s
    failed = False
    while True:
        left = stop - time.monotonic()
        if left <= 0:
            break
        window = min(window_s, left)
        start_ns = time.time_ns()
        (status,) = probe([(ip, port)], window)
        if status == "closed ETIMEDOUT" and window < window_s:
            status = "cut"
        lines.append(f"{start_ns} {status}")
        if ready is not None and len(lines) == 1:
            os.makedirs(WATCH_DIR, exist_ok=True)
            with open(ready, "w"):
                pass
        if status.startswith("closed") and not failed:
            failed = True
            stop = min(stop, time.monotonic() + linger_s)
        time.sleep(max(0.0, min(interval_s, stop - time.monotonic())))
    lines.append("end failed" if failed else "end deadline")
    return lines


def _seconds(text: str, low: float, high: float) -> float:
    value = float(text)
    if not low <= value <= high:  # also refuses nan
        raise ValueError(f"{text} s is outside {low:g}-{high:g}")
    return value


def _target(ip: str, port: str) -> tuple[str, int]:
    socket.inet_aton(ip)  # raises OSError for anything but a dotted IPv4 address
    if ip.count(".") != 3:
        raise ValueError(f"not a dotted IPv4 address: {ip}")
    number = int(port)
    if not 1 <= number <= 65535:
        raise ValueError(f"bad port {port}")
    return ip, number


def _ready_path(path: str) -> str:
    head, _, name = path.rpartition("/")
    if head != WATCH_DIR or not READY_NAME.fullmatch(name):
        raise ValueError(f"READY must be {WATCH_DIR}/<8-64 hex digits>, not {path!r}")
    return path


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["watch"]:
            if len(argv) != 8:
                raise ValueError(
                    "expected watch DEADLINE_S WINDOW_S LINGER_S INTERVAL_S READY IP PORT")
            deadline_s = _seconds(argv[1], 0.01, 60)
            window_s = _seconds(argv[2], 0.01, 30)
            linger_s = _seconds(argv[3], 0, 10)
            interval_s = _seconds(argv[4], 0, 1)
            ready = _ready_path(argv[5])
            ip, port = _target(argv[6], argv[7])
            lines = watch(ip, port, deadline_s, window_s, linger_s, interval_s, ready)
        else:
            timeout_s = float(argv[0])
            rest = argv[1:]
            if not timeout_s > 0 or not rest or len(rest) % 2:
                raise ValueError("expected TIMEOUT_S IP PORT [IP PORT ...]")
            targets = [_target(rest[i], rest[i + 1]) for i in range(0, len(rest), 2)]
            lines = [f"{ip} {port} {status}" for (ip, port), status
                     in zip(targets, probe(targets, timeout_s), strict=True)]
    except (IndexError, ValueError, OSError) as e:
        print(f"chaos-eval-reach: {e}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
