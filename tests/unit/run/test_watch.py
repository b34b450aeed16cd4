"""The runner's watch records each drift alarm once per episode, and reports a hold."""

from __future__ import annotations

from pathlib import Path

from chaos_eval.analysis.snapshot import FAILURE_RATE, STUCK_TRIAL, Alarm
from chaos_eval.outcomes import CampaignStatus
from chaos_eval.run.watch import CLEARED, CampaignWatch
from chaos_eval.spec.config import parse_campaign
from chaos_eval.store.store import Store
from tests.unit.store.test_store import new_campaign

CFG = parse_campaign({"name": "c", "subjects": ["etcd"]}, "mem")
RATE = Alarm(FAILURE_RATE, "on", "3/5 failed")
STUCK = Alarm(STUCK_TRIAL, "trial 1 in recovery since 5.000", "trial 1 stuck")


async def test_alarms_are_recorded_once_per_episode(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "e.db") as store:
        cid = await new_campaign(store)
        watch = CampaignWatch(store, cid, CFG)
        for _ in range(3):
            await watch.record([RATE, STUCK])
        kinds = [e.kind for e in await store.events(cid) if e.kind.startswith("drift")]
        assert kinds == [FAILURE_RATE, STUCK_TRIAL]
        await watch.record([])  # the rate fell back: one `cleared`
        await watch.record([])
        await watch.record([RATE])  # a new episode
        kinds = [e.kind for e in await store.events(cid) if e.kind.startswith("drift")]
        assert kinds == [FAILURE_RATE, STUCK_TRIAL, CLEARED, FAILURE_RATE]


async def test_poll_returns_the_status_another_process_wrote(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "e.db") as store:
        cid = await new_campaign(store)
        watch = CampaignWatch(store, cid, CFG)
        assert await watch.poll() == CampaignStatus.RUNNING
        await store.set_campaign_status(cid, CampaignStatus.HELD)
        assert await watch.poll() == CampaignStatus.HELD
