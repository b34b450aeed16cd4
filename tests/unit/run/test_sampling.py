"""Sampled campaigns (`samples:`) through the real runner and a real eval.db (fake subject):
furthest-first scheduling, error trials spent but no samples, stopping rules, max_trials, and
resume that neither runs an ended cell again nor starts an extra trial."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from chaos_eval.analysis.sampling import CELL_ENDED, CellEnd
from chaos_eval.outcomes import CampaignStatus, TrialStatus
from chaos_eval.run.campaign import CampaignRunner
from chaos_eval.run.control import hold_campaign
from chaos_eval.run.resolve import resolve_campaign
from chaos_eval.spec.config import parse_campaign
from chaos_eval.spec.matrix import expand
from chaos_eval.store.store import Store
from tests.unit.fakes import Tracker
from tests.unit.run.test_harness import NoDocker, doc, fake_subject, run

__all__ = ["fake_subject"]


def sdoc(samples: dict[str, Any], **over: Any) -> dict[str, Any]:
    d = doc(trials_per_combination=1, include_baseline=False,
            chaos_types=[{"type": "noop", "params": {"label": ["a", "b"]}}], samples=samples)
    d.update(over)
    return d


def cell_keys(d: dict[str, Any]) -> dict[str, list[str]]:
    """label -> the cell's trial keys, repetition order."""
    out: dict[str, list[str]] = {}
    for p, c in expand(parse_campaign(d, "mem")):
        out.setdefault(str(c.params.get("label", "baseline")), []).append(p.key)
    return out


async def ends(store: Store, cid: int) -> dict[str, CellEnd]:
    out = {}
    for e in await store.events(cid, CELL_ENDED):
        end = CellEnd.from_detail(e.detail)
        assert end is not None
        out[end.params] = end
    return out


async def test_each_cell_runs_to_its_target_within_parallel(tmp_path: Path) -> None:
    d = sdoc({"target": 3, "max_trials": 5}, parallel=2)
    async with await Store.open(tmp_path / "eval.db") as store:
        cid, status = await run(store, d)
        assert status == CampaignStatus.FINISHED
        trials = await store.trials(cid)
        assert len(trials) == 6 and {t.status for t in trials} == {TrialStatus.PASSED}
        assert Tracker.max_running == 2
        got = await ends(store, cid)
        assert {e.rule for e in got.values()} == {"target"} and len(got) == 2
        assert {e.text for e in got.values()} == {"target met (3/3)"}
        keys = cell_keys(d)  # the first three repetitions of each cell, nothing else
        assert {t.key for t in trials} == {*keys["a"][:3], *keys["b"][:3]}


async def test_furthest_first_and_errors_are_spent_but_no_samples(tmp_path: Path) -> None:
    d = sdoc({"target": 2, "max_trials": 4}, parallel=1, max_retries=0)
    keys = cell_keys(d)
    Tracker.fail_up_for = {keys["a"][0]}
    async with await Store.open(tmp_path / "eval.db") as store:
        cid, status = await run(store, d)
        assert status == CampaignStatus.FINISHED
        label = {k: lab for lab, ks in keys.items() for k in ks}
        order = [label[k] for k in Tracker.started]
        # a errs (0 samples each: a tie, the earlier cell), so a again; then b (0 < 1);
        # a tie (1, 1): a; then b, the one left short
        assert order == ["a", "a", "b", "a", "b"]
        by = {t.key: t.status for t in await store.trials(cid)}
        assert by[keys["a"][0]] == TrialStatus.ERROR
        got = await ends(store, cid)
        a = next(e for e in got.values() if '"a"' in e.params)
        assert (a.rule, a.samples, a.spent, a.errors) == ("target", 2, 3, 1)


async def test_max_trials_spent_when_errors_eat_the_budget(tmp_path: Path) -> None:
    d = sdoc({"target": 3, "max_trials": 4}, parallel=1, max_retries=0,
             max_consecutive_errors=10)
    keys = cell_keys(d)
    Tracker.fail_up_for = set(keys["a"][:2])
    async with await Store.open(tmp_path / "eval.db") as store:
        cid, status = await run(store, d)
        assert status == CampaignStatus.FINISHED
        a = next(e for e in (await ends(store, cid)).values() if '"a"' in e.params)
        assert a.rule == "max_trials" and a.text == "max_trials spent (4, 2 errors)"
        assert sum(t.key in keys["a"] for t in await store.trials(cid)) == 4


async def test_pass_rate_rule_ends_a_cell_early(tmp_path: Path) -> None:
    # all pass: the Wilson width after k samples is 3.84 / (k + 3.84): 0.56 at 3 < 0.6
    d = sdoc({"target": 10, "max_trials": 12, "stop_when": {"pass_rate_ci_width": 0.6}},
             parallel=1)
    async with await Store.open(tmp_path / "eval.db") as store:
        cid, status = await run(store, d)
        assert status == CampaignStatus.FINISHED
        got = await ends(store, cid)
        assert {e.rule for e in got.values()} == {"stopping_rule"}
        assert {e.samples for e in got.values()} == {3}
        assert all(e.text.startswith("stopping rule: pass-rate 95% CI width 0.56 < 0.6 after 3")
                   for e in got.values())
        assert len(await store.trials(cid)) == 6


