"""A campaign: which campaign a run continues, and the runner that schedules its trials
under one semaphore (with the lease, signals, retries and the pilot gate; the lease itself
is eval/run/lease.py).

Running the same file against the same db again continues the unfinished campaign of that
name: finished trials are skipped, the rest run, none twice. Expansion is in matrix.py;
undoing what a dead run left behind is in repair.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence

from chaos_eval.cleanup.repair import repair
from chaos_eval.engine.client import Docker
from chaos_eval.errors import HarnessError, StoreWriteFailed
from chaos_eval.outcomes import CampaignStatus, TrialStatus
from chaos_eval.run.deadline import run_to_deadline
from chaos_eval.run.lease import CampaignLease
from chaos_eval.run.plan import RunControl, TrialPlan
from chaos_eval.run.resolve import remaining
from chaos_eval.run.sampling import SampledScheduler, sampled_cells
from chaos_eval.run.shield import shielded
from chaos_eval.run.signals import handling_signals
from chaos_eval.run.trial import run_trial
from chaos_eval.run.warm_pool import Slots
from chaos_eval.run.watch import CampaignWatch
from chaos_eval.spec.config import CampaignConfig
from chaos_eval.spec.matrix import BASELINE, Coordinates, expand
from chaos_eval.store.records import CampaignRow, TrialRow
from chaos_eval.store.store import Store

log = logging.getLogger(__name__)
# After a trial ends `error`, the next waits this long at most for a Docker engine that does
# not answer (a daemon restarting) rather than fail at once, and so on down the matrix.
ENGINE_WAIT_S = 120.0

ProgressFn = Callable[[str, TrialRow | None, TrialStatus | None], None]


class CampaignRunner:
    """Runs one campaign's remaining trials under the `parallel` bound."""

    def __init__(
        self,
        cfg: CampaignConfig,
        campaign: CampaignRow,
        store: Store,
        docker: Docker,
        *,
        progress: ProgressFn | None = None,
        unless_held: bool = False,
    ) -> None:
        self.cfg, self.campaign, self.store, self.docker = cfg, campaign, store, docker
        self.progress = progress or (lambda *_: None)
        self.control = RunControl()
        self.stop = asyncio.Event()
        self.signals = 0
        self.token = uuid.uuid4().hex
        # unless_held: a background run (`--detach`) honours a hold that came before it
        self.lease = CampaignLease(store, campaign.id, self.token, unless_held)
        self.consecutive_errors = 0
        self.abort_reason = ""
        self.held = False  # a hold arrived through the db (eval/run/watch.py)
        self.watch = CampaignWatch(store, campaign.id, cfg)
        self._running: set[asyncio.Task[None]] = set()
        self.slots = Slots(cfg.parallel, cfg.warm_pool, self.stop, cfg.cooldown_seconds)

    # -- signals ------------------------------------------------------------------------

    def on_signal(self) -> None:
        """First signal: stop scheduling and cancel running trials (they clean up).
        Second: also skip cluster teardown waits; faults are still removed."""
        self.signals += 1
        self.stop.set()
        if self.signals >= 2:
            self.control.hurry = True
        self.progress("interrupting" if self.signals == 1 else "hurrying", None, None)
        for task in list(self._running):
            task.cancel()

    def on_hold(self) -> None:
        """The campaign was held (or closed) from outside: start no new trial; the running
        ones finish normally (their faults removed, their clusters torn down)."""
        self.held = True
        self.stop.set()
        self.progress("held", None, None)

    def on_lease_lost(self, reason: str) -> None:
        """The lease can no longer be kept (its heartbeat failed or was taken over): stop
        scheduling and cancel running trials (they clean up); the campaign ends aborted."""
        self.abort_reason = self.abort_reason or reason
        self.stop.set()
        for task in list(self._running):
            task.cancel()

    # -- running ------------------------------------------------------------------------

    async def run(self) -> CampaignStatus:
        cid = self.campaign.id
        if not await self.lease.acquire():  # held before this run began: nothing runs
            self.on_hold()
            return CampaignStatus.HELD
        heart = asyncio.create_task(self.lease.keep_fresh(self.on_lease_lost))
        watch = asyncio.create_task(self.watch.run(self.on_hold))
        status = CampaignStatus.INTERRUPTED  # what the record says if repair itself fails
        try:
            with handling_signals(self.on_signal):
                await repair(self.store, self.docker, cid)
                status = await self._schedule()
        finally:
            for task in (heart, watch):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            status = await self._close(status)
        return status

    async def _close(self, status: CampaignStatus) -> CampaignStatus:
        """Record how the campaign ended (a hold that landed meanwhile stays held, unless
        everything finished) and release the lease; returns what was written. If the store
        cannot take it, a HarnessError says so (exit 3) with why the campaign stopped."""
        try:
            status = await shielded(
                self.store.end_campaign_run(self.campaign.id, status, self.abort_reason), 30
            )
            await shielded(self.lease.release(), 30)
            return status
        except StoreWriteFailed as e:
            raise StoreWriteFailed(
                f"{e}; campaign {self.campaign.id} stopped ({status.value}), everything "
                f"recorded before is intact: make room, then `chaos-eval resume "
                f"{self.campaign.id}`") from None
        except (Exception, TimeoutError) as e:
            why = f" after it stopped: {self.abort_reason}" if self.abort_reason else ""
            raise HarnessError(f"campaign {self.campaign.id}: could not record its end "
                               f"({status.value}){why}: {type(e).__name__}: {e}") from e

    async def _schedule(self) -> CampaignStatus:
        todo = await remaining(self.store, self.cfg, self.campaign.id)
        sem = self.slots.clusters  # THE concurrency bound, with the turns (warm_pool.py)
        # Pilot gate: every baseline finishes before any other trial starts; a baseline that
        # missed its SLO means the environment is broken, so the matrix does not run.
        tasks = await self._launch([t for t in todo if t[1].chaos is None], sem)
        matrix = [t for t in todo if t[1].chaos is not None]
        # a sampled campaign's cells start lazily; a rerun runs its one recorded trial
        sampled = self.cfg.samples is not None and self.campaign.rerun_of is None
        sampled = sampled and bool(self.cfg.chaos_types)
        if tasks and (matrix or sampled):
            await self._wait(tasks)
        if (matrix or sampled) and not self.stop.is_set() and not await self._pilot_passed():
            self.stop.set()
        sampler = None
        if sampled:  # the matrix's trials start lazily, cell by cell
            cells = sampled_cells(self.cfg, expand(self.cfg), self.campaign.seed)
            sampler = SampledScheduler(self.store, self.campaign.id, cells, self.stop)
            tasks += await sampler.run(sem, self._slot, self._track)
        else:
            tasks += await self._launch(matrix, sem)
        await self._wait(tasks)
        if self.abort_reason:
            return CampaignStatus.ABORTED
        if self.signals:
            return CampaignStatus.INTERRUPTED
        final = not await self.store.unfinished_trials(self.campaign.id)
        final = final and (sampler is None or sampler.all_ended)
        return CampaignStatus.FINISHED if final else CampaignStatus.INTERRUPTED

    def _track(self, task: asyncio.Task[None]) -> None:
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _launch(
        self, todo: Sequence[tuple[TrialRow, Coordinates]], sem: asyncio.Semaphore
    ) -> list[asyncio.Task[None]]:
        """Start each trial as a slot frees up, in order, until told to stop."""
        tasks: list[asyncio.Task[None]] = []
        for row, coords in todo:
            await sem.acquire()
            if self.stop.is_set():
                sem.release()
                break
            task = asyncio.create_task(self._slot(row, coords, sem), name=f"trial-{row.key[:8]}")
            self._track(task)
            tasks.append(task)
        return tasks

    @staticmethod
    async def _wait(tasks: Sequence[asyncio.Task[None]]) -> None:
        """Wait for every trial task. A slot records its own failures; anything that still
        escapes one is logged here, never dropped."""
        for res in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(res, Exception):
                log.error("a trial task failed: %s: %s", type(res).__name__, res, exc_info=res)

    async def _pilot_passed(self) -> bool:
        """False (and the abort reason set) if any baseline trial of the campaign, run now or
        in an earlier run, ended `failed`: with no fault at all it missed its SLO."""
        failed = [
            t
            for t in await self.store.trials(self.campaign.id)
            if t.fault == BASELINE and t.status == TrialStatus.FAILED
        ]
        if not failed:
            return True
        why = "; ".join(f"trial {t.id} ({t.subject}): {', '.join(t.reasons_list)}" for t in failed)
        self.abort_reason = (
            f"pilot: baseline trials missed their SLO: {why}; with no fault injected, "
            "the environment is broken (fix it, then start afresh with --new)"
        )
        return False

    async def _slot(self, row: TrialRow, coords: Coordinates, sem: asyncio.Semaphore) -> None:
        try:
            try:
                status = await self._with_retries(row, coords)
            except Exception as e:  # a harness bug escaped the trial: record it on the trial
                status = await self._record_escaped(row, e)
            self.progress("finished", row, status)
            if status == TrialStatus.ERROR:
                self.consecutive_errors += 1
                if self.consecutive_errors >= self.cfg.max_consecutive_errors:
                    self.abort_reason = (
                        f"{self.consecutive_errors} consecutive trials ended in harness errors; "
                        "the environment, not the subject, looks broken"
                    )
                    self.stop.set()
                await self._await_engine()  # unless stopping
            else:
                self.consecutive_errors = 0
            if not self.stop.is_set() and self.cfg.cooldown_seconds:
                await asyncio.sleep(self.cfg.cooldown_seconds)  # configured phase: cooldown
        except asyncio.CancelledError:
            self.progress("interrupted", row, TrialStatus.INTERRUPTED)
        finally:
            sem.release()

    async def _await_engine(self) -> None:
        """If the Docker engine does not answer, wait for it (bounded) before going on."""
        if self.stop.is_set() or await self.docker.reachable():
            return
        self.progress("engine_lost", None, None)
        back = await self.docker.wait_reachable(ENGINE_WAIT_S)
        log.warning("the Docker engine %s", "answers again" if back
                    else f"still does not answer after {ENGINE_WAIT_S:g}s")

    async def _record_escaped(self, row: TrialRow, e: Exception) -> TrialStatus:
        if isinstance(e, StoreWriteFailed):  # not a bug: the db cannot take writes, stop
            log.error("trial %s: %s", row.key, e)
            self.on_lease_lost(str(e))
            return TrialStatus.ERROR
        log.error("trial %s: %s escaped the trial", row.key, type(e).__name__, exc_info=e)
        try:
            await self.store.mark_trial_error(row.id, f"harness bug: {type(e).__name__}: {e}")
        except Exception as store_error:  # the store is failing too: stop, say why
            self.on_lease_lost(f"trial {row.id} failed ({type(e).__name__}: {e}) and could not "
                               f"be recorded: {type(store_error).__name__}: {store_error}")
        return TrialStatus.ERROR

    async def _with_retries(self, row: TrialRow, coords: Coordinates) -> TrialStatus:
        slo = coords.chaos.slo if coords.chaos and coords.chaos.slo else self.cfg.slo
        plan = TrialPlan(
            trial_id=row.id,
            campaign_id=self.campaign.id,
            campaign_uid=self.campaign.uid,
            key=row.key,
            seed=row.seed,
            subject=coords.subject,
            chaos=coords.chaos,
            params=coords.params,
            timing=self.cfg.timing,
            workload=self.cfg.workload,
            slo=slo,
        )
        status = TrialStatus.ERROR
        for _ in range(self.cfg.max_retries + 1):
            self.progress("started", row, None)
            status = await self._await_trial(plan)
            if status != TrialStatus.ERROR or self.stop.is_set():
                break
        return status

    async def _await_trial(self, plan: TrialPlan) -> TrialStatus:
        """Run one trial to its deadline (eval/run/deadline.py); a timed-out trial is `error`."""
        timeout_s = self.cfg.timing.trial_timeout_s
        turn = self.slots.turn()  # its wait for a turn does not count against its deadline
        status, timed_out = await run_to_deadline(
            run_trial(plan, self.store, self.docker, self.control, turn), timeout_s,
            lambda: turn.waiting_s,
        )
        if timed_out or status is None:
            await self.store.mark_trial_error(
                plan.trial_id, f"trial exceeded trial_timeout_s={timeout_s}"
            )
            return TrialStatus.ERROR
        return status
