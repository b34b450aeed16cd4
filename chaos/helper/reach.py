#!/usr/bin/env python3
"""chaos-eval-reach: TCP connect probes to several peers at once, from one helper.

Standard library only (python3-minimal: no json); the harness copies this file into a
one-shot helper joined to the SOURCE node's network namespace (chaos/net/reachability.py) and runs

    python3 /tmp/chaos-eval-reach.py TIMEOUT_S IP PORT [IP PORT ...]

Every connect starts at once (non-blocking), so probing n peers takes at most TIMEOUT_S,
not n times it. Output: one line per IP PORT argument pair, in argument order,

    <ip> <port> open
    <ip> <port> closed <reason>      reason: ETIMEDOUT, ECONNREFUSED, EPERM (a local DROP) ...

`open` means the TCP handshake completed (what `nc -z` reports with exit 0). Exit 0 when
every target was tried, whatever the outcomes; 2 on bad arguments (nothing tried).

Importing this module has no side effects; `probe` is unit-tested by the harness.
"""

from __future__ import annotations

import errno
import select
import socket
import sys
import time


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


def main(argv: list[str]) -> int:
    try:
        timeout_s = float(argv[0])
        rest = argv[1:]
        if timeout_s <= 0 or not rest or len(rest) % 2:
            raise ValueError("expected TIMEOUT_S IP PORT [IP PORT ...]")
        targets = [(rest[i], int(rest[i + 1])) for i in range(0, len(rest), 2)]
        for ip, port in targets:
            socket.inet_aton(ip)  # raises OSError for anything but a dotted IPv4 address
            if not 1 <= port <= 65535:
                raise ValueError(f"bad port {port}")
    except (IndexError, ValueError, OSError) as e:
        print(f"chaos-eval-reach: {e}", file=sys.stderr)
        return 2
    for (ip, port), status in zip(targets, probe(targets, timeout_s), strict=True):
        print(f"{ip} {port} {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
