"""Migration 0003 (held, closed) on a database made before it, the atomic status moves,
and the read-only open."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from chaos_eval.errors import StoreError
from chaos_eval.outcomes import CampaignStatus
from chaos_eval.store import migrations
from chaos_eval.store.access import Access
from chaos_eval.store.store import Store
from tests.unit.store.test_store import new_campaign


def old_db(path: Path) -> None:
    """A database exactly as 0001 + 0002 left it, holding one campaign with trials."""
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    for name, sql in migrations.MIGRATIONS[:2]:
        raw.executescript(sql)
        raw.execute("INSERT INTO _migrations VALUES (?, 0)", (name,))
    raw.execute(
        "INSERT INTO campaigns(uid, name, spec_hash, spec_json, config_path, status, seed,"
        " harness_version, git_sha, argv, created_at, updated_at)"
        " VALUES ('u1', 'old', 'h', '{}', 'f', 'interrupted', 1, 'v', 's', '[]', 1, 1)"
    )
    raw.execute(
        "INSERT INTO trials(campaign_id, key, ordinal, subject, subject_type, fault, params,"
        " target, repetition, seed, status) VALUES (1, 'k', 0, 'etcd', 'etcd', 'baseline',"
        " '{}', '', 0, 1, 'pending')"
    )
    raw.commit()
    with pytest.raises(sqlite3.IntegrityError):  # the old CHECK knows no `held`
        raw.execute("UPDATE campaigns SET status = 'held'")
    raw.close()


def test_migration_0003_keeps_rows_and_accepts_held_and_closed(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    old_db(db)
    async def go() -> None:
        async with await Store.open(db) as store:
            before = await store.move_campaign(
                1, CampaignStatus.HELD, allowed=frozenset({CampaignStatus.INTERRUPTED})
            )
            assert before.status == CampaignStatus.INTERRUPTED
            row = await store.campaign(1)
            assert row.status == CampaignStatus.HELD and row.uid == "u1"
            assert [t.key for t in await store.trials(1)] == ["k"]
            await store.set_campaign_status(1, CampaignStatus.CLOSED, "enough")
            assert (await store.campaign(1)).finished_at is not None
            assert await store.integrity_check() == "ok"
            cid = await new_campaign(store)  # ids continue after the rebuild
            assert cid == 2
    import asyncio

    asyncio.run(go())
    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
    assert raw.execute("PRAGMA foreign_keys").fetchone()[0] == 0  # a fresh connection's default
    with pytest.raises(sqlite3.IntegrityError):
        raw.execute("UPDATE campaigns SET status = 'bogus'")
    raw.close()


def test_the_frozen_status_list_matches_the_enum() -> None:
    assert set(migrations.CAMPAIGN_STATUSES_0003) == {s.value for s in CampaignStatus}


async def test_move_refuses_a_status_not_allowed(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "e.db") as store:
        cid = await new_campaign(store)
        await store.set_campaign_status(cid, CampaignStatus.FINISHED)
        before = await store.move_campaign(
            cid, CampaignStatus.HELD, allowed=frozenset({CampaignStatus.RUNNING})
        )
        assert before.status == CampaignStatus.FINISHED
        assert (await store.campaign(cid)).status == CampaignStatus.FINISHED


async def test_end_run_keeps_a_hold_that_landed_meanwhile(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "e.db") as store:
        cid = await new_campaign(store)
        await store.set_campaign_status(cid, CampaignStatus.HELD)
        assert await store.end_campaign_run(cid, CampaignStatus.INTERRUPTED) == "held"
        assert (await store.campaign(cid)).status == CampaignStatus.HELD
        # ... unless everything finished
        assert await store.end_campaign_run(cid, CampaignStatus.FINISHED) == "finished"


async def test_read_only_open_never_creates_or_writes(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    with pytest.raises(StoreError, match="no such database"):
        await Store.open(missing, Access.READ)
    assert not missing.exists()
    db = tmp_path / "old.db"
    old_db(db)
    with pytest.raises(StoreError, match="older chaos-eval"):  # a reader never migrates:
        await Store.open(db, Access.READ)  # it says which command will
    raw = sqlite3.connect(db)  # and the db was not migrated
    assert [r[0] for r in raw.execute("SELECT name FROM _migrations")] == [
        "0001_initial", "0002_rerun_of",
    ]
    raw.close()
    foreign = tmp_path / "foreign.db"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(StoreError, match="not made by chaos-eval"):
        await Store.open(foreign, Access.READ)
