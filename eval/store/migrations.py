"""Named schema migrations for eval.db, applied in order, each in one transaction
together with its row in `_migrations`; then the tables are checked against the records.
Never edit a shipped migration; add a new one."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import aiosqlite

from chaos_eval.errors import StoreError
from chaos_eval.outcomes import CampaignStatus, LedgerState, OpOutcome, TrialPhase, TrialStatus
from chaos_eval.store.records import CampaignRow, EventRow, LedgerRow, TrialRow


def _check(column: str, values: type[object]) -> str:
    allowed = ", ".join(f"'{v.value}'" for v in values)  # type: ignore[attr-defined]
    return f"CHECK ({column} IN ({allowed}))"


INITIAL = f"""
CREATE TABLE campaigns (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    uid             TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    spec_hash       TEXT NOT NULL,
    spec_json       TEXT NOT NULL,
    config_path     TEXT NOT NULL,
    status          TEXT NOT NULL {_check("status", CampaignStatus)},
    reason          TEXT NOT NULL DEFAULT '',
    seed            INTEGER NOT NULL,
    harness_version TEXT NOT NULL,
    git_sha         TEXT NOT NULL,
    argv            TEXT NOT NULL,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL,
    finished_at     REAL,
    lease_token     TEXT,
    lease_pid       INTEGER,
    lease_host      TEXT,
    lease_heartbeat REAL
);
CREATE INDEX campaigns_name ON campaigns(name, spec_hash);

CREATE TABLE trials (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id   INTEGER NOT NULL REFERENCES campaigns(id),
    key           TEXT NOT NULL,
    ordinal       INTEGER NOT NULL,
    subject       TEXT NOT NULL,
    subject_type  TEXT NOT NULL,
    fault         TEXT NOT NULL,
    params        TEXT NOT NULL,
    target        TEXT NOT NULL,
    repetition    INTEGER NOT NULL,
    seed          INTEGER NOT NULL,
    status        TEXT NOT NULL {_check("status", TrialStatus)},
    phase         TEXT {_check("phase", TrialPhase)},
    attempts      INTEGER NOT NULL DEFAULT 0,
    started_at    REAL,
    finished_at   REAL,
    targets       TEXT NOT NULL DEFAULT '[]',
    recovery_s    REAL,
    measurements  TEXT NOT NULL DEFAULT '{{}}',
    proof         TEXT NOT NULL DEFAULT '{{}}',
    reasons       TEXT NOT NULL DEFAULT '[]',
    error         TEXT NOT NULL DEFAULT '',
    UNIQUE (campaign_id, key)
);

CREATE TABLE fault_ledger (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    trial_id    INTEGER NOT NULL REFERENCES trials(id),
    kind        TEXT NOT NULL,
    description TEXT NOT NULL,
    targets     TEXT NOT NULL,
    undo        TEXT NOT NULL,
    state       TEXT NOT NULL {_check("state", LedgerState)},
    opened_at   REAL NOT NULL,
    closed_at   REAL
);
CREATE INDEX fault_ledger_open ON fault_ledger(state);

CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id INTEGER REFERENCES campaigns(id),
    trial_id    INTEGER REFERENCES trials(id),
    at          REAL NOT NULL,
    kind        TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT ''
);

CREATE TABLE ops (
    trial_id INTEGER NOT NULL REFERENCES trials(id),
    attempt  INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    node     TEXT NOT NULL,
    key      TEXT NOT NULL,
    start    REAL NOT NULL,
    end      REAL NOT NULL,
    outcome  TEXT NOT NULL {_check("outcome", OpOutcome)},
    error    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX ops_trial ON ops(trial_id, attempt);
"""

# A campaign made by `chaos-eval rerun` re-runs one trial of the campaign it names: its own
# records, never continued by `run campaign FILE` (which looks for a campaign of that name).
RERUN_OF = "ALTER TABLE campaigns ADD COLUMN rerun_of INTEGER REFERENCES campaigns(id)"

# Reads at scale (100k trials, ~1.3M events): `status` asks whether a flag event exists,
# the journal is read per campaign and per trial, the ledger per trial.
READ_INDEXES = """
CREATE INDEX events_campaign ON events(campaign_id, kind);
CREATE INDEX events_trial ON events(trial_id);
CREATE INDEX fault_ledger_trial ON fault_ledger(trial_id)
"""

# (name, sql) in application order.
MIGRATIONS: tuple[tuple[str, str], ...] = (
    ("0001_initial", INITIAL),
    ("0002_rerun_of", RERUN_OF),
    ("0003_read_indexes", READ_INDEXES),
)


async def prepare(db: aiosqlite.Connection, path: Path) -> None:
    """Set the connection's pragmas, refuse a foreign or newer database, apply pending
    migrations, and check every table has the columns its record expects."""
    await db.execute("PRAGMA busy_timeout = 30000")
    tables = {
        r[0]
        for r in await db.execute_fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    if tables and "_migrations" not in tables:
        raise StoreError(
            f"{path}: this SQLite file was not made by chaos-eval "
            f"(it has tables {sorted(tables)[:5]} but no _migrations); refusing to touch it"
        )
    await db.execute("PRAGMA journal_mode = WAL")
    await db.execute("PRAGMA foreign_keys = ON")
    await db.execute("PRAGMA synchronous = NORMAL")
    await db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL)"
    )
    done = {r[0] for r in await db.execute_fetchall("SELECT name FROM _migrations")}
    known = {name for name, _ in MIGRATIONS}
    if done - known:
        raise StoreError(f"{path}: made by a newer chaos-eval (migrations {sorted(done - known)})")
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        await db.execute("BEGIN IMMEDIATE")
        try:
            for stmt in (s.strip() for s in sql.split(";")):
                if stmt:
                    await db.execute(stmt)
            await db.execute(
                "INSERT INTO _migrations(name, applied_at) VALUES (?, ?)", (name, time.time())
            )
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
    await verify_schema(db, path)


async def verify_schema(db: aiosqlite.Connection, path: Path) -> None:
    """The tables must have the columns the records expect: a db whose _migrations says it is
    current but whose tables differ (hand-edited, or from a development build) gets a clear
    error instead of a traceback later."""
    for table, record in (
        ("campaigns", CampaignRow),
        ("trials", TrialRow),
        ("fault_ledger", LedgerRow),
        ("events", EventRow),
    ):
        rows = await db.execute_fetchall(f"PRAGMA table_info({table})")
        have = {str(r[1]) for r in rows}
        want = {f.name for f in dataclasses.fields(record)}
        if want - have:
            raise StoreError(
                f"{path}: table {table} lacks columns {sorted(want - have)}; this database "
                "does not match this chaos-eval version"
            )
