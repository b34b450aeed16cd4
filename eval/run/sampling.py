"""The scheduler of a sampled campaign's matrix (`samples:`, chaos_eval.spec.samples): which
cell's trial starts next, lazily, until every cell has ended (chaos_eval.analysis.sampling).

- Trial keys are the matrix's (repetition i = 0 .. max_trials-1 of each cell); a cell's
  trials are added to the store in index order, as they start.
- Each free slot (the campaign's one semaphore) goes to the cell furthest from its target:
  the fewest (samples + trials in flight) / target, ties to the earlier cell of the matrix.
  A trial in flight counts as a sample to come, so `parallel` slots never run more trials
  for a cell than it still needs to reach its target; only a stopping rule can fire while
  trials of its cell are in flight (they finish and are kept: at most parallel - 1 more).
- A cell takes no new trial once ended, or when samples + in flight reach the target, or
  when spent + in flight reach max_trials. A trial an earlier run left unfinished
  (interrupted) runs again before the cell gets a new one.
- After each trial, its cell is judged over its finished trials in finish order; an end is
  recorded once, as a `cell_ended` event. On resume, recorded ends are read back and the
  cells without one are replayed from their recorded trials, so a finished cell never runs
  again and no extra trial starts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from chaos_eval.analysis.sampling import CELL_ENDED, CellEnd, cell_seed, finish_order, first_end
from chaos_eval.outcomes import TrialStatus
from chaos_eval.spec.config import CampaignConfig
from chaos_eval.spec.matrix import Coordinates, PlannedTrial
from chaos_eval.spec.samples import Samples, cell_samples
from chaos_eval.store.records import TrialRow
from chaos_eval.store.store import Store

log = logging.getLogger(__name__)
SlotFn = Callable[[TrialRow, Coordinates, asyncio.Semaphore], Awaitable[None]]


@dataclass
class SampledCell:
    index: int
    s: Samples  # its sampling (the fault's own, else the campaign's)
    planned: list[tuple[PlannedTrial, Coordinates]]  # repetition order
    seed: int
    rows: dict[str, TrialRow] = field(default_factory=dict)  # key -> latest known row
    in_flight: set[str] = field(default_factory=set)
    judged: int = 0  # prefixes of the finish order already judged
    end: CellEnd | None = None

    @property
    def samples(self) -> int:
        return sum(r.status in (TrialStatus.PASSED, TrialStatus.FAILED)
                   for r in self.rows.values())

    @property
    def spent(self) -> int:
        return sum(r.status.is_final for r in self.rows.values())

    def wants(self) -> bool:
        s, busy = self.s, len(self.in_flight)
        return (self.end is None and self.samples + busy < s.target
                and self.spent + busy < s.max_trials)

    def next_trial(self) -> tuple[PlannedTrial, Coordinates, TrialRow | None]:
        """An unfinished trial an earlier run left, else the next repetition."""
        for p, c in self.planned:
            row = self.rows.get(p.key)
            if row is not None and not row.status.is_final and p.key not in self.in_flight:
                return p, c, row
        p, c = self.planned[len(self.rows)]
        return p, c, None


def sampled_cells(
    cfg: CampaignConfig, matrix: Sequence[tuple[PlannedTrial, Coordinates]], campaign_seed: int
) -> list[SampledCell]:
    """The matrix's sampled cells (baselines excluded), in matrix order."""
    by: dict[tuple[str, int, str], list[tuple[PlannedTrial, Coordinates]]] = {}
    for p, c in matrix:
        if c.chaos is not None:
            by.setdefault((p.subject, c.chaos_index, p.params), []).append((p, c))
    out = []
    for i, ts in enumerate(by.values()):
        (p, c) = ts[0]
        s = cell_samples(cfg, c.chaos)
        assert s is not None  # a sampled campaign's fault cells
        out.append(SampledCell(i, s, ts, cell_seed(campaign_seed, p.subject, p.fault, p.params)))
    return out


class SampledScheduler:
    """Runs one sampled campaign's matrix under the runner's semaphore."""

    def __init__(self, store: Store, campaign_id: int, cells: list[SampledCell],
                 stop: asyncio.Event) -> None:
        self.store, self.campaign_id, self.cells = store, campaign_id, cells
        self.stop = stop
        self.changed = asyncio.Event()

    async def load(self) -> None:
        """Read back recorded ends and trials; replay the cells that have no recorded end."""
        recorded = [CellEnd.from_detail(e.detail)
                    for e in await self.store.events(self.campaign_id, CELL_ENDED)]
        ended = {e.cell: e for e in recorded if e is not None}
        rows = {r.key: r for r in await self.store.trials(self.campaign_id)}
        for cell in self.cells:
            cell.rows = {p.key: rows[p.key] for p, _ in cell.planned if p.key in rows}
            p = cell.planned[0][0]
            cell.end = ended.get((p.subject, p.fault, p.params, p.target))
            if cell.end is None:
                await self._judge(cell)

    async def _judge(self, cell: SampledCell) -> None:
        if cell.end is not None:
            return
        end, cell.judged = first_end(finish_order(list(cell.rows.values())), cell.s, cell.seed,
                                     cell.judged)
        if end is not None:
            cell.end = end
            await self.store.event(self.campaign_id, CELL_ENDED, end.to_detail())
            log.info("cell %s / %s %s ended: %s", end.subject, end.fault, end.params, end.text)

    def pick(self) -> SampledCell | None:
        """The cell furthest from its target that still wants a trial."""
        open_ = [c for c in self.cells if c.wants()]
        if not open_:
            return None
        return min(open_, key=lambda c: ((c.samples + len(c.in_flight)) / c.s.target, c.index))

    @property
    def all_ended(self) -> bool:
        return all(c.end is not None for c in self.cells)

    async def run(self, sem: asyncio.Semaphore, slot: SlotFn,
                  track: Callable[[asyncio.Task[None]], None]) -> list[asyncio.Task[None]]:
        """Start trials as slots free up until every cell has ended or no cell wants one
        (then wait for the trials in flight), or until told to stop."""
        await self.load()
        tasks: list[asyncio.Task[None]] = []
        while True:
            await sem.acquire()
            if self.stop.is_set():
                sem.release()
                break
            cell = self.pick()
            if cell is None:
                sem.release()
                if not any(c.in_flight for c in self.cells):
                    break
                self.changed.clear()
                await self.changed.wait()  # a trial in flight finished: judge again
                continue
            p, c, row = cell.next_trial()
            if row is None:
                row = await self.store.add_trial(self.campaign_id, p)
            cell.rows[p.key] = row
            cell.in_flight.add(p.key)
            task = asyncio.create_task(self._one(cell, row, c, sem, slot),
                                       name=f"trial-{row.key[:8]}")
            track(task)
            tasks.append(task)
        return tasks

    async def _one(self, cell: SampledCell, row: TrialRow, coords: Coordinates,
                   sem: asyncio.Semaphore, slot: SlotFn) -> None:
        """One trial, then its cell judged, before its slot is given to the next pick."""
        try:
            await slot(row, coords, asyncio.Semaphore(0))  # the slot's own release is a no-op
            cell.rows[row.key] = await self.store.trial(row.id)  # only this row changed
            await self._judge(cell)
        finally:
            cell.in_flight.discard(row.key)
            sem.release()
            self.changed.set()
