"""One shard's db, read for `merge`: opened as every read command opens a db (Access.READ:
`mode=ro`, never migrated), checked, loaded.

A shard db must be a chaos-eval db of this schema version (what opening with Access.READ
checks: eval/store/upgrade.py), pass SQLite's quick_check, and hold exactly one shard
campaign (`run campaign FILE --shard I/N`). Anything else is refused with one line naming the
shard file and why. Nothing here writes: the file, its -wal and its -shm are left as they were.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos_eval.errors import StoreError
from chaos_eval.store.access import Access
from chaos_eval.store.connection import Connection
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


async def _rows(db: Connection, sql: str, args: tuple[Any, ...] = ()) -> list[Row]:
    return [dict(r) for r in await db.rows(sql, args)]


async def load_shard(path: Path) -> ShardSource:
    """Read one shard db, refusing (StoreError, naming the file and why) what merge must not
    take. Opened as every read command opens a db (Access.READ: eval/store/upgrade.py checks
    it is a chaos-eval db of this schema version, with the columns the records read)."""
    if not path.is_file():
        raise StoreError(f"{path}: no such shard database")
    try:
        db = await Connection.open(path, Access.READ)
    except StoreError as e:
        raise StoreError(f"shard {e}") from None
    try:
        return await _load(db, path)
    finally:
        await db.close()


async def _load(db: Connection, path: Path) -> ShardSource:
    check = await db.quick_check()
    if check != "ok":
        raise StoreError(f"shard {path}: the database is damaged (quick_check: {check})")
    shards = await db.read(
        "SELECT * FROM campaigns WHERE shard IS NOT NULL AND rerun_of IS NULL ORDER BY id",
        (),
        campaign_row,
    )
    if len(shards) != 1:
        raise StoreError(
            f"shard {path}: holds {len(shards)} shard campaigns; merge takes a db made by "
            "exactly one `chaos-eval run campaign FILE --shard I/N`"
        )
    campaign = shards[0]
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
