"""The campaign harness end to end at the seams: real scheduler, trial lifecycle, store and
metrics; an in-memory subject and the no-op fault instead of Docker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos_eval.errors import StoreError
from chaos_eval.outcomes import CampaignStatus, TrialStatus
from chaos_eval.run.campaign import CampaignRunner
from chaos_eval.run.resolve import resolve_campaign
from chaos_eval.spec import registry
from chaos_eval.spec.config import parse_campaign
from chaos_eval.spec.matrix import expand
from chaos_eval.store.store import Store
from tests.unit.fakes import Tracker


@pytest.fixture(autouse=True)
def fake_subject(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(registry.SUBJECTS, "fake", "tests.unit.fakes:FakeSubject")
    Tracker.reset()
    yield


class NoDocker:
    """Fails loudly if the harness touches Docker in these tests (beyond asking whether the
    engine went away: it never does here)."""

    engine_losses = 0
    last_loss = ""

    async def reachable(self) -> bool:
        return True

    async def labelled(self, *a: Any, **k: Any) -> Any:
        from chaos_eval.engine.containers import Labelled

        return Labelled((), (), ())

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"Docker.{name} called in a Docker-free test")


def doc(**over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": "h",
        "subjects": ["fake"],
        "chaos_types": [{"type": "noop", "params": {"label": ["a", "b", "c"]}}],
        "trials_per_combination": 2,
        "parallel": 2,
        "include_baseline": True,
        "timing": {"warmup_s": 0.05, "fault_duration_s": 0.05, "recovery_timeout_s": 1},
        "workload": {"rate_per_s": 200, "concurrency": 2},
    }
    d.update(over)
    return d


async def run(store: Store, d: dict[str, Any], new: bool = False) -> tuple[int, CampaignStatus]:
    cfg = parse_campaign(d, "mem")
    res = await resolve_campaign(store, cfg, "mem.yaml", ["eval"], new=new)
    runner = CampaignRunner(cfg, res.campaign, store, NoDocker())  # type: ignore[arg-type]
    return res.campaign.id, await runner.run()


async def test_runs_every_trial_within_parallel_bound(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "eval.db") as store:
        cid, status = await run(store, doc(parallel=2))
        trials = await store.trials(cid)
        assert status == CampaignStatus.FINISHED
        assert len(trials) == 1 + 3 * 2
        assert {t.status for t in trials} == {TrialStatus.PASSED}
        assert Tracker.max_running == 2  # the bound was reached and never exceeded
        assert sorted(Tracker.started) == sorted(Tracker.torn_down)
        ops = await store.ops(trials[1].id)
        assert ops and any(o.kind == "final_read" for o in ops)
        m = trials[1].measurements_dict["metrics"]
        assert m["lost_writes"] == 0 and m["acked_writes"] > 0


async def test_parallel_one_is_sequential(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "eval.db") as store:
        await run(store, doc(parallel=1))
        assert Tracker.max_running == 1


async def test_failing_trial_does_not_stop_campaign(tmp_path: Path) -> None:
    d = doc(parallel=1, max_retries=0)
    keys = [p.key for p, _ in expand(parse_campaign(d, "mem"))]
    Tracker.fail_up_for = {keys[2]}
    async with await Store.open(tmp_path / "eval.db") as store:
        cid, status = await run(store, d)
        trials = {t.key: t for t in await store.trials(cid)}
        assert status == CampaignStatus.FINISHED
        assert trials[keys[2]].status == TrialStatus.ERROR
        assert "compose up failed" in trials[keys[2]].error
        assert sum(t.status == TrialStatus.PASSED for t in trials.values()) == len(keys) - 1
        assert keys[2] in Tracker.torn_down  # teardown ran after the failed up


async def test_errors_are_retried(tmp_path: Path) -> None:
    d = doc(parallel=1, max_retries=1)
    keys = [p.key for p, _ in expand(parse_campaign(d, "mem"))]
    Tracker.fail_up_for = {keys[1]}
    async with await Store.open(tmp_path / "eval.db") as store:
        cid, _ = await run(store, d)
        t = next(t for t in await store.trials(cid) if t.key == keys[1])
        assert t.status == TrialStatus.ERROR and t.attempts == 2


async def test_consecutive_errors_abort_campaign(tmp_path: Path) -> None:
    d = doc(parallel=1, max_retries=0, max_consecutive_errors=2)
    Tracker.fail_up_for = {p.key for p, _ in expand(parse_campaign(d, "mem"))}
    async with await Store.open(tmp_path / "eval.db") as store:
        cid, status = await run(store, d)
        assert status == CampaignStatus.ABORTED
        c = await store.campaign(cid)
        assert "consecutive" in c.reason
        statuses = [t.status for t in await store.trials(cid)]
        assert statuses.count(TrialStatus.ERROR) == 2
        assert statuses.count(TrialStatus.PENDING) == len(statuses) - 2


@pytest.mark.parametrize("batch", [True, False], ids=["batch-read", "per-key-read"])
async def test_lost_writes_fail_the_trial(tmp_path: Path, batch: bool) -> None:
    """Both final-read paths (one batch read; per-key reads when the batch fails) count every
    acknowledged write as lost, one final_read op per key."""
    Tracker.lose_writes, Tracker.batch_reads = True, batch
    async with await Store.open(tmp_path / "eval.db") as store:
        cid, _ = await run(store, doc(chaos_types=[], parallel=1))
        (t,) = await store.trials(cid)
        assert t.status == TrialStatus.FAILED
        assert any("lost" in r for r in t.reasons_list)
        m = t.measurements_dict["metrics"]
        assert m["lost_writes"] == m["acked_writes"] > 0 and m["unverified_writes"] == 0
        finals = [o for o in await store.ops(t.id) if o.kind == "final_read"]
        assert len(finals) == len({o.key for o in finals}) == m["acked_writes"]
        assert Tracker.batch_calls > 0


async def test_rerun_continues_and_skips_finished(tmp_path: Path) -> None:
    d = doc(parallel=1)
    keys = [p.key for p, _ in expand(parse_campaign(d, "mem"))]
    async with await Store.open(tmp_path / "eval.db") as store:
        cfg = parse_campaign(d, "mem")
        res = await resolve_campaign(store, cfg, "mem.yaml", ["eval"], new=False)
        # simulate a previous run that finished the first two trials and died in the third
        rows = await store.trials(res.campaign.id)
        for r in rows[:2]:
            await store.record_trial_started(r.id)
            await store.record_trial_finished(
                r.id, TrialStatus.PASSED, recovery_s=0.1, measurements={}, proof={}, reasons=[]
            )
        await store.record_trial_started(rows[2].id)
        cid, status = await run(store, d)
        assert cid == res.campaign.id and status == CampaignStatus.FINISHED
        assert sorted(Tracker.started) == sorted(keys[2:])  # finished ones were skipped
        after = await store.trials(cid)
        assert [t.attempts for t in after] == [1, 1, 2] + [1] * (len(keys) - 3)
        # once finished, running it again runs nothing and duplicates nothing
        Tracker.reset()
        cid2, status2 = await run(store, d)
        assert (cid2, status2, Tracker.started) == (cid, CampaignStatus.FINISHED, [])
        assert len(await store.trials(cid)) == len(keys)


async def test_changed_spec_is_refused_unless_new(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "eval.db") as store:
        cfg = parse_campaign(doc(), "mem")
        await resolve_campaign(store, cfg, "mem.yaml", ["eval"], new=False)
        changed = parse_campaign(doc(trials_per_combination=3), "mem")
        with pytest.raises(StoreError, match="--new"):
            await resolve_campaign(store, changed, "mem.yaml", ["eval"], new=False)
        res = await resolve_campaign(store, changed, "mem.yaml", ["eval"], new=True)
        assert res.created and res.campaign.id == 2


async def test_same_spec_campaigns_never_share_labels_or_projects(tmp_path: Path) -> None:
    """Trial keys repeat for identical specs (and ids repeat across databases), so labels and
    compose projects carry a per-campaign uid instead."""
    from chaos_eval.subject import TrialContext

    ctxs = []
    for db in ("a.db", "b.db"):
        async with await Store.open(tmp_path / db) as store:
            cfg = parse_campaign(doc(), "mem")
            c = (await resolve_campaign(store, cfg, "mem.yaml", ["eval"], new=False)).campaign
            key = (await store.trials(c.id))[0].key
            ctxs.append(TrialContext(c.id, key, 1, c.uid))
    a, b = ctxs
    assert (a.campaign_id, a.trial_key) == (b.campaign_id, b.trial_key)
    assert a.project != b.project
    assert a.labels("etcd")["chaos-eval.campaign"] != b.labels("etcd")["chaos-eval.campaign"]


async def test_trial_timeout_is_an_error_and_still_tears_down(tmp_path: Path) -> None:
    Tracker.up_delay_s = 5
    d = doc(chaos_types=[], parallel=1, max_retries=0)
    d["timing"] = dict(d["timing"], trial_timeout_s=0.3)
    async with await Store.open(tmp_path / "eval.db") as store:
        cid, status = await run(store, d)
        (t,) = await store.trials(cid)
        assert t.status == TrialStatus.ERROR and "trial_timeout_s" in t.error
        assert Tracker.torn_down == Tracker.started  # teardown ran despite the timeout
        assert status == CampaignStatus.FINISHED


async def test_pilot_baselines_finish_before_any_other_trial_starts(tmp_path: Path) -> None:
    """A slow baseline with a slot to spare: still nothing else starts until it is done."""
    d = doc(parallel=2)
    planned = [p for p, _ in expand(parse_campaign(d, "mem"))]
    baselines = {p.key for p in planned if p.fault == "baseline"}
    Tracker.up_delay_for = {k: 0.3 for k in baselines}
    async with await Store.open(tmp_path / "eval.db") as store:
        _, status = await run(store, d)
    assert status == CampaignStatus.FINISHED
    first_matrix_up = next(i for i, (ev, k) in enumerate(Tracker.log)
                           if ev == "up" and k not in baselines)
    downs = {k for ev, k in Tracker.log[:first_matrix_up] if ev == "down"}
    assert downs == baselines, Tracker.log
    assert Tracker.max_running == 2  # the matrix then used both slots


async def test_pilot_baseline_missing_its_slo_aborts_before_the_matrix(tmp_path: Path) -> None:
    d = doc(parallel=2)
    planned = [p for p, _ in expand(parse_campaign(d, "mem"))]
    (baseline,) = [p.key for p in planned if p.fault == "baseline"]
    Tracker.lose_writes_for = {baseline}
    async with await Store.open(tmp_path / "eval.db") as store:
        cid, status = await run(store, d)
        assert status == CampaignStatus.ABORTED
        c = await store.campaign(cid)
        assert c.reason.startswith("pilot: baseline trials missed their SLO: ")
        assert "lost" in c.reason and "the environment is broken" in c.reason
        statuses = [t.status for t in await store.trials(cid)]
        assert statuses == [TrialStatus.FAILED] + [TrialStatus.PENDING] * (len(planned) - 1)
        assert Tracker.started == [baseline]  # no matrix trial ever started
        # running it again aborts again at once: the failed baseline is still on record
        Tracker.reset()
        _, again = await run(store, d)
        assert again == CampaignStatus.ABORTED and Tracker.started == []


async def test_pilot_gate_lets_a_baseline_only_campaign_finish(tmp_path: Path) -> None:
    """With no matrix to protect, a failed baseline is just a failed trial."""
    Tracker.lose_writes = True
    async with await Store.open(tmp_path / "eval.db") as store:
        cid, status = await run(store, doc(chaos_types=[], parallel=1))
        assert status == CampaignStatus.FINISHED
        assert (await store.campaign(cid)).reason == ""


async def test_a_failing_repair_is_reported_not_masked(tmp_path: Path) -> None:
    class BrokenDocker(NoDocker):
        async def labelled(self, *a: Any, **k: Any) -> Any:
            from chaos_eval.errors import DockerError

            raise DockerError("engine went away")

    async with await Store.open(tmp_path / "eval.db") as store:
        cfg = parse_campaign(doc(), "mem")
        res = await resolve_campaign(store, cfg, "mem.yaml", ["eval"], new=False)
        runner = CampaignRunner(cfg, res.campaign, store, BrokenDocker())  # type: ignore[arg-type]
        from chaos_eval.errors import DockerError

        with pytest.raises(DockerError, match="engine went away"):
            await runner.run()
        c = await store.campaign(res.campaign.id)
        assert c.status == CampaignStatus.INTERRUPTED and c.lease_token is None
