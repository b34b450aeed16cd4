"""Opening eval.db: refuse what this access may not use, apply pending migrations (writers
only), and check every table holds the columns its record reads. The migrations
themselves, as data, are eval/store/migrations.py."""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from pathlib import Path

from chaos_eval.errors import StoreError
from chaos_eval.store.access import Access
from chaos_eval.store.figures import sql_figures
from chaos_eval.store.migrations import MIGRATIONS, READ_OPTIONAL, REBUILDS
from chaos_eval.store.packed_figures import sql_f64, sql_skeleton
from chaos_eval.store.records import CampaignRow, EventRow, LedgerRow, OpRow, TrialRow


def prepare(db: sqlite3.Connection, path: Path, access: Access) -> None:
    """Refuse what is not a chaos-eval db this access may use, before anything is set on it;
    then (writers only) switch to WAL and apply pending migrations; then check every table
    has the columns its record expects. A READ connection is never written to."""
    db.execute("PRAGMA busy_timeout = 30000")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables and access is not Access.CREATE:
        empty = "an empty file" if path.stat().st_size == 0 else "an SQLite file with no tables"
        raise StoreError(
            f"{path}: {empty}, not a chaos-eval database (no campaign was ever run into it); "
            "left as it is"
        )
    if tables and "_migrations" not in tables:
        raise StoreError(
            f"{path}: this SQLite file was not made by chaos-eval "
            f"(it has tables {sorted(tables)[:5]} but no _migrations); refusing to touch it"
        )
    done = (
        {str(r[0]) for r in db.execute("SELECT name FROM _migrations")} if tables else set()
    )
    known = [name for name, _ in MIGRATIONS]
    if done - set(known):
        newer = sorted(done - set(known))
        raise StoreError(f"{path}: made by a newer chaos-eval (migrations {newer})")
    pending = [(name, sql) for name, sql in MIGRATIONS if name not in done]
    needed = [name for name, _ in pending if name not in READ_OPTIONAL]
    if needed and not access.writes:
        raise StoreError(
            f"{path}: written by an older chaos-eval (migrations {needed} not "
            "applied); read commands never change a db: `chaos-eval resume ID` or `run "
            "campaign` migrates it"
        )
    if access.writes:  # a reader reads what is there (READ_OPTIONAL: only slower without it)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL)"
        )
        for name, sql in pending:
            _apply(db, path, name, sql)
    verify_schema(db, path)


def _apply(db: sqlite3.Connection, path: Path, name: str, sql: str) -> None:
    """One migration and its `_migrations` row in one transaction. A table rebuild runs with
    foreign keys off (a no-op inside a transaction, so set before it) and is checked before
    the commit."""
    rebuild = name in REBUILDS
    db.create_function("chaos_figures", 1, sql_figures, deterministic=True)  # 0009's backfill
    db.create_function("chaos_figures_skeleton", 1, sql_skeleton, deterministic=True)  # 0010's
    db.create_function("chaos_figures_f64", 1, sql_f64, deterministic=True)
    if rebuild:
        db.execute("PRAGMA foreign_keys = OFF")
    db.execute("BEGIN IMMEDIATE")
    try:
        for stmt in (s.strip() for s in sql.split(";")):
            if stmt:
                db.execute(stmt)
        if rebuild and db.execute("PRAGMA foreign_key_check").fetchall():
            raise StoreError(f"{path}: migration {name} would break foreign keys; not applied")
        db.execute(
            "INSERT INTO _migrations(name, applied_at) VALUES (?, ?)", (name, time.time())
        )
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    finally:
        if rebuild:
            db.execute("PRAGMA foreign_keys = ON")


# table -> the columns read from it (every field of its record, and what ops are keyed by)
SCHEMA: dict[str, frozenset[str]] = {
    "campaigns": frozenset(f.name for f in dataclasses.fields(CampaignRow)),
    "trials": frozenset(f.name for f in dataclasses.fields(TrialRow)),
    "fault_ledger": frozenset(f.name for f in dataclasses.fields(LedgerRow)),
    "events": frozenset(f.name for f in dataclasses.fields(EventRow)),
    "ops": frozenset({"trial_id", "attempt", *(f.name for f in dataclasses.fields(OpRow))}),
}


def verify_schema(db: sqlite3.Connection, path: Path) -> None:
    """The tables must exist and have the columns the records expect: a db whose _migrations
    says it is current but whose tables differ (hand-edited, or from a development build) gets
    a clear error instead of a traceback later. Extra columns are ignored."""
    for table, want in SCHEMA.items():
        have = {str(r[1]) for r in db.execute(f"PRAGMA table_info({table})")}
        if not have:
            raise StoreError(
                f"{path}: table {table} is missing; this database is damaged or does not "
                "match this chaos-eval version"
            )
        if want - have:
            raise StoreError(
                f"{path}: table {table} lacks columns {sorted(want - have)}; this database "
                "does not match this chaos-eval version"
            )
