"""SIGINT and SIGTERM while a campaign runs: handled on the event loop (the runner stops
scheduling and cancels its trials, which clean up), restored afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def handling_signals(on_signal: Callable[[], None]) -> Iterator[None]:
    """Call `on_signal` on SIGINT/SIGTERM inside the block (where the loop supports it)."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):
            pass
    try:
        yield None
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
