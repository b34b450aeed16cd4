"""Helper containers, many at once (the fan-out): how many one-shot helpers a fault starts
together, and the one bounded gather that keeps to it.

A fault that works on several nodes (shaping, partition rules, reachability probes) runs one
helper per node; starting them all at once would crowd a small machine that runs other
trials too, and one node's failure must never abandon the others half-done. So every such
fan-out goes through `bounded_gather`: at most `limit` at a time, every item run to its end,
exceptions returned in place of results.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

HELPER_CONCURRENCY = 3  # helpers started at once (a 2-core machine runs other trials too)


async def bounded_gather(
    fn: Callable[[T], Awaitable[R]], items: Iterable[T], limit: int = HELPER_CONCURRENCY
) -> list[R | BaseException]:
    """`fn` over `items`, at most `limit` at a time; results in input order. An exception is
    returned in its item's place, not raised, so every item runs to its end."""
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    gate = asyncio.Semaphore(limit)

    async def one(item: T) -> R:
        async with gate:
            return await fn(item)

    return list(await asyncio.gather(*(one(i) for i in items), return_exceptions=True))
