"""eval.db's connection: opening (and migrating) it, one serialized writer, reads.

One aiosqlite connection per process, WAL mode, and every write under one asyncio lock in an
explicit `BEGIN IMMEDIATE` transaction, so parallel trials never interleave a state change.
Readers in other processes (`eval status` while a campaign runs) see committed state only.

The verbs over it are eval/store/store.py's `Store`, whose lease and fault ledger are in
eval/store/recovery.py. These three and eval/store/migrations.py are the only modules with SQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Self

import aiosqlite

from eval.errors import StoreError
from eval.outcomes import CampaignStatus, LedgerState, TrialPhase, TrialStatus
from eval.store.migrations import prepare
from eval.store.records import CampaignRow, LedgerRow, TrialRow

# -- rows to records --------------------------------------------------------------------------


def campaign_row(r: sqlite3.Row) -> CampaignRow:
    d = dict(r)
    d["status"] = CampaignStatus(d["status"])
    return CampaignRow(**d)


def trial_row(r: sqlite3.Row) -> TrialRow:
    d = dict(r)
    d["status"] = TrialStatus(d["status"])
    d["phase"] = TrialPhase(d["phase"]) if d["phase"] else None
    return TrialRow(**d)


def ledger_row(r: sqlite3.Row) -> LedgerRow:
    d = dict(r)
    d["state"] = LedgerState(d["state"])
    return LedgerRow(**d)


class Database:
    """The connection to one eval.db; `Store` adds the verbs."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._db = conn
        self.path = path
        self._lock: Any = None  # created lazily inside the running loop

    # -- opening ------------------------------------------------------------------------

    @classmethod
    async def open(cls, path: Path, *, create: bool = True) -> Self:
        """Open (and migrate) eval.db. A corrupt or foreign file raises StoreError."""
        if not create and not path.exists():
            raise StoreError(f"{path}: no such database (run a campaign first, or pass --db)")
        if path.exists() and path.is_dir():
            raise StoreError(f"{path}: is a directory, not a database file")
        try:
            conn = await aiosqlite.connect(str(path), isolation_level=None, timeout=30)
        except (sqlite3.Error, OSError) as e:
            raise StoreError(f"{path}: cannot open database: {e}") from None
        conn.row_factory = sqlite3.Row
        store = cls(conn, path)
        try:
            await store._prepare()
        except sqlite3.DatabaseError as e:
            await conn.close()
            raise StoreError(f"{path}: not a usable chaos-eval database ({e})") from None
        except StoreError:
            await conn.close()
            raise
        return store

    async def _prepare(self) -> None:
        await prepare(self._db, self.path)

    async def close(self) -> None:
        await self._db.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[aiosqlite.Connection]:
        """One serialized write transaction."""
        import asyncio

        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    async def _all(self, sql: str, args: Sequence[object] = ()) -> list[sqlite3.Row]:
        return list(await self._db.execute_fetchall(sql, args))

    async def integrity_check(self) -> str:
        rows = await self._all("PRAGMA integrity_check")
        return str(rows[0][0])
