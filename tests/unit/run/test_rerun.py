"""Re-running one recorded trial: the command line (pure), finding the trial, planning it
again from the recorded spec, and the new one-trial campaign (real store, no Docker)."""

from __future__ import annotations

import dataclasses
import shlex
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos_eval.commands import cli_command, rerun_command
from chaos_eval.errors import CampaignNotFound, ConfigError, StoreError, TrialNotFound
from chaos_eval.outcomes import CampaignStatus, ExitCode, TrialStatus, campaign_exit_code
from chaos_eval.render.reruns import not_passed, rerun_lines
from chaos_eval.run.campaign import CampaignRunner
from chaos_eval.run.rerun import create_rerun, find_trial, plan_rerun, provenance_note
from chaos_eval.run.resolve import resolve_campaign
from chaos_eval.spec import registry
from chaos_eval.spec.config import parse_campaign
from chaos_eval.spec.matrix import expand
from chaos_eval.store.records import TrialRow, trial_label
from chaos_eval.store.store import Store
from tests.unit.fakes import Tracker
from tests.unit.run.test_harness import NoDocker, doc, run


@pytest.fixture(autouse=True)
def fake_subject(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(registry.SUBJECTS, "fake", "tests.unit.fakes:FakeSubject")
    Tracker.reset()
    yield


def row(key: str, status: TrialStatus = TrialStatus.PASSED, ordinal: int = 0) -> TrialRow:
    return TrialRow(
        id=ordinal + 1, campaign_id=1, key=key, ordinal=ordinal, subject="etcd",
        subject_type="etcd", fault="latency", params='{"delay_ms": 50, "jitter_ms": 0}',
        target="follower", repetition=1, seed=7, status=status, phase=None, attempts=1,
        started_at=None, finished_at=None, targets="[]", recovery_s=None, measurements="{}",
        proof="{}", reasons="[]", error="",
    )  # fmt: skip


# -- the command line --------------------------------------------------------------------


def test_rerun_command_is_pasteable_bash() -> None:
    assert rerun_command(3, "0123456789abcdef0123", "eval.db") == (
        "chaos-eval rerun 3 0123456789abcdef0123 --db eval.db"
    )
    assert rerun_command(3, "0123456789abcdef0123") == "chaos-eval rerun 3 0123456789abcdef0123"


@pytest.mark.parametrize(
    "db",
    ["my results/eval.db", "it's.db", "$HOME/x;rm -rf ~.db", "a\nb.db", "[x].db", "-x.db"],
)
def test_rerun_command_quotes_every_argument(db: str) -> None:
    cmd = rerun_command(12, "abc", Path(db))
    assert shlex.split(cmd) == ["chaos-eval", "rerun", "12", "abc", "--db", db]
    assert not cmd.startswith("eval ")  # `eval` is a bash builtin


def test_cli_command_quotes_and_stringifies() -> None:
    cmd = cli_command("analyze", 1, "--db", Path("a b/e.db"))
    assert cmd == "chaos-eval analyze 1 --db 'a b/e.db'"


# -- finding the trial --------------------------------------------------------------------


def test_find_trial_by_key_or_unique_prefix() -> None:
    trials = [row("aaaa1111bbbb2222cccc", ordinal=0), row("aaaa2222bbbb3333dddd", ordinal=1)]
    assert find_trial(trials, "aaaa2222bbbb3333dddd", "c").ordinal == 1
    assert find_trial(trials, "AAAA1111", "c").ordinal == 0  # case and prefix
    with pytest.raises(TrialNotFound, match=r"key prefix 'aaaa' matches 2 trials \(aaaa1111"):
        find_trial(trials, "aaaa", "campaign 1")
    with pytest.raises(TrialNotFound, match=r"campaign 1 has no trial with key 'ffff0000'$"):
        find_trial(trials, "ffff0000", "campaign 1")
    with pytest.raises(TrialNotFound, match="20 hex characters"):
        find_trial(trials, "aa", "campaign 1")  # too short to be a prefix


def test_trial_label_and_rerun_lines() -> None:
    failed = row("f" * 20, TrialStatus.FAILED, ordinal=2)
    error = row("e" * 20, TrialStatus.ERROR, ordinal=1)
    trials = [row("p" * 20), failed, error, row("r" * 20, TrialStatus.RUNNING, ordinal=3)]
    assert trial_label(failed) == "etcd / latency (delay_ms=50,jitter_ms=0) #1"
    assert not_passed(trials) == [error, failed]  # run order; passed/unfinished left out
    lines = rerun_lines(4, trials, Path("x y.db"))
    assert lines[1:] == [
        "  error: trial 2, etcd / latency (delay_ms=50,jitter_ms=0) #1",
        f"    chaos-eval rerun 4 {'e' * 20} --db 'x y.db'",
        "  failed: trial 3, etcd / latency (delay_ms=50,jitter_ms=0) #1",
        f"    chaos-eval rerun 4 {'f' * 20} --db 'x y.db'",
    ]
    assert rerun_lines(4, [row("p" * 20)], None) == []
    many = [row(f"{i:020d}", TrialStatus.FAILED, ordinal=i) for i in range(12)]
    capped = rerun_lines(4, many, "e.db", limit=10)
    assert len(capped) == 1 + 2 * 10 + 1
    every = "chaos-eval analyze 4 --db e.db --format json"
    assert capped[-1] == f"  (2 more; every trial's command: {every})"


def test_campaign_exit_code() -> None:
    ok, failed, error = TrialStatus.PASSED, TrialStatus.FAILED, TrialStatus.ERROR
    assert campaign_exit_code(CampaignStatus.FINISHED, [ok, ok]) == ExitCode.OK
    assert campaign_exit_code(CampaignStatus.FINISHED, [ok, failed]) == ExitCode.FAILED
    assert campaign_exit_code(CampaignStatus.FINISHED, [failed, error]) == ExitCode.HARNESS_ERROR
    assert campaign_exit_code(CampaignStatus.ABORTED, [ok]) == ExitCode.HARNESS_ERROR
    assert campaign_exit_code(CampaignStatus.INTERRUPTED, [failed]) == ExitCode.INTERRUPTED


# -- planning and running it again ----------------------------------------------------------


async def test_rerun_is_a_new_one_trial_campaign_and_the_original_is_untouched(
    tmp_path: Path,
) -> None:
    d = doc(parallel=1, max_retries=0)
    keys = [p.key for p, _ in expand(parse_campaign(d, "mem"))]
    Tracker.lose_writes_for = {keys[3]}
    dbp = tmp_path / "eval.db"
    async with await Store.open(dbp) as store:
        cid, _ = await run(store, d)
        before = await store.trials(cid)
        original = await store.campaign(cid)
        assert before[3].status == TrialStatus.FAILED

        plan = await plan_rerun(store, cid, keys[3][:8])
        assert plan.trial == before[3] and plan.planned.key == keys[3]
        assert plan.planned.seed == before[3].seed
        assert plan.subjects == [plan.cfg.subjects[0]]
        new = await create_rerun(store, plan, ["chaos-eval", "rerun", str(cid), keys[3]])
        assert (new.id, new.rerun_of, new.name, new.seed) == (cid + 1, cid, "h", original.seed)
        assert (new.spec_hash, new.spec_json) == (original.spec_hash, original.spec_json)
        Tracker.reset()
        Tracker.lose_writes_for = {keys[3]}
        status = await CampaignRunner(plan.cfg, new, store, NoDocker()).run()  # type: ignore[arg-type]

        assert status == CampaignStatus.FINISHED
        assert Tracker.started == [keys[3]]  # exactly that trial ran, nothing else
        (again,) = await store.trials(new.id)
        same = ("key", "subject", "fault", "params", "target", "repetition", "seed", "ordinal")
        assert all(getattr(again, f) == getattr(before[3], f) for f in same)
        assert again.status == TrialStatus.FAILED  # same seed, same fault, same outcome
        # the original's records are exactly as they were
        assert await store.trials(cid) == before
        assert await store.campaign(cid) == original
        # running the original's file again continues the original, never the rerun
        res = await resolve_campaign(store, parse_campaign(d, "mem"), "mem.yaml", [], new=False)
        assert res.campaign.id == cid and not res.created


async def test_rerun_from_a_spec_whose_file_is_gone(tmp_path: Path) -> None:
    """Only the db is read: campaigns are recorded with a path, never re-read from it."""
    async with await Store.open(tmp_path / "eval.db") as store:
        cid, _ = await run(store, doc(parallel=2))
        c = await store.campaign(cid)
        assert not Path(c.config_path).exists()
        key = (await store.trials(cid))[2].key
        assert (await plan_rerun(store, cid, key)).planned.key == key


async def test_plan_rerun_bad_input(tmp_path: Path) -> None:
    dbp = tmp_path / "eval.db"
    async with await Store.open(dbp) as store:
        cid, _ = await run(store, doc(parallel=2))
        key = (await store.trials(cid))[1].key
        with pytest.raises(CampaignNotFound, match="no campaign with id 9"):
            await plan_rerun(store, 9, key)
        with pytest.raises(TrialNotFound, match=f"campaign {cid} \\(h\\) in .*no trial with key"):
            await plan_rerun(store, cid, "deadbeef")
    # a recorded spec this harness reads differently (a schema change) is refused, not guessed
    raw = sqlite3.connect(dbp)
    raw.execute(
        "UPDATE campaigns SET spec_json = replace(spec_json, '\"parallel\":2', '\"parallel\":1')"
    )
    raw.commit()
    raw.close()
    async with await Store.open(dbp) as store:
        with pytest.raises(StoreError, match="cannot be re-created exactly"):
            await plan_rerun(store, cid, key)
    raw = sqlite3.connect(dbp)
    raw.execute("UPDATE campaigns SET spec_json = '{\"name\": \"h\"}'")
    raw.commit()
    raw.close()
    async with await Store.open(dbp) as store:
        with pytest.raises(ConfigError, match=r"\(campaign 1\): subjects: Field required"):
            await plan_rerun(store, cid, key)


async def test_provenance_note_only_when_the_harness_differs(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "eval.db") as store:
        cid, _ = await run(store, doc(chaos_types=[], parallel=1))
        c = await store.campaign(cid)
    assert provenance_note(c, c) == ""
    note = provenance_note(c, dataclasses.replace(c, id=2, git_sha="f" * 40))
    assert "this re-run runs" in note and "at git ffffffffffff" in note
