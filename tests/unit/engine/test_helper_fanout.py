"""bounded_gather: the one fan-out of helper work (no Docker)."""

from __future__ import annotations

import asyncio

import pytest

from chaos_eval.engine.helper_fanout import HELPER_CONCURRENCY, bounded_gather


async def test_keeps_order_and_the_limit_and_returns_failures() -> None:
    running, peak = 0, 0

    async def work(i: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        if i == 2:
            raise ValueError("two")
        return i * 10

    out = await bounded_gather(work, range(7))
    assert peak == HELPER_CONCURRENCY
    assert [r for r in out if not isinstance(r, BaseException)] == [0, 10, 30, 40, 50, 60]
    assert isinstance(out[2], ValueError)  # in its place; the others still ran to the end
    assert await bounded_gather(work, [1, 3], limit=1) == [10, 30]


async def test_rejects_a_limit_below_one() -> None:
    with pytest.raises(ValueError):
        await bounded_gather(lambda s: asyncio.sleep(s), [0.0], limit=0)
