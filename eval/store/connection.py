"""eval.db's connection: opening (and migrating) it, its integrity, one serialized writer, reads.

How it is opened (read-only, write, create) is eval/store/access.py's `Access`; a read-only
connection is SQLite's `mode=ro` and never writes.

One aiosqlite connection per process, WAL mode, and every write under one asyncio lock in an
explicit `BEGIN IMMEDIATE` transaction, so parallel trials never interleave a state change.
Readers in other processes (`eval status` while a campaign runs) see committed state only.

The verbs over it are the parts eval/store/store.py's `Store` composes (campaigns, trials,
ops, ledger, leases, events), each holding this one connection. They, this module and
eval/store/migrations.py are the only modules with SQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Self, TypeVar

import aiosqlite

from chaos_eval.errors import StoreCorrupt, StoreError, StoreWriteFailed
from chaos_eval.store.access import Access
from chaos_eval.store.upgrade import prepare

T = TypeVar("T")


def _uri(path: Path, access: Access) -> str:
    uri = f"{path.absolute().as_uri()}?mode={access.value}"
    return uri + "&immutable=1" if _immutable(path, access) else uri


def _immutable(path: Path, access: Access) -> bool:
    """Read without SQLite's shared-memory file: a reader of a WAL db needs `-shm` next to it,
    which cannot be created in a directory we may not write (a results db handed to another
    user). Then no `-wal` existing means no writer is running (a writer keeps one), so the
    file is read as it is, unlocked."""
    return (
        access is Access.READ
        and not Path(f"{path}-wal").exists()
        and not Path(f"{path}-shm").exists()
        and not os.access(path.parent, os.W_OK)
    )


def _prepare(path: Path, access: Access) -> None:
    """Check (and, for writers, migrate) the file on a plain connection, so a file that
    cannot be opened never reaches aiosqlite's worker thread."""
    try:
        db = sqlite3.connect(_uri(path, access), uri=True, isolation_level=None, timeout=30)
    except sqlite3.Error as e:
        raise StoreError(f"{path}: cannot open database: {e}") from None
    try:
        prepare(db, path, access)
    except sqlite3.DatabaseError as e:
        raise StoreError(f"{path}: not a usable chaos-eval database ({e})") from None
    finally:
        db.close()


async def _connect(path: Path, access: Access) -> aiosqlite.Connection:
    conn = aiosqlite.connect(_uri(path, access), uri=True, isolation_level=None, timeout=30)
    try:
        return await conn
    except sqlite3.Error as e:
        # aiosqlite has queued the stop of its worker thread; let the thread finish while
        # this loop still runs, or it reports "Event loop is closed" after we have exited
        thread = getattr(conn, "_thread", None)
        if thread is not None:
            with contextlib.suppress(RuntimeError):
                await asyncio.to_thread(thread.join, 5)
        raise StoreError(f"{path}: cannot open database: {e}") from None


class Connection:
    """The connection to one eval.db, shared by every part of the `Store`."""

    def __init__(self, conn: aiosqlite.Connection, path: Path, access: Access) -> None:
        self._db = conn
        self.path = path
        self.access = access
        self._lock: asyncio.Lock | None = None  # created lazily inside the running loop

    @classmethod
    async def open(cls, path: Path, access: Access = Access.CREATE) -> Self:
        """Open eval.db as `access` says (eval/store/access.py). A missing file (READ, WRITE),
        an empty, corrupt or foreign one raises StoreError and is left as it was."""
        if path.is_dir():
            raise StoreError(f"{path}: is a directory, not a database file")
        if access is not Access.CREATE and not path.exists():
            raise StoreError(f"{path}: no such database (run a campaign first, or pass --db)")
        await asyncio.to_thread(_prepare, path, access)
        conn = await _connect(path, access)
        conn.row_factory = sqlite3.Row
        try:
            await conn.execute("PRAGMA busy_timeout = 30000")
            await conn.execute("PRAGMA foreign_keys = ON")
            if access.writes:
                await conn.execute("PRAGMA synchronous = NORMAL")
            else:
                await conn.execute("PRAGMA query_only = ON")
        except sqlite3.Error as e:
            await conn.close()
            raise StoreError(f"{path}: not a usable chaos-eval database ({e})") from None
        return cls(conn, path, access)

    async def close(self) -> None:
        await self._db.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One serialized write transaction: the only way anything is written."""
        if not self.access.writes:  # a read command reached a write: a bug, said plainly
            raise StoreError(f"{self.path}: opened read-only; this command may not write to it")
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            try:
                await self._settled("BEGIN IMMEDIATE")
                yield self._db
                await self._settled("COMMIT")
            except BaseException as e:
                if self._db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):  # the write's error says more
                        await self._settled("ROLLBACK")
                if isinstance(e, sqlite3.Error):  # a full disk, an I/O error, a lock held
                    raise StoreWriteFailed(f"{self.path}: cannot write ({e})") from None
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
        """Read committed rows. What SQLite cannot read (a damaged file, a number too large
        for it) is a StoreError naming the file."""
        try:
            return list(await self._db.execute_fetchall(sql, args))
        except OverflowError:
            raise StoreError(
                f"{self.path}: a number in {list(args)} is too large for SQLite"
            ) from None
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: cannot read ({e})") from None

    async def read(
        self, sql: str, args: Sequence[object], record: Callable[[sqlite3.Row], T]
    ) -> list[T]:
        """Rows converted to records; a row the converter finds corrupt (eval/store/records.py)
        is a StoreCorrupt naming the file, the table and the row."""
        rows = await self.rows(sql, args)
        try:
            return [record(r) for r in rows]
        except StoreCorrupt as e:
            raise StoreCorrupt(
                f"{self.path}: corrupt row: {e} (the database was damaged or edited by hand)"
            ) from None

    async def stream(
        self, sql: str, args: Sequence[object], record: Callable[[sqlite3.Row], T],
        size: int = 2000,
    ) -> AsyncGenerator[list[T], None]:
        """`read`, a chunk of `size` records at a time from one cursor: what a read of 100k
        wide rows uses, so that no more than a chunk of rows is held at once."""
        try:
            cursor = await self._db.execute(sql, args)
            try:
                while rows := await cursor.fetchmany(size):
                    try:
                        chunk = [record(r) for r in rows]
                    except StoreCorrupt as e:
                        raise StoreCorrupt(f"{self.path}: corrupt row: {e} (the database was "
                                           "damaged or edited by hand)") from None
                    yield chunk
            finally:
                await cursor.close()
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: cannot read ({e})") from None

    async def integrity_check(self) -> str:
        rows = await self.rows("PRAGMA integrity_check")
        return str(rows[0][0])

    async def quick_check(self) -> str:
        """SQLite's quick_check: "ok", or its first finding (a damaged file)."""
        rows = await self.rows("PRAGMA quick_check")
        return str(rows[0][0]) if rows else "no answer"
