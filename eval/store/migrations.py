"""Named schema migrations for eval.db, applied in order, each in one transaction
together with its row in `_migrations`, by writers only (eval/store/access.py); then the
tables are checked against the records. Runs on a plain sqlite3 connection, in a thread.
Never edit a shipped migration; add a new one."""

from __future__ import annotations

from chaos_eval.outcomes import LedgerState, OpOutcome, TrialPhase, TrialStatus


def _check(column: str, values: type[object]) -> str:
    allowed = ", ".join(f"'{v.value}'" for v in values)  # type: ignore[attr-defined]
    return f"CHECK ({column} IN ({allowed}))"


def _check_literal(column: str, values: tuple[str, ...]) -> str:
    """A CHECK over values frozen in the migration's own text (a shipped migration must not
    change when an enum grows)."""
    return f"CHECK ({column} IN ({', '.join(repr(v) for v in values)}))"


# The campaign statuses of 0001_initial, as shipped (before held and closed existed).
CAMPAIGN_STATUSES_0001 = ("running", "interrupted", "aborted", "finished")
CAMPAIGN_STATUSES_0003 = (*CAMPAIGN_STATUSES_0001, "held", "closed")


INITIAL = f"""
CREATE TABLE campaigns (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    uid             TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    spec_hash       TEXT NOT NULL,
    spec_json       TEXT NOT NULL,
    config_path     TEXT NOT NULL,
    status          TEXT NOT NULL {_check_literal("status", CAMPAIGN_STATUSES_0001)},
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

# A register workload's history (chaos_eval.history JSON lines), per trial attempt.
HISTORIES = """
CREATE TABLE histories (
    trial_id INTEGER NOT NULL REFERENCES trials(id),
    attempt  INTEGER NOT NULL,
    text     TEXT NOT NULL,
    PRIMARY KEY (trial_id, attempt)
);
"""

# Each node's container log, captured at teardown of a trial that did not pass.
CONTAINER_LOGS = """
CREATE TABLE container_logs (
    trial_id INTEGER NOT NULL REFERENCES trials(id),
    attempt  INTEGER NOT NULL,
    node     TEXT NOT NULL,
    text     TEXT NOT NULL,
    PRIMARY KEY (trial_id, attempt, node)
);
"""

# Shards (`run campaign --shard I/N`) and their merge: which shard a campaign runs, which
# shard and host ran each trial, and which shard dbs a merged campaign took in (and up to
# which of their events), so merging the same shard again adds nothing.
SHARDS = """
ALTER TABLE campaigns ADD COLUMN shard TEXT;
ALTER TABLE trials ADD COLUMN shard TEXT;
ALTER TABLE trials ADD COLUMN host TEXT NOT NULL DEFAULT '';
CREATE TABLE merged_shards (
    campaign_id   INTEGER NOT NULL REFERENCES campaigns(id),
    source_uid    TEXT NOT NULL,
    shard         TEXT NOT NULL,
    source_path   TEXT NOT NULL,
    last_event_id INTEGER NOT NULL,
    merged_at     REAL NOT NULL,
    PRIMARY KEY (campaign_id, source_uid)
)
"""

# `held` and `closed` (eval/run/control.py): SQLite cannot alter a CHECK, so the campaigns
# table is rebuilt (the documented procedure: new table, copy, drop, rename), with foreign
# keys off for the swap and checked before the commit (REBUILDS).
_CAMPAIGN_COLUMNS = (
    "id, uid, name, spec_hash, spec_json, config_path, status, reason, seed, harness_version,"
    " git_sha, argv, created_at, updated_at, finished_at, lease_token, lease_pid, lease_host,"
    " lease_heartbeat, rerun_of"
)
HELD_CLOSED = f"""
CREATE TABLE campaigns_0003 (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    uid             TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    spec_hash       TEXT NOT NULL,
    spec_json       TEXT NOT NULL,
    config_path     TEXT NOT NULL,
    status          TEXT NOT NULL {_check_literal("status", CAMPAIGN_STATUSES_0003)},
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
    lease_heartbeat REAL,
    rerun_of        INTEGER REFERENCES campaigns(id)
);
INSERT INTO campaigns_0003 ({_CAMPAIGN_COLUMNS}) SELECT {_CAMPAIGN_COLUMNS} FROM campaigns;
DROP TABLE campaigns;
ALTER TABLE campaigns_0003 RENAME TO campaigns;
CREATE INDEX campaigns_name ON campaigns(name, spec_hash)
"""

# Reads at scale (100k trials, ~1.3M events): `status` asks whether a flag event exists,
# the journal is read per campaign and per trial, the ledger per trial.
READ_INDEXES = """
CREATE INDEX events_campaign ON events(campaign_id, kind);
CREATE INDEX events_trial ON events(trial_id);
CREATE INDEX fault_ledger_trial ON fault_ledger(trial_id)
"""

# Reads at scale, per trial: analysis streams a campaign's trials in run order (no sort of
# 100k wide rows) after counting each cell's trials, and resume planning reads each trial's
# key and status: both counts and keys come from the index alone (a trial row is ~7 kB).
TRIAL_ORDER = """
CREATE INDEX trials_order ON trials(campaign_id, ordinal, status, key, subject, fault, params)
"""

# Reads at scale, per trial: the figures analysis reads of a trial's measurements, compact
# (eval/store/figures.py); filled in for the rows already there by `chaos_figures`, a function
# the migrating connection registers (eval/store/upgrade.py). NULL: derive from measurements.
TRIAL_FIGURES = """
ALTER TABLE trials ADD COLUMN figures TEXT;
UPDATE trials SET figures = chaos_figures(measurements)
"""

# Reads at scale, per trial: a trial's figures packed (eval/store/packed_figures.py: its floats
# as doubles, the rest a short JSON skeleton), filled in from `figures` by two functions the
# migrating connection registers (eval/store/upgrade.py); and the index trials_results, which
# holds every column analysis streams (eval/store/results.py) in run order, so the read never
# touches a trial's row: a row is ~7 kB, and the columns after its proof (reasons, error,
# figures) sit in overflow pages sqlite walks one by one. A reader of a db without it reads
# `figures` from the rows: the same answers, slower (READ_OPTIONAL).
TRIAL_RESULTS = """
ALTER TABLE trials ADD COLUMN figures_skeleton TEXT;
ALTER TABLE trials ADD COLUMN figures_f64 BLOB;
UPDATE trials SET figures_skeleton = chaos_figures_skeleton(figures),
    figures_f64 = chaos_figures_f64(figures) WHERE figures IS NOT NULL;
