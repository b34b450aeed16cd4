"""Probe rounds: a node's rules installed and its outbound reachability observed in ONE exec,
the observation accepted only when it was taken after every node's rules were in.

A network fault that changes several nodes' tables (the partition) used to install them (one
exec a node) and then, once every exec had returned, probe (one more exec a source node):
two round trips to the engine one after the other. Here each node's exec runs
chaos/helper/reach.py with `--first` (the rules transaction) and `--rounds`: the program
applies the transaction, prints the kernel's CLOCK_MONOTONIC just after it returned (`first
<code> <t>`), then begins a round of connects to every peer every EVERY_S, ROUNDS times, each
connect given the same window as any other probe (REACH_TIMEOUT_S), each round printed with
the clock read just before its first connect. Nodes without rules of their own are not
probed here.

What is accepted (`settled`): with M the latest of the nodes' `first` times (the moment the
fault was fully in place: every transaction had returned), a source's observation is its
FIRST round begun at or after M; a source with no such round (its rounds all began before
the last transaction was in) gives none, and the fault's verify_active probes it afresh. The
rounds that began earlier are discarded whatever they saw. All times come from one kernel
clock (every container of a host reads the same CLOCK_MONOTONIC, as the harness does): a
reported time outside the harness's own launch .. return of that exec means it is not, and
then nothing of the exec is accepted (`Installed.times_ok`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from chaos_eval.chaos.net.reachability import (
    REACH_PATH,
    REACH_TIMEOUT_S,
    PairProbe,
    peer_port,
    reach_argv,
    reach_program,
)
from chaos_eval.engine.client import Docker
from chaos_eval.errors import FaultError, ParameterError
from chaos_eval.subject import Node

# Rounds after a node's own transaction: one begun every EVERY_S, so a source whose rules
# went in up to (ROUNDS - 1) x EVERY_S before the last node's still has a round from after
# it, begun at most EVERY_S late; its exec lasts that much longer than one round (the last
# round still gets the whole connect window).
ROUNDS, EVERY_S = 4, 0.02


def rounds_argv(
    targets: Iterable[tuple[str, int]],
    first: tuple[str, ...],
    rounds: int = ROUNDS,
    every_s: float = EVERY_S,
    timeout_s: float = REACH_TIMEOUT_S,
) -> tuple[str, ...]:
    """argv of reach.py running `first` (the harness's own argv, e.g. its iptables-restore),
    then `rounds` probe rounds of every (ip, port), one begun every `every_s`."""
    if not 1 <= rounds <= 100 or not 0 <= every_s <= 1:
        raise ParameterError(f"probe rounds out of range: {rounds} every {every_s}s")
    if not first or any(not w or "\0" in w for w in first):
        raise ParameterError(f"bad command to run before the probes: {first!r}")
    return reach_argv(targets, timeout_s, ("--first", str(len(first)), *first,
                                           "--rounds", str(rounds), f"{every_s:g}"))


@dataclass(frozen=True)
class Round:
    started: float  # CLOCK_MONOTONIC just before the round's first connect
    answers: tuple[tuple[bool, str], ...]  # (open, reason) per target, in order


@dataclass(frozen=True)
class Installed:
    """What one exec of `rounds_argv` reported."""

    code: int | None  # the first command's exit code; None: the program did not say
    at: float | None  # CLOCK_MONOTONIC just after it returned
    rounds: tuple[Round, ...] = ()

    def times_ok(self, launched: float, returned: float) -> bool:
        """Every reported time lies within the harness's own launch .. return of the exec
        (read on the harness's CLOCK_MONOTONIC): the helper reads the same clock."""
        times = [self.at, *(r.started for r in self.rounds)]
        return all(t is not None and launched <= t <= returned for t in times)


def _answer(words: list[str], ip: str, port: int) -> tuple[bool, str]:
    if words[:2] != [ip, str(port)] or words[2:3] not in (["open"], ["closed"]):
        raise FaultError(f"reach: unexpected answer {' '.join(words)!r} for {ip} {port}")
    return words[2] == "open", " ".join(words[3:])


def parse_rounds(stdout: str, targets: tuple[tuple[str, int], ...]) -> Installed:
    """The `first` line and every whole round. FaultError when a round line or a target line
    is not what was asked for; a missing `first` line reads as code None (not run, or
    unknown)."""
    lines = [line.split() for line in stdout.splitlines() if line.strip()]
    code: int | None = None
    at: float | None = None
    if lines and lines[0][:1] == ["first"]:
        head = lines.pop(0)
        try:
            code, at = int(head[1]), float(head[2])
        except (IndexError, ValueError) as e:
            raise FaultError(f"reach: unexpected line {' '.join(head)!r}") from e
    rounds: list[Round] = []
    while lines:
        head, body = lines[0], lines[1:1 + len(targets)]
        if head[:2] != ["round", str(len(rounds))] or len(head) != 3 or \
                len(body) != len(targets):
            raise FaultError(f"reach: unexpected round {' '.join(head)!r}")
        try:
            started = float(head[2])
        except ValueError as e:
            raise FaultError(f"reach: unexpected round {' '.join(head)!r}") from e
        answers = tuple(_answer(w, ip, port) for w, (ip, port) in zip(body, targets, strict=True))
        rounds.append(Round(started, answers))
        lines = lines[1 + len(targets):]
    return Installed(code, at, tuple(rounds))


def targets_of(dsts: Iterable[Node]) -> tuple[tuple[str, int], ...]:
    return tuple((d.address, peer_port(d)) for d in dsts)


@dataclass(frozen=True)
class Installation:
    """One node's exec of `rounds_argv`: its exit code and stderr, what it reported (None when
    that was not understood) and the harness's clock at its launch and return."""

    exit_code: int
    stderr: str
    seen: Installed | None
    launched: float
    returned: float

    @property
    def applied(self) -> bool:
        """The first command (the transaction) is known to have returned 0."""
        return self.seen is not None and self.seen.code == 0

    @property
    def in_at(self) -> float:
        """When the transaction was in: the helper's time for it when its times are on the
        harness's clock, else (later, never earlier) the harness's time at return."""
        seen = self.seen
        if seen is not None and seen.at is not None and seen.times_ok(self.launched,
                                                                      self.returned):
            return seen.at
        return self.returned

    @property
    def rounds(self) -> tuple[Round, ...]:
        """The rounds to judge: none unless every time it reported is on the harness's
        clock (`Installed.times_ok`)."""
        ok = self.seen is not None and self.seen.times_ok(self.launched, self.returned)
        return self.seen.rounds if ok and self.seen is not None else ()


async def install_and_probe(
    docker: Docker, labels: Mapping[str, str], src: Node, dsts: tuple[Node, ...],
    first: tuple[str, ...], files: Mapping[str, bytes], *, image: str,
) -> Installation:
    """Run `first` (with `files` copied in), then the probe rounds from `src` to `dsts`, in
    one exec (`rounds_argv`). DockerError when the exec cannot run."""
    targets = targets_of(dsts)
    launched = time.monotonic()
    res = await docker.run_helper(
        rounds_argv(targets, first), labels=labels, netns_of=src.container_id, image=image,
        timeout_s=ROUNDS * EVERY_S + REACH_TIMEOUT_S + 20,
        files={**files, REACH_PATH: reach_program()},
    )
    returned = time.monotonic()
    try:
        seen: Installed | None = parse_rounds(res.stdout, targets)
    except FaultError:
        seen = None
    return Installation(res.exit_code, res.stderr, seen, launched, returned)


def settled(
    observed: Mapping[str, tuple[tuple[Node, ...], tuple[Round, ...]]], in_place: float
) -> dict[tuple[str, str], PairProbe]:
    """(src, dst) -> probe, from each source's first round begun at or after `in_place`
    (sources: name -> (the peers probed, in order; its rounds)); a source none of whose
    rounds began by then gives nothing."""
    out: dict[tuple[str, str], PairProbe] = {}
    for src, (dsts, rounds) in observed.items():
        first = next((r for r in rounds if r.started >= in_place), None)
        if first is None:
            continue
        for dst, (is_open, reason) in zip(dsts, first.answers, strict=True):
            port = peer_port(dst)
            out[(src, dst.name)] = PairProbe(src, dst.name, port, is_open, 0 if is_open else 1,
                                             reason)
    return out
