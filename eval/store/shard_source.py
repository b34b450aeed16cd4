"""One shard's db, read for `merge`: opened read-only (`file:...?mode=ro`), checked, loaded.

A shard db must be a chaos-eval db of this schema version (the same named migrations, no
more, no fewer), pass SQLite's quick_check, and hold exactly one shard campaign (`run
campaign FILE --shard I/N`). Anything else is refused with one line naming the file. Nothing
here writes: the file, its -wal and its -shm are left as they were.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiosqlite

from chaos_eval.errors import StoreError
from chaos_eval.store.migrations import MIGRATIONS
from chaos_eval.store.records import CampaignRow, campaign_row

Row = dict[str, Any]


@dataclass(frozen=True)
class ShardSource:
    """Everything `merge` takes from one shard db, keyed by the source's own ids."""

    path: Path
    campaign: CampaignRow
    trials: list[Row]
    ops: dict[int, list[Row]]  # source trial id -> its ops (every attempt)
    ledger: dict[int, list[Row]]  # source trial id -> its ledger rows
    events: list[Row]  # the campaign's events, by id
    histories: dict[int, list[Row]]  # source trial id -> its register histories (per attempt)
    logs: dict[int, list[Row]]  # source trial id -> its captured container logs

    @property
    def shard(self) -> str:
        return self.campaign.shard or ""


def read_only_uri(path: Path) -> str:
    return f"file:{quote(str(path.resolve()))}?mode=ro"


async def _rows(db: aiosqlite.Connection, sql: str, args: tuple[Any, ...] = ()) -> list[Row]:
    return [dict(r) for r in await db.execute_fetchall(sql, args)]


async def load_shard(path: Path) -> ShardSource:
    """Read one shard db, refusing (StoreError) what merge must not take."""
    if not path.is_file():
        raise StoreError(f"{path}: no such shard database")
    try:
        db = await aiosqlite.connect(read_only_uri(path), uri=True, isolation_level=None)
    except (sqlite3.Error, OSError) as e:
        raise StoreError(f"{path}: cannot open read-only: {e}") from None
    db.row_factory = sqlite3.Row
    try:
        return await _load(db, path)
    except sqlite3.DatabaseError as e:
        raise StoreError(f"{path}: not a usable chaos-eval database ({e})") from None
    finally:
        await db.close()


async def _load(db: aiosqlite.Connection, path: Path) -> ShardSource:
    check = await _rows(db, "PRAGMA quick_check")
    if not check or next(iter(check[0].values())) != "ok":
        raise StoreError(f"{path}: the database is damaged (quick_check failed)")
    tables = {r["name"] for r in await _rows(db, "SELECT name FROM sqlite_master")}
    if "_migrations" not in tables:
        raise StoreError(f"{path}: not a chaos-eval database (no _migrations table)")
    done = {r["name"] for r in await _rows(db, "SELECT name FROM _migrations")}
    known = {name for name, _ in MIGRATIONS}
    if done != known:
        raise StoreError(
            f"{path}: schema version differs from this chaos-eval's "
            f"(migrations {sorted(done ^ known)} differ); merge shards of one version"
        )
    shards = list(
        await db.execute_fetchall(
            "SELECT * FROM campaigns WHERE shard IS NOT NULL AND rerun_of IS NULL ORDER BY id"
        )
    )
    if len(shards) != 1:
        raise StoreError(
            f"{path}: holds {len(shards)} shard campaigns; merge takes a db made by exactly "
            "one `chaos-eval run campaign FILE --shard I/N`"
        )
    campaign = campaign_row(shards[0])
    cid = campaign.id
    trials = await _rows(db, "SELECT * FROM trials WHERE campaign_id = ? ORDER BY id", (cid,))
    ops: dict[int, list[Row]] = {}
    for r in await _rows(
        db,
        "SELECT ops.* FROM ops JOIN trials ON trials.id = ops.trial_id"
        " WHERE trials.campaign_id = ? ORDER BY ops.trial_id, ops.attempt, ops.rowid",
        (cid,),
    ):
        ops.setdefault(int(r["trial_id"]), []).append(r)
    ledger: dict[int, list[Row]] = {}
    for r in await _rows(
        db, "SELECT * FROM fault_ledger WHERE campaign_id = ? ORDER BY id", (cid,)
    ):
        ledger.setdefault(int(r["trial_id"]), []).append(r)
    events = await _rows(db, "SELECT * FROM events WHERE campaign_id = ? ORDER BY id", (cid,))
    per_trial = " JOIN trials ON trials.id = {t}.trial_id WHERE trials.campaign_id = ?"
    histories: dict[int, list[Row]] = {}
    for r in await _rows(db, "SELECT histories.* FROM histories" + per_trial.format(t="histories")
                         + " ORDER BY histories.trial_id, histories.attempt", (cid,)):
        histories.setdefault(int(r["trial_id"]), []).append(r)
    logs: dict[int, list[Row]] = {}
    for r in await _rows(db, "SELECT container_logs.* FROM container_logs"
                         + per_trial.format(t="container_logs")
                         + " ORDER BY container_logs.trial_id, container_logs.attempt", (cid,)):
        logs.setdefault(int(r["trial_id"]), []).append(r)
    return ShardSource(path, campaign, trials, ops, ledger, events, histories, logs)
