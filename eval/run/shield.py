"""Steps that must finish even when their caller is cancelled: cleanup, the final record,
releasing the lease. One mechanism: `shielded`, bounded by its own timeout."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


async def shielded(aw: Awaitable[T], timeout_s: float) -> T:
    """Run `aw` to completion (bounded by timeout_s) even if the caller is cancelled meanwhile;
    re-raise the cancellation afterwards."""
    task = asyncio.ensure_future(asyncio.wait_for(aw, timeout_s))
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
        except Exception:
            break
    if cancelled:
        if not task.cancelled() and task.exception() is not None:
            log.warning("shielded step failed during cancellation: %s", task.exception())
        raise asyncio.CancelledError
    return task.result()
