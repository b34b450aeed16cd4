"""The live dashboard loop (rich Live) around a campaign run when stdout is a terminal:
every REFRESH_S it reads the campaign's trials from the store and redraws
eval/render/dashboard.py's renderables; the runner's own event lines print above it. When
stdout is not a terminal, nothing here runs: the plain timestamped lines are all there is."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence

from rich.console import Console, RenderableType
from rich.live import Live

from chaos_eval.analysis.progress import cell_progress
from chaos_eval.analysis.snapshot import snapshot_of
from chaos_eval.render.dashboard import dashboard
from chaos_eval.spec.config import CampaignConfig
from chaos_eval.spec.matrix import PlannedTrial, expand
from chaos_eval.store.records import CampaignRow
from chaos_eval.store.store import Store

REFRESH_S = 1.0  # how often the dashboard re-reads the store


async def frame(store: Store, cfg: CampaignConfig, c: CampaignRow,
                planned: Sequence[PlannedTrial] = ()) -> RenderableType:
    """`planned`: a sampled campaign's matrix (its cells have bars before their first trial)."""
    trials = await store.trials(c.id)
    snap = snapshot_of(cfg, trials, await store.last_progress(c.id), time.time())
    title = f"campaign {c.id} · {c.name}"
    if cfg.samples:
        title += f" · samples per cell: target {cfg.samples.target}, max {cfg.samples.max_trials}"
    return dashboard(title, snap, cell_progress(trials, cfg.samples, planned))


@contextlib.asynccontextmanager
async def live_dashboard(
    store: Store, cfg: CampaignConfig, c: CampaignRow, console: Console
) -> AsyncIterator[None]:
    if not console.is_terminal:
        yield
        return
    planned = [p for p, _ in expand(cfg)] if cfg.samples else []
    with Live(await frame(store, cfg, c, planned), console=console,
              refresh_per_second=4) as live:

        async def redraw() -> None:
            while True:
                await asyncio.sleep(REFRESH_S)  # the dashboard's refresh period
                live.update(await frame(store, cfg, c, planned))

        task = asyncio.create_task(redraw())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            with contextlib.suppress(Exception):  # the last frame is best effort
                live.update(await frame(store, cfg, c, planned))
