"""Stop and start the machine's Docker daemon from a test: found through /proc (how it was
started: its argv, environment and working directory), stopped with SIGTERM to a deadline,
started again the same way, detached (a new session, its output to a log file), and waited
for (bounded) until the engine answers and has rebuilt its iptables chains.

Restarting the daemon stops every container on the machine (live-restore is off here), so
a test using this must run alone: under `flock -x` on the lock every Docker-backed test
holds shared (here /work/docker.lock)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

DAEMON = "dockerd"


@dataclass(frozen=True)
class Daemon:
    pid: int
    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: str


def find_daemon() -> Daemon | str:
    """The running dockerd, or why it cannot be restarted from here."""
    if os.geteuid() != 0:
        return "restarting the Docker daemon needs root"
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() != DAEMON:
                continue
            argv = tuple(a.decode() for a in (proc / "cmdline").read_bytes().split(b"\0") if a)
            env = dict(e.decode().partition("=")[::2]
                       for e in (proc / "environ").read_bytes().split(b"\0") if e)
            cwd = os.readlink(proc / "cwd")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if argv:
            return Daemon(int(proc.name), argv, env, cwd)
    return "no dockerd process visible here (the daemon runs elsewhere, or under another pid ns)"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _until(check: object, timeout_s: float, what: str, interval_s: float = 0.2) -> float:
    t0 = time.monotonic()
    while not check():  # type: ignore[operator]
        if time.monotonic() - t0 > timeout_s:
            raise TimeoutError(f"{what} not within {timeout_s}s")
        time.sleep(interval_s)  # poll interval
    return time.monotonic() - t0


def stop(d: Daemon, timeout_s: float = 90.0) -> float:
    """SIGTERM, then wait until the process is gone; seconds it took."""
    os.kill(d.pid, signal.SIGTERM)
    return _until(lambda: not _alive(d.pid), timeout_s, f"dockerd (pid {d.pid}) exit")


def engine_answers() -> bool:
    done = subprocess.run(["docker", "info", "--format", "{{.ID}}"], capture_output=True,
                          timeout=20, check=False)
    return done.returncode == 0


def _chains_back() -> bool:
    """Docker recreates its iptables chains (DOCKER, DOCKER-USER, ...) as it starts; a
    container started before they exist fails to publish its ports."""
    return all(subprocess.run(argv, capture_output=True, timeout=20, check=False).returncode
               == 0 for argv in (["iptables", "-t", "nat", "-S", "DOCKER"],
                                 ["iptables", "-t", "filter", "-S", "DOCKER-USER"]))


def running() -> bool:
    return isinstance(find_daemon(), Daemon)


def start(d: Daemon, log: Path, timeout_s: float = 120.0) -> float:
    """Start the daemon again as it was started, detached; wait until it answers and its
    chains are back. Seconds it took."""
    with log.open("ab") as out:
        subprocess.Popen(list(d.argv), env=d.env, cwd=d.cwd, stdin=subprocess.DEVNULL,
                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return _until(lambda: engine_answers() and _chains_back(), timeout_s,
                  f"the Docker engine answering (log: {log})", 0.5)


def ensure_running(d: Daemon, log: Path) -> None:
    """The `finally` of every restart: whatever happened, a daemon runs and answers."""
    if not running():
        start(d, log)
    else:
        _until(engine_answers, 120.0, "the Docker engine answering", 0.5)
