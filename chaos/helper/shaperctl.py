#!/usr/bin/env python3
"""chaos-eval-shaperctl: start, stop and list the nfqueue shaper inside a node helper.

Standard library only (python3-minimal: no json). The harness copies this file into the
trial's long-lived node helper of the target (it shares the target's network namespace and
has CAP_NET_ADMIN, what the shaper needs) and execs it there, so the shaper runs as a
process of that helper instead of a container of its own (chaos/net/shaper_daemon.py):

    python3 CTL start STATUS_FILE TIMEOUT_S N THEN_ARGV(N words) SHAPER_ARGV...
        stop any live shaper of the same --queue in this helper first (an earlier attempt),
        start SHAPER_ARGV in its own session (stdin /dev/null, stdout and stderr to
        STATUS_FILE, so it holds nothing of this exec), wait until it prints "bound" or
        "error" or exits or TIMEOUT_S passes; print its status lines and `pid N`. Exit 0
        when bound; 1 otherwise (a shaper that did not bind is killed). Once it is bound,
        and only then, run THEN_ARGV (N may be 0: none; the harness's iptables-restore of
        the rules that queue traffic to it) and print `then EXIT` (its stderr to ours).
    python3 CTL stop QUEUE TIMEOUT_S
        SIGTERM every live shaper of QUEUE (it accepts every packet it holds), wait until
        none is live, SIGKILL what is left after TIMEOUT_S; print `stopped PIDS` and
        `left PIDS`. Exit 0 when none is left.
    python3 CTL list QUEUE
        print `live PIDS` (empty when none). Exit 0.

A shaper is a process whose command line runs chaos-eval-shaper with `--queue QUEUE`, among
the processes this program sees: in a node helper, that helper's own (its PID namespace); one
that is a zombie (it exited; the helper's init, `sleep`, does not reap it) is gone: it holds
no socket, no queue. Exit 2 on bad arguments.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import sys
import time

SHAPER = b"chaos-eval-shaper"
POLL_S = 0.002  # the shaper binds in ~30 ms: look often, it is one small read


def shaper_pids(queue: str) -> list[int]:
    """Live (not zombie) processes running the shaper on `queue`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{entry}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue  # gone meanwhile
        if state in (b"Z", b"X"):
            continue
        runs = any(os.path.basename(a) == SHAPER for a in argv[:2])
        on_queue = any(a == b"--queue" and b == queue.encode()
                       for a, b in itertools.pairwise(argv))
        if runs and on_queue:
            found.append(int(entry))
    return sorted(found)


def signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def stop(queue: str, timeout_s: float) -> tuple[list[int], list[int]]:
    """SIGTERM, wait, SIGKILL: (pids signalled, pids still live)."""
    pids = shaper_pids(queue)
    signal_all(pids, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    left = shaper_pids(queue)
    while left and time.monotonic() < deadline:
        time.sleep(POLL_S)
        left = shaper_pids(queue)
    signal_all(left, signal.SIGKILL)
    deadline = time.monotonic() + 1.0
    while left and time.monotonic() < deadline:
        time.sleep(POLL_S)
        left = shaper_pids(queue)
    return pids, left


def spawn(argv: list[str], out: str, *, setsid: bool = False) -> int:
    """Start argv (stdin /dev/null; stdout and stderr to the file `out`, truncated) without
    waiting for it: its pid. (os.posix_spawnp: `subprocess` costs more start-up than the
    rest of this program.) OSError when it cannot be started."""
    null = os.open(os.devnull, os.O_RDONLY)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        return os.posix_spawnp(argv[0], argv, dict(os.environ), setsid=setsid, file_actions=[
            (os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, fd, 1),
            (os.POSIX_SPAWN_DUP2, fd, 2)])
    finally:
        os.close(null)
        os.close(fd)


class Child:
    """A started process, reaped once."""

    def __init__(self, pid: int) -> None:
        self.pid, self.status = pid, None

    def poll(self) -> int | None:
        """Its exit code once it has exited, else None."""
        if self.status is None:
            got, status = os.waitpid(self.pid, os.WNOHANG)
            if got:
                self.status = os.waitstatus_to_exitcode(status)
        return self.status

    def wait(self) -> int:
        if self.status is None:
            self.status = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        return self.status


def events(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def start(status: str, timeout_s: float, then: list[str], argv: list[str]) -> int:
    queue = argv[argv.index("--queue") + 1] if "--queue" in argv[:-1] else ""
    if not queue:
        print("shaper argv names no --queue", file=sys.stderr)
        return 2
    stop(queue, timeout_s)
    try:
        proc = Child(spawn(argv, status, setsid=True))
    except OSError as e:
        print(f"cannot start the shaper: {e}", file=sys.stderr)
        return 1
    deadline = time.monotonic() + timeout_s
    while True:
        text = events(status)
        lines = [line for line in text.splitlines() if line.startswith("{")]
        settled = any('"event": "bound"' in line or '"event": "error"' in line for line in lines)
        if settled or proc.poll() is not None or time.monotonic() >= deadline:
            break
        time.sleep(POLL_S)
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    print(f"pid {proc.pid}")
    if any('"event": "bound"' in line for line in lines) and proc.poll() is None:
        if then:
            sys.stdout.flush()
            print(f"then {run_then(then)}")
        return 0
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return 1


def run_then(argv: list[str]) -> int:
    """Run argv to its end (stdin and stdout /dev/null, its stderr ours): its exit code."""
    null = os.open(os.devnull, os.O_RDWR)
    try:
        pid = os.posix_spawnp(argv[0], argv, dict(os.environ), file_actions=[
            (os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1)])
    except OSError as e:
        print(f"{argv[0]}: {e}", file=sys.stderr)
        return 127
    finally:
        os.close(null)
    return Child(pid).wait()


def main(args: list[str]) -> int:
    try:
        if args[0] == "start":
            n = int(args[3])
            if n < 0 or len(args) < 5 + n:
                raise ValueError(n)
            return start(args[1], float(args[2]), args[4:4 + n], args[4 + n:])
        if args[0] == "stop":
            pids, left = stop(args[1], float(args[2]))
            print("stopped " + " ".join(map(str, pids)))
            print("left " + " ".join(map(str, left)))
            return 1 if left else 0
        if args[0] == "list":
            print("live " + " ".join(map(str, shaper_pids(args[1]))))
            return 0
    except (IndexError, ValueError):
        pass
    print("usage: shaperctl start STATUS TIMEOUT N THEN... ARGV... | stop QUEUE TIMEOUT | "
          "list QUEUE",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
