"""The campaigns part of the Store: creating a campaign with its planned trials, reading
campaigns back, and moving a campaign's status."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Sequence

import aiosqlite

from chaos_eval.errors import CampaignNotFound
from chaos_eval.outcomes import CampaignStatus, TrialStatus
from chaos_eval.spec.matrix import PlannedTrial
from chaos_eval.store.connection import Connection
from chaos_eval.store.records import CampaignRow, campaign_row

SQLITE_MAX_INT = 2**63 - 1  # the largest INTEGER SQLite stores


class Campaigns:
    """The `campaigns` table (and the planned `trials` a new campaign starts with)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def create(
        self,
        *,
        name: str,
        spec_hash: str,
        spec_json: str,
        config_path: str,
        seed: int,
        harness_version: str,
        git_sha: str,
        argv: Sequence[str],
        trials: Iterable[PlannedTrial],
        rerun_of: int | None = None,
        shard: str | None = None,
    ) -> int:
        """A new campaign, `running`, with its planned trials `pending`. `rerun_of`: the
        campaign one of whose trials this one re-runs (it is then never continued by name);
        `shard`: `I/N` when the trials are one shard's (chaos_eval.spec.shard)."""
        now = time.time()
        async with self._conn.transaction() as db:
            cur = await db.execute(
                "INSERT INTO campaigns(uid, name, spec_hash, spec_json, config_path, status, seed,"
                " harness_version, git_sha, argv, created_at, updated_at, rerun_of, shard)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    uuid.uuid4().hex[:12],
                    name,
                    spec_hash,
                    spec_json,
                    config_path,
                    CampaignStatus.RUNNING.value,
                    seed,
                    harness_version,
                    git_sha,
                    json.dumps(list(argv)),
                    now,
                    now,
                    rerun_of,
                    shard,
                ),
            )
            cid = int(cur.lastrowid or 0)
            await db.executemany(
                "INSERT INTO trials(campaign_id, key, ordinal, subject, subject_type, fault,"
                " params, target, repetition, seed, status, shard)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        cid,
                        t.key,
                        t.ordinal,
                        t.subject,
                        t.subject_type,
                        t.fault,
                        t.params,
                        t.target,
                        t.repetition,
                        t.seed,
                        TrialStatus.PENDING.value,
                        shard,
                    )
                    for t in trials
                ],
            )
            await db.execute(
                "INSERT INTO events(campaign_id, at, kind, detail) VALUES (?,?,?,?)",
                (cid, now, "campaign_created", name),
            )
        return cid

    async def get(self, campaign_id: int) -> CampaignRow:
        missing = CampaignNotFound(f"no campaign with id {campaign_id} in {self._conn.path}")
        if not 0 < campaign_id <= SQLITE_MAX_INT:  # no row can have it; SQLite cannot hold it
            raise missing
        rows = await self._conn.read(
            "SELECT * FROM campaigns WHERE id = ?", (campaign_id,), campaign_row
        )
        if not rows:
            raise missing
        return rows[0]

    async def all(self) -> list[CampaignRow]:
        return await self._conn.read("SELECT * FROM campaigns ORDER BY id", (), campaign_row)

    async def latest(self, name: str, shard: str | None = None) -> CampaignRow | None:
        """The newest campaign of that name (and shard: None for the whole campaign) that a
        run of its file may continue (a rerun of one trial is not one)."""
        rows = await self._conn.read(
            "SELECT * FROM campaigns WHERE name = ? AND shard IS ? AND rerun_of IS NULL"
            " ORDER BY id DESC LIMIT 1",
            (name, shard),
            campaign_row,
        )
        return rows[0] if rows else None

    async def set_status(
        self, campaign_id: int, status: CampaignStatus, reason: str = ""
    ) -> None:
        async with self._conn.transaction() as db:
            await _write_status(db, campaign_id, status, reason)

    async def move(
        self,
        campaign_id: int,
        to: CampaignStatus,
        *,
        allowed: frozenset[CampaignStatus],
        reason: str = "",
    ) -> CampaignRow:
        """Move the campaign to `to` if its status is one of `allowed`, atomically. Returns
        the row as it was before: it moved iff that row's status is in `allowed`."""
        async with self._conn.transaction() as db:
            rows = list(
                await db.execute_fetchall("SELECT * FROM campaigns WHERE id = ?", (campaign_id,))
            )
            if not rows:
                raise CampaignNotFound(f"no campaign with id {campaign_id} in {self._conn.path}")
            before = campaign_row(rows[0])
            if before.status in allowed:
                await _write_status(db, campaign_id, to, reason)
        return before

    async def end_run(
        self, campaign_id: int, status: CampaignStatus, reason: str = ""
    ) -> CampaignStatus:
        """A runner's last word on its campaign: `status`, except that a hold that landed
        while it ran stays `held` unless every trial finished, and `closed` stays closed.
        Returns the status the campaign has after it."""
        async with self._conn.transaction() as db:
            sql = "SELECT status FROM campaigns WHERE id = ?"
            rows = list(await db.execute_fetchall(sql, (campaign_id,)))
            now = CampaignStatus(rows[0][0]) if rows else None
            if now == CampaignStatus.CLOSED:  # closed stays closed
                return now
            if now == CampaignStatus.HELD and status != CampaignStatus.FINISHED:
                status, reason = CampaignStatus.HELD, "held: running trials finished, none started"
            await _write_status(db, campaign_id, status, reason)
        return status


async def _write_status(
    db: aiosqlite.Connection, campaign_id: int, status: CampaignStatus, reason: str
) -> None:
    now = time.time()
    finished = now if status.is_over else None
    await db.execute(
        "UPDATE campaigns SET status = ?, reason = ?, updated_at = ?, finished_at = ?"
        " WHERE id = ?",
        (status.value, reason, now, finished, campaign_id),
    )
    await db.execute(
        "INSERT INTO events(campaign_id, at, kind, detail) VALUES (?,?,?,?)",
        (campaign_id, now, f"campaign_{status.value}", reason),
    )