CREATE INDEX trials_results ON trials(campaign_id, ordinal, status, key, subject, fault, params,
    repetition, seed, finished_at, recovery_s, targets, reasons, error, figures_skeleton,
    figures_f64)
"""

# (name, sql) in application order.
MIGRATIONS: tuple[tuple[str, str], ...] = (
    ("0001_initial", INITIAL),
    ("0002_rerun_of", RERUN_OF),
    ("0003_histories", HISTORIES),
    ("0004_container_logs", CONTAINER_LOGS),
    ("0005_campaign_held_closed", HELD_CLOSED),  # rebuilds campaigns: before 0006 adds a column
    ("0006_shards", SHARDS),
    ("0007_read_indexes", READ_INDEXES),
    ("0008_trial_order", TRIAL_ORDER),
    ("0009_trial_figures", TRIAL_FIGURES),
    ("0010_trial_results", TRIAL_RESULTS),
)
# migrations that rebuild a table others reference: run with foreign keys off, checked after
REBUILDS = frozenset({"0005_campaign_held_closed"})
# migrations a read command may find pending: what only makes a read faster (the same answers
# come back without it; eval/store/trials.py reads such a db its own way). A reader uses the
# db as it is; the next writer applies them.
READ_OPTIONAL = frozenset({"0010_trial_results"})
