"""eval/run/warm_pool.py: clusters started ahead, turns bounded by `parallel`; at the seams
(real scheduler, trial lifecycle and store; the in-memory subject) and the Turn itself."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos_eval.errors import ConfigError
from chaos_eval.outcomes import CampaignStatus, TrialStatus
from chaos_eval.run.campaign import CampaignRunner
from chaos_eval.run.control import hold_campaign
from chaos_eval.run.deadline import run_to_deadline
from chaos_eval.run.resolve import resolve_campaign
from chaos_eval.run.warm_pool import Slots, Turn, TurnWithdrawn
from chaos_eval.spec.config import parse_campaign
from chaos_eval.spec.matrix import spec_json
from chaos_eval.store.records import EventRow
from chaos_eval.store.store import Store
from tests.unit.fakes import Tracker
from tests.unit.run.test_harness import NoDocker, doc, run
from tests.unit.run.test_harness import fake_subject as fake_subject


def turns_of(events: list[EventRow]) -> dict[int, tuple[float, float]]:
    """trial id -> (warm-up began, measured): the span a trial holds its turn."""
    at: dict[int, dict[str, float]] = {}
    for e in events:
        if e.trial_id is not None:
            at.setdefault(e.trial_id, {})[e.kind] = e.at
    return {t: (k["phase_warmup"], k["phase_measured"]) for t, k in at.items()
            if "phase_warmup" in k and "phase_measured" in k}


async def queued_now(store: Store, cid: int) -> bool:
    """Some trial is waiting for its turn (queued, its warm-up not begun)."""
    events = await store.events(cid)
    began = {e.trial_id for e in events if e.kind == "phase_warmup"}
    return any(e.kind == "phase_queued" and e.trial_id not in began for e in events)


@pytest.fixture
def slow_up() -> Iterator[None]:
    Tracker.up_delay_s = 0.1  # a cluster takes a while to start: the pool has work to hide
    yield


@pytest.mark.usefixtures("slow_up")
async def test_a_warm_pool_starts_clusters_ahead_but_never_overlaps_turns(
    tmp_path: Path,
) -> None:
    async with await Store.open(tmp_path / "eval.db") as store:
        cid, status = await run(store, doc(parallel=1, warm_pool=1))
        trials = await store.trials(cid)
        events = await store.events(cid)
    assert status == CampaignStatus.FINISHED
    assert {t.status for t in trials} == {TrialStatus.PASSED} and len(trials) == 7
    assert Tracker.max_running == 2  # a second cluster existed while one trial ran
    assert sorted(Tracker.started) == sorted(Tracker.torn_down)
    spans = sorted(turns_of(events).values())
    assert len(spans) == 7
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end  # one turn at a time: parallel 1 holds
    assert any(e.kind == "phase_queued" for e in events)


async def test_without_a_pool_nothing_waits_and_nothing_is_queued(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "eval.db") as store:
        cid, status = await run(store, doc(parallel=1))
        events = await store.events(cid)
        trials = await store.trials(cid)
    assert status == CampaignStatus.FINISHED and Tracker.max_running == 1
    assert not any(e.kind == "phase_queued" for e in events)
    assert all("queued_s" not in t.measurements for t in trials)


@pytest.mark.usefixtures("slow_up")
async def test_a_hold_withdraws_the_queued_trial_and_resume_runs_it(tmp_path: Path) -> None:
    d = doc(parallel=1, warm_pool=1, timing={"warmup_s": 0.3, "fault_duration_s": 0.3,
                                             "recovery_timeout_s": 1})
    async with await Store.open(tmp_path / "eval.db") as store:
        cfg = parse_campaign(d, "mem")
        res = await resolve_campaign(store, cfg, "mem.yaml", ["eval"], new=False)
        cid = res.campaign.id
        runner = CampaignRunner(cfg, res.campaign, store, NoDocker())  # type: ignore[arg-type]
        runner.watch.period_s = 0.02
        task = asyncio.create_task(runner.run())
        while not await queued_now(store, cid):
            await asyncio.sleep(0.01)
        await hold_campaign(store, cid)
        assert await task == CampaignStatus.HELD
        withdrawn = [t for t in await store.trials(cid) if t.status == TrialStatus.INTERRUPTED]
        assert len(withdrawn) == 1 and "warm pool" in withdrawn[0].error
        assert sorted(Tracker.started) == sorted(Tracker.torn_down)  # its cluster went too
        again = CampaignRunner(cfg, await store.campaign(cid), store,
                               NoDocker())  # type: ignore[arg-type]
        assert await again.run() == CampaignStatus.FINISHED
        trials = await store.trials(cid)
    assert {t.status for t in trials} == {TrialStatus.PASSED}
    assert [t.attempts for t in trials if t.id == withdrawn[0].id] == [2]


def test_a_pool_larger_than_parallel_is_refused() -> None:
    with pytest.raises(ConfigError) as e:
        parse_campaign(doc(parallel=1, warm_pool=2), "c.yaml")
    assert "warm_pool" in str(e.value) and "parallel (1)" in str(e.value)


def test_no_pool_keeps_the_spec_and_so_every_trial_key() -> None:
    assert "warm_pool" not in spec_json(parse_campaign(doc(), "c.yaml"))
    assert '"warm_pool":1' in spec_json(parse_campaign(doc(warm_pool=1), "c.yaml"))


async def test_a_turn_taken_while_cancelled_is_given_back() -> None:
    slots = Slots(1, 1)
    first, second = slots.turn(), slots.turn()
    await first.take()
    waiting = asyncio.ensure_future(second.take())
    await asyncio.sleep(0.02)
    assert second.waiting_s > 0
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    first.give_back()
    third = slots.turn()
    await asyncio.wait_for(third.take(), 1)  # the turn was not leaked to the cancelled one
    assert slots.turns.locked()
    third.give_back()
    third.give_back()  # idempotent
    assert not slots.turns.locked()


async def test_a_stop_withdraws_a_waiting_turn_only_with_a_pool() -> None:
    slots = Slots(1, 1)
    first, second = slots.turn(), slots.turn()
    await first.take()
    waiting = asyncio.ensure_future(second.take())
    await asyncio.sleep(0.01)
    slots.stop.set()
    with pytest.raises(TurnWithdrawn):
        await waiting
    assert second.waited_s > 0
    first.give_back()
    assert not slots.turns.locked()
    plain = Slots(1, 0)
    plain.stop.set()
    turn = plain.turn()
    await turn.take()  # no pool: the trial has its cluster slot, so it runs
    turn.give_back()


async def test_a_cooldown_holds_between_turns() -> None:
    slots = Slots(1, 1, cooldown_s=0.2)
    first, second = slots.turn(), slots.turn()
    await first.take()
    first.give_back()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await second.take()
    assert loop.time() - t0 >= 0.15


async def test_time_waiting_for_a_turn_does_not_count_against_the_deadline() -> None:
    turn = Turn(asyncio.Semaphore(0))

    async def trial() -> str:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(turn.take(), 0.3)  # waits 0.3 s for a turn
        await asyncio.sleep(0.1)
        return "done"

    assert await run_to_deadline(trial(), 0.2, lambda: turn.waiting_s) == ("done", False)
    assert await run_to_deadline(asyncio.sleep(0.3, "late"), 0.1) == (None, True)
