"""Polling to a deadline: the one loop every wait in the harness goes through.

Nothing in chaos-eval sleeps a fixed time to let something happen; it asks until the answer
is the one it wants or the deadline passes, and keeps the last answer as evidence.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def poll_until(
    check: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    timeout_s: float,
    interval_s: float = 0.05,
    *,
    backoff: float = 1.5,
    max_interval_s: float | None = 0.25,
) -> tuple[T, float]:
    """Call `check` until `done(result)` or the deadline; return the last result and the
    seconds it took. Always checks at least once, never sleeps past the deadline. The
    interval grows by `backoff` after each miss, up to `max_interval_s` (never below
    `interval_s`). The default (50 ms, growing by half to 250 ms) sees a change within a
    few tens of milliseconds without hammering what it asks for a long wait."""
    t0 = time.monotonic()
    deadline = t0 + timeout_s
    delay = interval_s
    cap = max_interval_s if max_interval_s is not None else interval_s
    while True:
        result = await check()
        now = time.monotonic()
        if done(result) or now >= deadline:
            return result, now - t0
        await asyncio.sleep(min(delay, max(0.0, deadline - now)))
        delay = min(delay * backoff, max(cap, interval_s))
