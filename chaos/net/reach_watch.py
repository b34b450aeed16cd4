"""Watching a peer port go dark: connect attempts from a peer's network namespace that run
beside a disturbance instead of after it, and the rule that says which of them prove it.

A probe taken after a node was killed (chaos/net/reachability.py) waits out its connect
window when the dead node's address has gone silent. A watch starts before the kill, in ONE
exec of chaos/helper/reach.py's watch mode in the source node's helper: it connects to the
destination's peer port again and again and reports each attempt's start (CLOCK_REALTIME,
the kernel's clock, which the engine's recorded times share) and outcome, until a short
linger after the first attempt that failed (or its own deadline). Between a process's death
and the engine's network teardown (some 50 ms) a connect is refused at once (no listener),
so a watch that is already connecting sees the port fail within milliseconds. An exec takes
0.1-0.15 s to start on a loaded host, longer than a SIGKILL takes to kill, so the caller
waits for the watch to be looking before it acts (`until_watching`: the watch creates a
marker file after its first attempt, polled with one archive read, no exec).

What counts (`proof_after`): only a failed attempt (refused, unreachable, or no handshake in
its whole window) that STARTED after the time the engine recorded the process's exit: the
engine sets it once the process has died, so nothing seen before the death can count. An
attempt that connected after that time spoils the watch. When nothing qualifies, the caller
probes after the fact as before. Every address, port and time reaches the argv checked.
"""

from __future__ import annotations

import asyncio
import math
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chaos_eval.chaos.net.addresses import checked_ipv4
from chaos_eval.chaos.net.reachability import (
    REACH_PATH,
    REACH_TIMEOUT_S,
    PairProbe,
    checked_port,
    peer_port,
    reach_program,
)
from chaos_eval.engine.client import Docker
from chaos_eval.engine.helper_containers import HELPER_IMAGE_DEFAULT
from chaos_eval.errors import DockerError, FaultError, ParameterError
from chaos_eval.polling import poll_until
from chaos_eval.subject import Node

# The watch ends this long after the first failed attempt: the engine records the exit a few
# milliseconds after the port starts refusing (0-9 ms measured on a loaded 2-core host) and
# tears the network down some 50 ms after it, so attempts in the linger start after it.
WATCH_LINGER_S = 0.1
WATCH_INTERVAL_S = 0.005  # between attempts: the refused window holds several
# The watch's own bound: a SIGKILL'd process is dead well before the engine answers the kill
# (0.1-0.5 s); a watch that saw nothing fail by then ends and the caller probes after.
WATCH_DEADLINE_S = 2.0
WATCH_EXEC_MARGIN_S = 5.0  # the exec's time limit beyond the watch's own deadline
WATCH_DIR = "/tmp/chaos-eval-watch"  # chaos/helper/reach.py's: where its marker goes
WATCH_READY_S = 1.0  # how long the caller waits for a watch to be looking, at most
READY_POLL_S = 0.01  # between looks for the marker (each one archive read)


@dataclass(frozen=True)
class Attempt:
    """One connect attempt of a watch: when it started (ns, CLOCK_REALTIME), how it ended:
    "open", "cut" (the watch stopped first: proves nothing) or why it failed."""

    start_ns: int
    outcome: str

    @property
    def failed(self) -> bool:
        return self.outcome not in ("open", "cut")


@dataclass(frozen=True)
class Watch:
    """A watch's attempts from `src` to `dst`'s peer `port`, and why it ended."""

    src: str
    dst: str
    port: int
    attempts: tuple[Attempt, ...]
    ended: str  # "failed" (it saw the port fail) or "deadline"

    def proof(self, finished_ns: int | None) -> PairProbe | None:
        """The watch's failed attempt that proves the port dark after an exit recorded at
        `finished_ns`, as a probe; None when none does (`proof_after`)."""
        found = proof_after(self.attempts, finished_ns)
        if found is None:
            return None
        return PairProbe(self.src, self.dst, self.port, False, 1, found.outcome)

    def account(self, finished_ns: int | None) -> str:
        """How the watch saw the port (a figure of the proof): the proving attempt, how long
        after the recorded exit it started; or that none proves it (a probe decides)."""
        found = proof_after(self.attempts, finished_ns)
        if found is None or finished_ns is None:
            return (f"probed after the kill (watch: {len(self.attempts)} attempts, ended "
                    f"{self.ended}, none proves the port dark after the recorded exit)")
        return (f"watch: {found.outcome} {(found.start_ns - finished_ns) / 1e6:.1f} ms after "
                f"the recorded exit ({len(self.attempts)} attempts)")


def proof_after(attempts: tuple[Attempt, ...], finished_ns: int | None) -> Attempt | None:
    """The first failed attempt that started strictly after `finished_ns` (when the engine
    recorded the process's exit), provided no attempt that started after that time
    connected; None when there is none, no exit time, or one connected. Pure."""
    if finished_ns is None:
        return None
    after = [a for a in attempts if a.start_ns > finished_ns]
    if any(a.outcome == "open" for a in after):
        return None
    return next((a for a in after if a.failed), None)


