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
from urllib.parse import quote

import aiosqlite

from chaos_eval.errors import StoreError
from chaos_eval.store.migrations import check_read_only, prepare


class Connection:
    """The connection to one eval.db, shared by every part of the `Store`."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._db = conn
        self.path = path
        self._lock: asyncio.Lock | None = None  # created lazily inside the running loop

    @classmethod
    async def open(cls, path: Path, *, create: bool = True, read_only: bool = False) -> Self:
        """Open (and migrate) eval.db. A corrupt or foreign file raises StoreError.
        `read_only`: never create, migrate or write it (SQLite's mode=ro); writes then fail."""
        if read_only:
            return await cls._open_read_only(path)
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

    @classmethod
    async def _open_read_only(cls, path: Path) -> Self:
        if not path.is_file():
            raise StoreError(f"{path}: no such database (run a campaign first, or pass --db)")
        try:
            uri = f"file:{quote(str(path.resolve()))}?mode=ro"
            conn = await aiosqlite.connect(uri, uri=True, isolation_level=None, timeout=30)
        except (sqlite3.Error, OSError) as e:
            raise StoreError(f"{path}: cannot open database: {e}") from None
        conn.row_factory = sqlite3.Row
        try:
            await check_read_only(conn, path)
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
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    async def rows(self, sql: str, args: Sequence[object] = ()) -> list[sqlite3.Row]:
        """Read committed rows."""
        return list(await self._db.execute_fetchall(sql, args))

    async def integrity_check(self) -> str:
        rows = await self.rows("PRAGMA integrity_check")
        return str(rows[0][0])
