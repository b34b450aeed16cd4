"""subjects/project.py without Docker: polling health to a deadline (through chaos_eval.polling)."""

from __future__ import annotations

import asyncio

from chaos_eval.subject import Health
from chaos_eval.subjects.project import poll_healthy


async def test_poll_healthy_probes_at_once_and_stops_when_healthy() -> None:
    timeouts: list[float] = []

    async def probe(timeout_s: float) -> Health:
        timeouts.append(timeout_s)
        return Health(len(timeouts) == 3, None, () if len(timeouts) == 3 else ("no",))

    loop = asyncio.get_running_loop()
    t0 = loop.time()
    last = await poll_healthy(probe, 10.0, 2.0)
    assert last.healthy and timeouts == [2.0, 2.0, 2.0]
    assert 0.2 <= loop.time() - t0 < 1.0  # slept 0.1 then 0.15: backing off, not fixed


async def test_poll_healthy_gives_up_at_the_deadline_with_the_last_answer() -> None:
    timeouts: list[float] = []

    async def probe(timeout_s: float) -> Health:
        timeouts.append(timeout_s)
        return Health(False, None, (f"probe {len(timeouts)}",))

    loop = asyncio.get_running_loop()
    t0 = loop.time()
    last = await poll_healthy(probe, 0.6, 2.0)
    took = loop.time() - t0
    assert not last.healthy and last.reasons == (f"probe {len(timeouts)}",)
    assert 0.6 <= took < 0.9  # never sleeps past the deadline
    assert timeouts[0] <= 0.6 and min(timeouts) >= 0.2  # what is left, at least 0.2 s