async def test_recovery_rule_ends_a_cell_after_min_trials(tmp_path: Path) -> None:
    d = sdoc({"target": 8, "max_trials": 8, "min_trials": 4,
              "stop_when": {"recovery_median_ci_width_s": 5.0}}, parallel=2)
    async with await Store.open(tmp_path / "eval.db") as store:
        cid, status = await run(store, d)
        assert status == CampaignStatus.FINISHED
        got = await ends(store, cid)
        assert {e.rule for e in got.values()} == {"stopping_rule"}
        assert {e.samples for e in got.values()} == {4}  # judged in finish order
        assert all("recovery median" in e.text for e in got.values())
        # parallel 2: a trial in flight when its cell ended finishes and is kept (at most 1)
        assert len(await store.trials(cid)) <= 2 * 5


async def test_resume_after_a_hold_runs_exactly_what_is_missing(tmp_path: Path) -> None:
    d = sdoc({"target": 3, "max_trials": 5}, parallel=1)
    async with await Store.open(tmp_path / "eval.db") as store:
        cfg = parse_campaign(d, "mem")
        res = await resolve_campaign(store, cfg, "mem.yaml", ["eval"], new=False)
        runner = CampaignRunner(cfg, res.campaign, store, NoDocker())  # type: ignore[arg-type]
        runner.watch.period_s = 0.02
        cid = res.campaign.id
        task = asyncio.create_task(runner.run())
        while sum(t.status.is_final for t in await store.trials(cid)) < 2:
            await asyncio.sleep(0.01)
        await hold_campaign(store, cid)
        assert await task == CampaignStatus.HELD
        before = {t.id: t.attempts for t in await store.trials(cid) if t.status.is_final}
        again = CampaignRunner(cfg, await store.campaign(cid), store,
                               NoDocker())  # type: ignore[arg-type]
        assert await again.run() == CampaignStatus.FINISHED
        trials = await store.trials(cid)
        assert len(trials) == 6 and all(t.attempts == 1 for t in trials)
        assert {t.id: t.attempts for t in trials if t.id in before} == before
        assert len(await ends(store, cid)) == 2


async def test_resume_replays_ends_lost_in_a_crash_and_reruns_only_the_dead_trial(
    tmp_path: Path,
) -> None:
    d = sdoc({"target": 2, "max_trials": 3}, parallel=1)
    db = tmp_path / "eval.db"
    async with await Store.open(db) as store:
        cid, _ = await run(store, d)
        first = await ends(store, cid)
    keys = cell_keys(d)
    # a crash: the runner died after the last trial of `a` finished, before its end was
    # recorded, and while the last trial of `b` ran
    with sqlite3.connect(db) as con:
        con.execute("DELETE FROM events WHERE kind = ?", (CELL_ENDED,))
        con.execute("UPDATE trials SET status = 'running' WHERE key = ?", (keys["b"][1],))
        con.execute("UPDATE campaigns SET status = 'interrupted', lease_token = NULL")
    Tracker.reset()
    async with await Store.open(db) as store:
        cfg = parse_campaign(d, "mem")
        row = await store.campaign(cid)
        assert await CampaignRunner(cfg, row, store, NoDocker()).run() == (  # type: ignore[arg-type]
            CampaignStatus.FINISHED)
        assert Tracker.started == [keys["b"][1]]  # only the dead trial ran again
        assert len(await store.trials(cid)) == 4
        again = await ends(store, cid)
        assert {k: (e.rule, e.samples) for k, e in again.items()} == {
            k: (e.rule, e.samples) for k, e in first.items()}
        # and a finished campaign, resumed, starts nothing
        Tracker.reset()
        row = await store.campaign(cid)
        assert await CampaignRunner(cfg, row, store, NoDocker()).run() == (  # type: ignore[arg-type]
            CampaignStatus.FINISHED)
        assert Tracker.started == [] and len(await store.events(cid, CELL_ENDED)) == 2


async def test_a_fault_may_sample_on_its_own_terms(tmp_path: Path) -> None:
    """One fault with its own stopping rule ends early; the other runs to the campaign's
    target; the furthest-first order weighs each cell against its own target."""
    d = sdoc({"target": 3, "max_trials": 4}, parallel=1, chaos_types=[
        {"type": "noop", "params": {"label": "plain"}},
        {"type": "noop", "params": {"label": "ruled"},
         "samples": {"target": 8, "max_trials": 8, "stop_when": {"pass_rate_ci_width": 0.6}}},
    ])
    async with await Store.open(tmp_path / "eval.db") as store:
        cid, status = await run(store, d)
        assert status == CampaignStatus.FINISHED
        got = {e.params: (e.rule, e.samples) for e in (await ends(store, cid)).values()}
        assert got == {'{"label": "plain"}': ("target", 3),
                       '{"label": "ruled"}': ("stopping_rule", 3)}
        assert len(await store.trials(cid)) == 6


async def test_a_rerun_of_a_sampled_trial_runs_that_trial_alone(tmp_path: Path) -> None:
    from chaos_eval.run.rerun import create_rerun, plan_rerun

    d = sdoc({"target": 2, "max_trials": 3}, parallel=1)
    async with await Store.open(tmp_path / "eval.db") as store:
        cid, _ = await run(store, d)
        key = cell_keys(d)["b"][1]
        plan = await plan_rerun(store, cid, key)
        row = await create_rerun(store, plan, ["chaos-eval", "rerun", str(cid), key])
        Tracker.reset()
        cfg = parse_campaign(d, "mem")
        status = await CampaignRunner(cfg, row, store, NoDocker()).run()  # type: ignore[arg-type]
        assert status == CampaignStatus.FINISHED and Tracker.started == [key]
        assert [t.key for t in await store.trials(row.id)] == [key]
        assert await store.events(row.id, CELL_ENDED) == []
