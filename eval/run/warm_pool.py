"""The warm pool: the next trials' clusters start while the current ones run.

A campaign run has two bounds (`Slots`):

    clusters   parallel + warm_pool   clusters that may exist at once (starting, healthy and
                                      waiting, running their trial, tearing down)
    turns      parallel               trials that may run their workload and fault at once

The scheduler takes a cluster slot before a trial's compose up and gives it back when the
trial has ended (torn down, recorded). The trial takes a turn (`Turn.take`) once its cluster is
healthy and gives it back once it has measured, before it tears down: with `warm_pool: 1` at
`parallel: 1`, trial N+1's compose up and health wait, and trial N's teardown, run beside
trial N's warm-up, fault and recovery, and the faults of two trials never overlap. With
`warm_pool: 0` (the default) the two bounds are equal and a trial runs as it always did.

A trial that is still waiting for its turn when the run stops scheduling (held, aborted,
the pilot gate failed) never takes it: `Turn.take` raises `TurnWithdrawn`, and the trial ends
`interrupted` (its cluster torn down; resume runs it). The time spent waiting is the trial's
`queued_s` and extends its deadline (eval/run/deadline.py), so trial_timeout_s still bounds
the trial's own phases.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field


class TurnWithdrawn(Exception):
    """The run stopped scheduling while this trial waited for its turn."""


@dataclass
class Slots:
    parallel: int
    warm_pool: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    cooldown_s: float = 0.0  # a turn given back is free again only after this

    def __post_init__(self) -> None:
        self.clusters = asyncio.Semaphore(self.parallel + self.warm_pool)
        self.turns = asyncio.Semaphore(self.parallel)

    def turn(self) -> Turn:
        """Without a pool a trial holding a cluster slot always gets its turn at once: a stop
        of the run withdraws only trials the pool started ahead."""
        pool = self.warm_pool > 0
        return Turn(self.turns, self.stop if pool else None, queued=pool,
                    cooldown_s=self.cooldown_s)


class Turn:
    """One trial's turn: taken once its cluster is healthy, given back once it has measured
    (idempotent, so the trial's `finally` gives it back whatever happened)."""

    def __init__(self, turns: asyncio.Semaphore | None = None,
                 stop: asyncio.Event | None = None, *, queued: bool = False,
                 cooldown_s: float = 0.0) -> None:
        self._turns, self._stop, self._cooldown_s = turns, stop, cooldown_s
        self.queued = queued  # whether a trial may have to wait (a warm pool exists)
        self.waited_s = 0.0
        self._waiting_since: float | None = None
        self._held = False

    @property
    def waiting_s(self) -> float:
        """Seconds waited so far, including a wait in progress (for the deadline)."""
        now = 0.0 if self._waiting_since is None else time.monotonic() - self._waiting_since
        return self.waited_s + now

    async def take(self) -> None:
        """Wait for a turn; TurnWithdrawn if the run stops scheduling first."""
        if self._turns is None or self._held:
            return
        if self._stop is not None and self._stop.is_set():
            raise TurnWithdrawn
        self._waiting_since = time.monotonic()
        try:
            await self._wait()
        finally:
            self.waited_s += time.monotonic() - self._waiting_since
            self._waiting_since = None

    async def _wait(self) -> None:
        assert self._turns is not None
        got = asyncio.ensure_future(self._turns.acquire())
        stopped = asyncio.ensure_future(self._stop.wait()) if self._stop else None
        try:
            await asyncio.wait({got} | ({stopped} if stopped else set()),
                               return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # cancelled while waiting: never keep a turn taken meanwhile
            if got.done() and not got.cancelled():
                self._turns.release()
            got.cancel()
            raise
        finally:
            if stopped is not None:
                stopped.cancel()
        if not got.done():  # the run stopped scheduling first
            got.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await got
            if not got.cancelled():  # it got the turn after all, in the same instant
                self._turns.release()
            raise TurnWithdrawn
        self._held = True
        if self._stop is not None and self._stop.is_set():  # both at once: the stop wins
            self.give_back()
            raise TurnWithdrawn

    def give_back(self) -> None:
        """Free the turn (after the campaign's cooldown, if it has one: the configured pause
        between trials holds between turns, whatever the pool started ahead)."""
        if self._held and self._turns is not None:
            self._held = False
            if self._cooldown_s > 0:
                asyncio.get_running_loop().call_later(self._cooldown_s, self._turns.release)
            else:
                self._turns.release()