def _checked_seconds(name: str, value: float, low: float, high: float) -> float:
    if not (math.isfinite(value) and low <= value <= high):
        raise ParameterError(f"watch {name} must be within {low:g}-{high:g} s, got {value}")
    return value


def ready_path(tag: str) -> str:
    """Where a watch tagged `tag` (8-64 lowercase hex digits, ParameterError else) puts its
    marker. Pure."""
    if not re.fullmatch(r"[0-9a-f]{8,64}", tag):
        raise ParameterError(f"watch tag must be 8-64 lowercase hex digits: {tag!r}")
    return f"{WATCH_DIR}/{tag}"


def new_ready_path() -> str:
    return ready_path(secrets.token_hex(8))


def watch_argv(
    ip: str,
    port: int,
    ready: str,
    *,
    deadline_s: float = WATCH_DEADLINE_S,
    window_s: float = REACH_TIMEOUT_S,
    linger_s: float = WATCH_LINGER_S,
    interval_s: float = WATCH_INTERVAL_S,
) -> tuple[str, ...]:
    """argv of a watch on (ip, port) with chaos/helper/reach.py (copied in as REACH_PATH)
    that marks `ready` (a `ready_path`) once looking; every value checked (ParameterError).
    Pure."""
    tag = ready.rpartition("/")[2]
    if ready_path(tag) != ready:
        raise ParameterError(f"not a watch marker path: {ready!r}")
    times = (
        _checked_seconds("deadline", deadline_s, 0.05, 30),
        _checked_seconds("window", window_s, 0.05, 30),
        _checked_seconds("linger", linger_s, 0, 5),
        _checked_seconds("interval", interval_s, 0, 1),
    )
    return ("python3", REACH_PATH, "watch", *(f"{t:g}" for t in times), ready,
            checked_ipv4(ip), str(checked_port(port)))


def parse_watch(stdout: str) -> tuple[tuple[Attempt, ...], str]:
    """The attempts and the closing word of a watch's output; FaultError unless it is
    whole: attempt lines in start order, then exactly one `end failed|deadline` line."""
    lines = [line.split() for line in stdout.splitlines() if line.strip()]
    if not lines or len(lines[-1]) != 2 or lines[-1][0] != "end" \
            or lines[-1][1] not in ("failed", "deadline"):
        raise FaultError(f"watch: no closing line in {stdout[-200:]!r}")
    attempts: list[Attempt] = []
    for words in lines[:-1]:
        whole = (len(words) == 2 and words[1] in ("open", "cut")) or (
            len(words) == 3 and words[1] == "closed")
        if not whole or not words[0].isdigit():
            raise FaultError(f"watch: unexpected line {' '.join(words)!r}")
        start = int(words[0])
        if attempts and start < attempts[-1].start_ns:
            raise FaultError(f"watch: attempt at {start} out of order")
        attempts.append(Attempt(start, words[-1]))
    return tuple(attempts), lines[-1][1]


async def watch_from(
    docker: Docker,
    labels: Mapping[str, str],
    src: Node,
    dst: Node,
    ready: str,
    *,
    image: str = HELPER_IMAGE_DEFAULT,
    deadline_s: float = WATCH_DEADLINE_S,
) -> Watch:
    """Watch `dst`'s peer port from `src`'s network namespace until it fails (plus the
    linger) or the deadline, marking `ready` once looking; returns when the watch has ended.
    The exec is bounded by the watch's deadline plus WATCH_EXEC_MARGIN_S. Raises DockerError
    if the helper cannot run, FaultError if it answers nonsense."""
    port = peer_port(dst)
    res = await docker.run_helper(
        watch_argv(dst.address, port, ready, deadline_s=deadline_s),
        labels=labels,
        netns_of=src.container_id,
        image=image,
        timeout_s=deadline_s + WATCH_EXEC_MARGIN_S,
        files={REACH_PATH: reach_program()},
    )
    if not res.ok:
        raise FaultError(f"watch from {src.name}: exit {res.exit_code}: {res.stderr.strip()}")
    attempts, ended = parse_watch(res.stdout)
    return Watch(src.name, dst.name, port, attempts, ended)


async def until_watching(
    docker: Docker, src: Node, ready: str, watch: asyncio.Future[Any]
) -> bool:
    """Poll until the watch running in `watch` (from `src`'s node helper) has made its first
    attempt (its `ready` marker exists) or has ended: True; False when WATCH_READY_S passed
    first, `src` has no node helper, or the engine could not be asked (the caller goes on:
    a watch that saw nothing proves nothing)."""

    async def looking() -> bool | None:  # None: stop asking
        if watch.done():
            return True
        helper = docker.node_helper_of(src.container_id)
        if helper is None:
            return None
        try:
            return await docker.has_path(helper, ready)
        except DockerError:
            return None

    found, _ = await poll_until(looking, lambda r: r is not False, WATCH_READY_S, READY_POLL_S,
                                backoff=1.0)
    return bool(found)
