"""eval.db's connection: opening (and migrating) it, its integrity, one serialized writer, reads.

One aiosqlite connection per process, WAL mode, and every write under one asyncio lock in an
explicit `BEGIN IMMEDIATE` transaction, so parallel trials never interleave a state change.
Readers in other processes (`eval status` while a campaign runs) see committed state only.

The verbs over it are the parts eval/store/store.py's `Store` composes (campaigns, trials,
ops, ledger, leases, events), each holding this one connection. They, this module and
eval/store/migrations.py are the only modules with SQL.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Self

import aiosqlite

from chaos_eval.errors import StoreError
from chaos_eval.store.migrations import prepare


class Connection:
    """The connection to one eval.db, shared by every part of the `Store`."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._db = conn
        self.path = path
        self._lock: asyncio.Lock | None = None  # created lazily inside the running loop

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
        try:
            await prepare(conn, path)
        except sqlite3.DatabaseError as e:
            await conn.close()
            raise StoreError(f"{path}: not a usable chaos-eval database ({e})") from None
        except StoreError:
            await conn.close()
            raise
        return cls(conn, path)

    async def close(self) -> None:
        await self._db.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One serialized write transaction: the only way anything is written."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            try:
                await self._settled("BEGIN IMMEDIATE")
                yield self._db
                await self._settled("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    await self._settled("ROLLBACK")
                raise

    async def _settled(self, sql: str) -> None:
        """Run a transaction boundary to completion even if the caller is cancelled meanwhile,
        then re-raise the cancellation: the db thread runs a queued statement anyway, so
        abandoning the await would leave a transaction open that no one ends."""
        step = asyncio.ensure_future(self._db.execute(sql))
        cancelled = False
        while not step.done():
            try:
                await asyncio.shield(step)
            except asyncio.CancelledError:
                cancelled = True
            except Exception:
                break
        if cancelled:
            raise asyncio.CancelledError
        step.result()

    async def rows(self, sql: str, args: Sequence[object] = ()) -> list[sqlite3.Row]:
        """Read committed rows."""
        return list(await self._db.execute_fetchall(sql, args))

    async def integrity_check(self) -> str:
        rows = await self.rows("PRAGMA integrity_check")
        return str(rows[0][0])
