"""The events part of the Store: the campaign's journal (what happened, when), written by
every transition and read by `eval status` and the tests."""

from __future__ import annotations

import time

from chaos_eval.store.connection import Connection
from chaos_eval.store.records import EventRow, event_row


class Events:
    """The `events` table."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def record(
        self, campaign_id: int | None, kind: str, detail: str = "", trial_id: int | None = None
    ) -> None:
        async with self._conn.transaction() as db:
            await db.execute(
                "INSERT INTO events(campaign_id, trial_id, at, kind, detail) VALUES (?,?,?,?,?)",
                (campaign_id, trial_id, time.time(), kind, detail),
            )

    async def record_once(self, campaign_id: int, kind: str, episode: str, detail: str) -> bool:
        """Record `kind` with detail `<episode> | <detail>` unless one of that episode exists
        (checked and written in one transaction); True if this call recorded it."""
        async with self._conn.transaction() as db:
            rows = list(await db.execute_fetchall(
                "SELECT 1 FROM events WHERE campaign_id = ? AND kind = ? AND substr(detail, 1, ?)"
                " = ? LIMIT 1", (campaign_id, kind, len(episode) + 3, f"{episode} | "),
            ))
            if rows:
                return False
            await db.execute(
                "INSERT INTO events(campaign_id, at, kind, detail) VALUES (?,?,?,?)",
                (campaign_id, time.time(), kind, f"{episode} | {detail}"),
            )
        return True

    async def last_progress(self, campaign_id: int) -> dict[int, float]:
        """trial id -> when it last started or crossed a phase boundary (what a stuck trial
        stops doing)."""
        rows = await self._conn.rows(
            "SELECT trial_id, MAX(at) FROM events WHERE campaign_id = ? AND trial_id IS NOT NULL"
            " AND (kind = 'trial_started' OR kind LIKE 'phase_%') GROUP BY trial_id",
            (campaign_id,),
        )
        return {int(r[0]): float(r[1]) for r in rows}

    async def of_campaign(self, campaign_id: int, kind: str | None = None) -> list[EventRow]:
        sql = "SELECT * FROM events WHERE campaign_id = ?"
        args: list[object] = [campaign_id]
        if kind:
            sql += " AND kind = ?"
            args.append(kind)
        return await self._conn.read(sql + " ORDER BY id", args, event_row)
