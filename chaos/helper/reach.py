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

Rounds (chaos/net/probe_rounds.py), for a fault that installs a node's rules and probes from
it in the same exec:

    python3 /tmp/chaos-eval-reach.py --first N WORD... --rounds R EVERY_S TIMEOUT_S IP PORT...

runs the N-word command first (stdin and stdout /dev/null, its stderr ours) and prints
`first <exit code> <t>`, t the kernel's CLOCK_MONOTONIC just after it returned; when it
failed, exits with its code and probes nothing. Then R rounds, one begun every EVERY_S,
each one connect per target given TIMEOUT_S as above, printed as `round <k> <t>` (t read
just before the round's first connect) followed by its target lines. Either flag may be
left out (`--rounds 1 0` without `--first` probes like the plain form, in the round format).

Exit 0 when it ran (whatever the outcomes); 2 on bad arguments (nothing tried). Importing
this module has no side effects; `probe`, `probe_rounds`, `watch` and `main` are
unit-tested by the harness.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sys
import time

# socket and select are imported where they are used: with --first, the command then runs
# ~10 ms sooner (their import is most of this program's start-up), and the imports overlap
# the other nodes' transactions instead of delaying this one's.
IN_PROGRESS = (errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK)
WATCH_DIR = "/tmp/chaos-eval-watch"
READY_NAME = re.compile(r"[0-9a-f]{8,64}")


def _reason(code: int) -> str:
    return errno.errorcode.get(code, str(code))


def _status(code: int) -> str:
    return "open" if code == 0 else f"closed {_reason(code)}"


def probe(targets: list[tuple[str, int]], timeout_s: float) -> list[str]:
    """One status per target ("open" or "closed <reason>"), in input order. A handshake
    that completed by the deadline counts as open, also when this process is scheduled late:
    past the deadline, one last poll that does not wait comes before any ETIMEDOUT."""
    return probe_rounds(targets, timeout_s, 1, 0.0)[0][1]


def probe_rounds(
    targets: list[tuple[str, int]], timeout_s: float, rounds: int, every_s: float
) -> list[tuple[float, list[str]]]:
    """`rounds` rounds of one connect per target, round k begun at k * every_s after the
    first; each connect given `timeout_s` from the end of its round's connects. Per round:
    (CLOCK_MONOTONIC read just before its first connect, one status per target)."""
    import select  # here, not above: see the note on the imports
    import socket

    out: list[tuple[float, list[str]]] = []
    pending: dict[socket.socket, tuple[int, int, float]] = {}  # -> (round, target, deadline)
    first = time.monotonic()
    while len(out) < rounds or pending:
        now = time.monotonic()
        if len(out) < rounds and now >= first + len(out) * every_s:
            k, start, results = len(out), time.monotonic(), [""] * len(targets)
            out.append((start, results))
            started = []
            for i, (ip, port) in enumerate(targets):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                code = s.connect_ex((ip, port))
                if code in IN_PROGRESS:
                    started.append((s, i))
                    continue
                results[i] = _status(code)
                s.close()
            deadline = time.monotonic() + timeout_s
            pending.update((s, (k, i, deadline)) for s, i in started)
            continue
        wake = min([d for _, _, d in pending.values()]
                   + ([first + len(out) * every_s] if len(out) < rounds else []))
        _, writable, _ = select.select([], list(pending), [], max(0.0, wake - now))
        for s in writable:
            k, i, _ = pending.pop(s)
            out[k][1][i] = _status(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
            s.close()
        now = time.monotonic()
        for s, (k, i, deadline) in list(pending.items()):
            if now >= deadline:
                del pending[s]
                out[k][1][i] = "closed ETIMEDOUT"
                s.close()
    return out


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
    parts = ip.split(".")  # a dotted quad, nothing inet_aton would also take
    if len(parts) != 4 or not all(p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts):
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


def run_first(argv: list[str]) -> int:
    """Run argv to its end (stdin, stdout /dev/null; stderr ours): its exit code."""
    null = os.open(os.devnull, os.O_RDWR)
    try:
        pid = os.posix_spawnp(argv[0], argv, dict(os.environ),
                              file_actions=[(os.POSIX_SPAWN_DUP2, null, 0),
                                            (os.POSIX_SPAWN_DUP2, null, 1)])
    except OSError as e:
        print(f"chaos-eval-reach: {argv[0]}: {e}", file=sys.stderr)
        return 127
    finally:
        os.close(null)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _options(argv: list[str]) -> tuple[list[str] | None, tuple[int, float] | None, list[str]]:
    first: list[str] | None = None
    rounds: tuple[int, float] | None = None
    while argv and argv[0] in ("--first", "--rounds"):
        if argv[0] == "--first":
            n = int(argv[1])
            if n < 1 or len(argv) < 2 + n:
                raise ValueError("--first N needs N words")
            first, argv = argv[2:2 + n], argv[2 + n:]
        else:
            rounds, argv = (int(argv[1]), float(argv[2])), argv[3:]
            if not 1 <= rounds[0] <= 100 or not 0 <= rounds[1] <= 10:
                raise ValueError(f"bad rounds {rounds}")
    if first is not None and rounds is None:
        rounds = (1, 0.0)
    return first, rounds, argv


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
            first, rounds, argv = _options(argv)
            timeout_s = float(argv[0])
            rest = argv[1:]
            if not timeout_s > 0 or not rest or len(rest) % 2:
                raise ValueError("expected TIMEOUT_S IP PORT [IP PORT ...]")
            targets = [_target(rest[i], rest[i + 1]) for i in range(0, len(rest), 2)]
            if rounds is not None:
                return _rounds(first, rounds, targets, timeout_s)
            lines = [f"{ip} {port} {status}" for (ip, port), status
                     in zip(targets, probe(targets, timeout_s), strict=True)]
    except (IndexError, ValueError, OSError) as e:
        print(f"chaos-eval-reach: {e}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    return 0


def _rounds(first: list[str] | None, rounds: tuple[int, float],
            targets: list[tuple[str, int]], timeout_s: float) -> int:
    if first is not None:
        code = run_first(first)
        print(f"first {code} {time.monotonic():.6f}", flush=True)
        if code:
            return code
    for k, (start, statuses) in enumerate(probe_rounds(targets, timeout_s, *rounds)):
        print(f"round {k} {start:.6f}")
        for (ip, port), status in zip(targets, statuses, strict=True):
            print(f"{ip} {port} {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
