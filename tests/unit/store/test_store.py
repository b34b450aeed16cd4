"""The store on real SQLite files: migrations, WAL, transitions, ledger, lease, bad files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from chaos_eval.errors import StoreError
from chaos_eval.outcomes import CampaignStatus, LedgerState, OpOutcome, TrialStatus
from chaos_eval.spec.matrix import PlannedTrial
from chaos_eval.store.access import Access
from chaos_eval.store.store import Store
from chaos_eval.workload import Op


def planned(n: int) -> list[PlannedTrial]:
    return [
        PlannedTrial(
            key=f"k{i}",
            ordinal=i,
            subject="etcd",
            subject_type="etcd",
            fault="noop",
            params="{}",
            target="random",
            repetition=i,
            seed=i,
        )
        for i in range(n)
    ]


async def new_campaign(store: Store, n: int = 3, rerun_of: int | None = None) -> int:
    return await store.create_campaign(
        name="c",
        spec_hash="h",
        spec_json="{}",
        config_path="c.yaml",
        seed=1,
        harness_version="t",
        git_sha="x",
        argv=["eval"],
        trials=planned(n),
        rerun_of=rerun_of,
    )


async def test_migrations_wal_and_reopen(tmp_path: Path) -> None:
    db = tmp_path / "eval.db"
    store = await Store.open(db)
    cid = await new_campaign(store)
    await store.close()
    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert [r[0] for r in raw.execute("SELECT name FROM _migrations")] == [
        "0001_initial",
        "0002_rerun_of",
        "0003_histories",
        "0004_container_logs",
        "0005_campaign_held_closed",
        "0006_shards",
        "0007_read_indexes",
        "0008_trial_order",
        "0009_trial_figures",
        "0010_trial_results",
    ]
    raw.close()
    store = await Store.open(db)  # reopening applies nothing twice
    assert [t.key for t in await store.trials(cid)] == ["k0", "k1", "k2"]
    assert await store.integrity_check() == "ok"
    await store.close()


async def test_a_db_from_before_reruns_is_migrated_in_place(tmp_path: Path) -> None:
    """A db made with only 0001 gains `rerun_of` on open; its campaigns keep their records."""
    from chaos_eval.store.migrations import INITIAL

    db = tmp_path / "eval.db"
    raw = sqlite3.connect(db)
    raw.executescript(INITIAL)
    raw.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    raw.execute("INSERT INTO _migrations VALUES ('0001_initial', 0)")
    raw.execute(
        "INSERT INTO campaigns(uid, name, spec_hash, spec_json, config_path, status, seed,"
        " harness_version, git_sha, argv, created_at, updated_at)"
        " VALUES ('u1', 'old', 'h', '{}', 'c.yaml', 'finished', 1, 't', 'x', '[]', 0, 0)"
    )
    raw.commit()
    raw.close()
    async with await Store.open(db) as store:
        (old,) = await store.campaigns()
        assert (old.name, old.rerun_of) == ("old", None)
        assert (await store.latest_campaign("old")) == old


async def test_latest_campaign_never_names_a_rerun(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "eval.db") as store:
        first = await new_campaign(store)
        rerun = await new_campaign(store, 1, rerun_of=first)
        assert (await store.campaign(rerun)).rerun_of == first
        latest = await store.latest_campaign("c")
        assert latest is not None and latest.id == first


async def test_status_check_constraint_rejects_loose_strings(tmp_path: Path) -> None:
    db = tmp_path / "eval.db"
    store = await Store.open(db)
    await new_campaign(store)
    await store.close()
    raw = sqlite3.connect(db)
    with pytest.raises(sqlite3.IntegrityError):
        raw.execute("UPDATE trials SET status = 'kinda-passed'")
    raw.close()


async def test_trial_lifecycle_and_ops(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "eval.db") as store:
        cid = await new_campaign(store)
        t = (await store.trials(cid))[0]
        assert t.status == TrialStatus.PENDING and t.attempts == 0
        assert await store.record_trial_started(t.id) == 1
        await store.record_ops(t.id, 1, [Op("write", "n1", "a", 0.0, 0.1, OpOutcome.OK)])
        await store.record_trial_finished(
            t.id,
            TrialStatus.PASSED,
            recovery_s=1.5,
            measurements={"x": 1},
            proof={},
            reasons=[],
        )
        t = (await store.trials(cid))[0]
        assert (t.status, t.attempts, t.recovery_s) == (TrialStatus.PASSED, 1, 1.5)
        assert [o.key for o in await store.ops(t.id)] == ["a"]
        # a second attempt starts with no ops of its own; the first attempt's ops stay stored
        assert await store.record_trial_started(t.id) == 2
        assert await store.ops(t.id) == []


async def test_running_trials_become_interrupted(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "eval.db") as store:
        cid = await new_campaign(store)
        ts = await store.trials(cid)
        await store.record_trial_started(ts[0].id)
        await store.record_trial_started(ts[1].id)
        await store.record_trial_finished(
            ts[1].id,
            TrialStatus.FAILED,
            recovery_s=None,
            measurements={},
            proof={},
            reasons=["slow"],
        )
        assert await store.mark_running_interrupted(cid) == 1
        statuses = [t.status for t in await store.trials(cid)]
        assert statuses == [TrialStatus.INTERRUPTED, TrialStatus.FAILED, TrialStatus.PENDING]


async def test_ledger_is_write_ahead_and_closable(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "eval.db") as store:
        cid = await new_campaign(store)
        t = (await store.trials(cid))[0]
        lid = await store.record_fault_planned(
            t.id, kind="latency", description="d", targets=["c1"], undo="[]"
        )
        assert [r.id for r in await store.open_ledger(cid)] == [lid]
        await store.close_ledger(lid, LedgerState.CLEANED)
        assert await store.open_ledger(cid) == []


async def test_lease_refuses_fresh_holder_and_takes_over_stale(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "eval.db") as store:
        cid = await new_campaign(store)
        assert await store.acquire_lease(cid, token="a", pid=1, host="h", stale_after_s=30) is None
        holder = await store.acquire_lease(cid, token="b", pid=2, host="h", stale_after_s=30)
        assert holder is not None and holder.lease_pid == 1
        # with a zero staleness window the lease is stale and is taken over
        assert await store.acquire_lease(cid, token="b", pid=2, host="h", stale_after_s=0) is None
        assert not await store.heartbeat(cid, "a")
        assert await store.heartbeat(cid, "b")
        kinds = [e.kind for e in await store.events(cid)]
        assert "lease_taken_over" in kinds


async def test_campaign_status_and_unknown_id(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "eval.db") as store:
        cid = await new_campaign(store)
        await store.set_campaign_status(cid, CampaignStatus.FINISHED)
        assert (await store.campaign(cid)).finished_at is not None
        from chaos_eval.errors import CampaignNotFound

        with pytest.raises(CampaignNotFound):
            await store.campaign(99)


async def test_corrupt_and_foreign_files_are_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not a usable chaos-eval database"):
        await Store.open(junk)
    foreign = tmp_path / "foreign.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE users (id INTEGER)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="not made by chaos-eval"):
        await Store.open(foreign)
    with pytest.raises(StoreError, match="no such database"):
        await Store.open(tmp_path / "absent.db", Access.WRITE)


async def test_schema_that_does_not_match_the_records_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "eval.db"
    store = await Store.open(db)  # create a current database
    await store.close()
    raw = sqlite3.connect(db)
    raw.execute("ALTER TABLE events DROP COLUMN detail")
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match=r"table events lacks columns \['detail'\]"):
        await Store.open(db)


async def test_a_read_only_store_refuses_writes_and_leaves_the_file(tmp_path: Path) -> None:
    db = tmp_path / "eval.db"
    async with await Store.open(db) as store:
        await store.event(None, "made")
    before = (db.read_bytes(), db.stat().st_mtime_ns)
    async with await Store.open(db, Access.READ) as store:
        assert [e.kind for e in await store.events(0)] == []
        with pytest.raises(StoreError, match="opened read-only"):
            await store.event(None, "must not be written")
    assert (db.read_bytes(), db.stat().st_mtime_ns) == before
