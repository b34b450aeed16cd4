"""The live dashboard loop (rich Live) around a campaign run when stdout is a terminal:
every REFRESH_S it reads the campaign's trials from the store and redraws
eval/render/dashboard.py's renderables; the runner's own event lines print above it. When
stdout is not a terminal, nothing here runs: the plain timestamped lines are all there is."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping

from rich.console import Console, RenderableType
from rich.live import Live

from chaos_eval.analysis.progress import cell_progress, sample_targets
from chaos_eval.analysis.sampling import Cell4, ended_cells, sampled_cells_of, trials_to_come
from chaos_eval.analysis.snapshot import snapshot_of
from chaos_eval.render.dashboard import dashboard
from chaos_eval.spec.config import CampaignConfig
from chaos_eval.spec.samples import Samples
from chaos_eval.store.records import CampaignRow
from chaos_eval.store.store import Store

REFRESH_S = 1.0  # how often the dashboard re-reads the store


async def frame(store: Store, cfg: CampaignConfig, c: CampaignRow,
                targets: Mapping[str, int] | None = None,
                cells: Mapping[Cell4, Samples] | None = None) -> RenderableType:
    """`targets`, `cells`: a sampled campaign's cells (sample_targets, sampled_cells_of)."""
    trials = await store.trials(c.id)
    to_come = trials_to_come(cells, trials, await ended_cells(store, c.id)) if cells else 0
    snap = snapshot_of(cfg, trials, await store.last_progress(c.id), time.time(), to_come)
    title = f"campaign {c.id} · {c.name}"
    if targets:
        title += " · samples per cell (done/target; error trials are no samples)"
    return dashboard(title, snap, cell_progress(trials, targets))


@contextlib.asynccontextmanager
async def live_dashboard(
    store: Store, cfg: CampaignConfig, c: CampaignRow, console: Console
) -> AsyncIterator[None]:
    if not console.is_terminal:
        yield
        return
    targets, cells = sample_targets(cfg), sampled_cells_of(cfg)
    with Live(await frame(store, cfg, c, targets, cells), console=console,
              refresh_per_second=4) as live:

        async def redraw() -> None:
            while True:
                await asyncio.sleep(REFRESH_S)  # the dashboard's refresh period
                live.update(await frame(store, cfg, c, targets, cells))

        task = asyncio.create_task(redraw())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            with contextlib.suppress(Exception):  # the last frame is best effort
                live.update(await frame(store, cfg, c, targets, cells))
