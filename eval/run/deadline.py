"""One trial as its own task, bounded by trial_timeout_s, that is never abandoned: a
cancellation of the waiter (or the deadline) is forwarded into the trial so it cleans up,
and the waiter returns only once the trial task is really done."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


async def run_to_deadline(
    coro: Coroutine[Any, Any, T], timeout_s: float, excluded: Callable[[], float] | None = None
) -> tuple[T | None, bool]:
    """(result, False), or (None, True) when the deadline cancelled it. A cancellation of the
    caller is forwarded and re-raised once the task has finished. Unlike asyncio.wait_for, a
    second cancellation cannot orphan the task mid-cleanup. An exception of the task is
    raised here (never lost). `excluded()`: seconds so far that do not count against the
    deadline (a trial waiting for its turn, eval/run/warm_pool.py)."""
    task = asyncio.ensure_future(coro)
    loop = asyncio.get_running_loop()
    started = loop.time()
    cancelled = timed_out = False
    while not task.done():
        grace = excluded() if excluded is not None else 0.0
        remaining = started + timeout_s + grace - loop.time()
        if remaining <= 0 and not timed_out:
            timed_out = True
            task.cancel()
        try:
            await asyncio.wait({task}, timeout=None if timed_out else remaining)
        except asyncio.CancelledError:
            cancelled = True
            task.cancel()
    if cancelled:
        if not task.cancelled() and task.exception() is not None:  # said, not dropped
            log.error("trial ended with %s while being cancelled: %s",
                      type(task.exception()).__name__, task.exception())
        raise asyncio.CancelledError
    if timed_out:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error
        return None, True
    return task.result(), False
