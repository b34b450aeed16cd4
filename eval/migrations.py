"""Named schema migrations for eval.db, applied in order, each in one transaction
together with its row in `_migrations`. Never edit a shipped migration; add a new one."""

from __future__ import annotations

from eval.outcomes import CampaignStatus, LedgerState, OpOutcome, TrialPhase, TrialStatus


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

# (name, sql) in application order.
MIGRATIONS: tuple[tuple[str, str], ...] = (("0001_initial", INITIAL),)
