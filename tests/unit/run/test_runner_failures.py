"""The runner's own failures (issue 11, class 7): a heartbeat that can no longer be written
stops the campaign with a reason (aborted, exit 3), and no exception of a trial task
vanishes (it is logged and recorded on the trial as `error`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos_eval.errors import StoreError
from chaos_eval.outcomes import CampaignStatus, ExitCode, TrialStatus, campaign_exit_code
from chaos_eval.run import campaign as campaign_mod
from chaos_eval.run import lease as lease_mod
from chaos_eval.run.campaign import CampaignRunner
from chaos_eval.run.resolve import resolve_campaign
from chaos_eval.spec import registry
from chaos_eval.spec.config import parse_campaign
from chaos_eval.store.store import Store
from tests.unit.fakes import Tracker
from tests.unit.run.test_harness import NoDocker, doc


@pytest.fixture(autouse=True)
def fake_subject(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(registry.SUBJECTS, "fake", "tests.unit.fakes:FakeSubject")
    Tracker.reset()
    yield


async def start(store: Store, d: dict[str, Any]) -> CampaignRunner:
    cfg = parse_campaign(d, "mem")
    res = await resolve_campaign(store, cfg, "mem.yaml", ["eval"], new=False)
    return CampaignRunner(cfg, res.campaign, store, NoDocker())  # type: ignore[arg-type]


async def test_a_heartbeat_that_cannot_be_written_stops_the_campaign(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(lease_mod, "HEARTBEAT_S", 0.02)
    Tracker.up_delay_s = 0.1
    async with await Store.open(tmp_path / "e.db") as store:
        runner = await start(store, doc(parallel=1, trials_per_combination=10))

        async def broken(*_: Any) -> bool:
            raise StoreError("disk I/O error (simulated)")

        monkeypatch.setattr(store, "heartbeat", broken)
        with caplog.at_level(logging.ERROR):
            status = await runner.run()
        trials = await store.trials(runner.campaign.id)
        row = await store.campaign(runner.campaign.id)
    assert status == CampaignStatus.ABORTED
    assert "heartbeat" in runner.abort_reason and "disk I/O error" in runner.abort_reason
    assert campaign_exit_code(status, [t.status for t in trials]) == ExitCode.HARNESS_ERROR
    assert row.status == CampaignStatus.ABORTED
    assert any("heartbeat" in r.getMessage() for r in caplog.records)
    # it stopped scheduling: most of the 31 trials never started
    assert sum(t.status != TrialStatus.PENDING for t in trials) < len(trials) // 2
    assert not any(t.status == TrialStatus.RUNNING for t in trials)


async def test_an_exception_escaping_a_trial_is_recorded_on_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = campaign_mod.run_trial
    victims: list[int] = []

    async def exploding(plan: Any, *a: Any) -> TrialStatus:
        if plan.chaos is not None and not victims:
            victims.append(plan.trial_id)
            raise RuntimeError("boom outside the trial's own handlers")
        return await real(plan, *a)

    monkeypatch.setattr(campaign_mod, "run_trial", exploding)
    async with await Store.open(tmp_path / "e.db") as store:
        runner = await start(store, doc(max_retries=0, trials_per_combination=1))
        with caplog.at_level(logging.ERROR):
            status = await runner.run()
        trials = {t.id: t for t in await store.trials(runner.campaign.id)}
    (victim,) = victims
    assert trials[victim].status == TrialStatus.ERROR
    assert "RuntimeError" in trials[victim].error and "boom" in trials[victim].error
    assert status == CampaignStatus.FINISHED  # the campaign went on; nothing left running
    assert all(t.status.is_final for t in trials.values())
    assert any("boom" in (r.exc_text or r.getMessage()) for r in caplog.records)
