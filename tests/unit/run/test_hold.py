"""Hold, resume and close through the real runner and a real eval.db (fake subject): a hold
lets running trials finish and starts no new one; resume finishes the rest, nothing twice."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chaos_eval.errors import CampaignStateError, LeaseHeldError
from chaos_eval.outcomes import CampaignStatus, TrialStatus
from chaos_eval.run.campaign import CampaignRunner
from chaos_eval.run.control import check_resumable, close_campaign, hold_campaign
from chaos_eval.run.resolve import resolve_campaign
from chaos_eval.spec.config import parse_campaign
from chaos_eval.store.store import Store
from tests.unit.run.test_harness import NoDocker, doc, fake_subject, run

__all__ = ["fake_subject"]  # the autouse fixture that registers the fake subject


async def start(store: Store, d: dict[str, object]) -> CampaignRunner:
    cfg = parse_campaign(d, "mem")
    res = await resolve_campaign(store, cfg, "mem.yaml", ["eval"], new=False)
    runner = CampaignRunner(cfg, res.campaign, store, NoDocker())  # type: ignore[arg-type]
    runner.watch.period_s = 0.05
    return runner


async def test_hold_finishes_running_trials_starts_none_and_resume_finishes(
    tmp_path: Path,
) -> None:
    d = doc(parallel=1, trials_per_combination=3, include_baseline=False)
    async with await Store.open(tmp_path / "eval.db") as store:
        runner = await start(store, d)
        cid = runner.campaign.id
        task = asyncio.create_task(runner.run())
        while not any(t.status.is_final for t in await store.trials(cid)):
            await asyncio.sleep(0.02)
        held = await hold_campaign(store, cid)
        assert held.campaign.status == CampaignStatus.RUNNING and held.live_runner
        status = await task
        assert status == CampaignStatus.HELD and runner.held
        trials = await store.trials(cid)
        assert not any(t.status == TrialStatus.RUNNING for t in trials)
        pending = [t for t in trials if t.status == TrialStatus.PENDING]
        assert 0 < len(pending) < len(trials)
        row = await store.campaign(cid)
        assert row.status == CampaignStatus.HELD and row.lease_token is None
        done_before = {t.id: t.attempts for t in trials if t.status.is_final}
        # `run campaign FILE` does not run over a hold
        with pytest.raises(CampaignStateError, match="is held"):
            await resolve_campaign(store, parse_campaign(d, "mem"), "mem.yaml", [], new=False)
        check_resumable(row)  # resume may continue it
        again = CampaignRunner(runner.cfg, row, store, NoDocker())  # type: ignore[arg-type]
        assert await again.run() == CampaignStatus.FINISHED
        trials = await store.trials(cid)
        assert all(t.status == TrialStatus.PASSED for t in trials)
        assert all(t.attempts == 1 for t in trials)  # nothing ran twice
        assert {t.id: t.attempts for t in trials if t.id in done_before} == done_before


async def test_close_a_held_campaign_and_what_cannot_be_done(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "eval.db") as store:
        cid, status = await run(store, doc())
        assert status == CampaignStatus.FINISHED
        with pytest.raises(CampaignStateError, match=r"cannot hold campaign .*: it has finished"):
            await hold_campaign(store, cid)
        with pytest.raises(CampaignStateError, match="it has finished"):
            await close_campaign(store, cid, "done anyway")
        d = doc(name="other")
        cfg = parse_campaign(d, "mem")
        res = await resolve_campaign(store, cfg, "mem.yaml", [], new=False)
        other = res.campaign.id
        await hold_campaign(store, other)
        with pytest.raises(CampaignStateError, match="already held"):
            await hold_campaign(store, other)
        with pytest.raises(CampaignStateError, match="--reason"):
            await close_campaign(store, other, "  ")
        before = await close_campaign(store, other, "the subject changed")
        assert before.status == CampaignStatus.HELD
        row = await store.campaign(other)
        assert (row.status, row.reason) == (CampaignStatus.CLOSED, "the subject changed")
        with pytest.raises(CampaignStateError, match="already closed"):
            await close_campaign(store, other, "again")
        with pytest.raises(CampaignStateError, match="is closed"):
            check_resumable(row)
        # its unstarted trials were never run; running the file again starts anew
        assert all(t.status == TrialStatus.PENDING for t in await store.trials(other))
        fresh = await resolve_campaign(store, cfg, "mem.yaml", [], new=False)
        assert fresh.created and fresh.campaign.id != other


async def test_close_refuses_a_live_runner(tmp_path: Path) -> None:
    d = doc(parallel=1, trials_per_combination=3, include_baseline=False)
    async with await Store.open(tmp_path / "eval.db") as store:
        runner = await start(store, d)
        cid = runner.campaign.id
        task = asyncio.create_task(runner.run())
        while (await store.campaign(cid)).lease_token is None:
            await asyncio.sleep(0.01)
        with pytest.raises(LeaseHeldError, match="hold it first"):
            await close_campaign(store, cid, "stop")
        await hold_campaign(store, cid)
        assert await task == CampaignStatus.HELD
        await close_campaign(store, cid, "stop")
        assert (await store.campaign(cid)).status == CampaignStatus.CLOSED
