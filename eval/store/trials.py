"""The trials part of the Store: each trial's record through its lifecycle (started, its
phases, its targets, finished), and the marks the harness puts on trials it had to abandon."""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from typing import Any

from chaos_eval.errors import StoreCorrupt, StoreError
from chaos_eval.outcomes import TrialPhase, TrialStatus
from chaos_eval.spec.matrix import PlannedTrial
from chaos_eval.store.connection import Connection
from chaos_eval.store.packed_figures import figure_columns
from chaos_eval.store.records import TrialRow, trial_row
from chaos_eval.store.results import (
    RESULT_COLUMNS,
    RESULT_COLUMNS_0009,
    ResultReader,
    TrialResult,
)

# What the counts and keys are read from: the narrow index of migration 0008 (~75 B a trial),
# named, since sqlite would as soon walk trials_results (0010: ~0.4 kB a trial, every column
# analysis streams), which covers these reads too.
_NARROW = "trials INDEXED BY trials_order"


class Trials:
    """The `trials` table (and the events of each transition)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def of_campaign(self, campaign_id: int) -> list[TrialRow]:
        return await self._conn.read(
            "SELECT * FROM trials WHERE campaign_id = ? ORDER BY ordinal", (campaign_id,), trial_row
        )

    async def results(self, campaign_id: int) -> AsyncIterator[list[TrialResult]]:
        """The campaign's trials in run order, without their proof, a chunk at a time, from the
        index trials_results (migration 0010) where there is one (no sort of wide rows)."""
        have = {str(r[1]) for r in await self._conn.rows("PRAGMA table_info(trials)")}
        columns = RESULT_COLUMNS if "figures_f64" in have else RESULT_COLUMNS_0009
        async with aclosing(self._conn.stream(
            f"SELECT {columns} FROM trials WHERE campaign_id = ? ORDER BY ordinal",
            (campaign_id,),
            ResultReader(),
        )) as chunks:  # its cursor closed when the caller stops early
            async for chunk in chunks:
                yield chunk

    async def unfinished(self, campaign_id: int) -> list[TrialRow]:
        """The campaign's trials not in a final state, in run order (what a run still runs)."""
        final = [s.value for s in TrialStatus if s.is_final]
        marks = ", ".join("?" * len(final))
        return await self._conn.read(
            f"SELECT * FROM trials WHERE campaign_id = ? AND status NOT IN ({marks})"
            " ORDER BY ordinal",
            (campaign_id, *final),
            trial_row,
        )

    async def cell_sizes(self, campaign_id: int) -> dict[tuple[str, str, str], int]:
        """(subject, fault, params) -> how many trials the campaign holds of that cell."""
        rows = await self._conn.rows(
            f"SELECT subject, fault, params, COUNT(*) FROM {_NARROW} WHERE campaign_id = ?"
            " GROUP BY subject, fault, params",
            (campaign_id,),
        )
        return {(str(r[0]), str(r[1]), str(r[2])): int(r[3]) for r in rows}

    async def statuses(self, campaign_id: int) -> dict[str, TrialStatus]:
        """key -> status of each of the campaign's trials, from the index alone: what resume
        planning needs of a campaign (a finished 100k-trial one is read in well under 1 s)."""
        rows = await self._conn.read(
            f"SELECT key, status, ordinal AS id FROM {_NARROW} WHERE campaign_id = ?",
            (campaign_id,),
            _key_status,
        )
        return dict(rows)

    async def counts(self, campaign_id: int) -> dict[TrialStatus, int]:
        """Trials per status (statuses with none are absent)."""
        rows = await self._conn.read(
            f"SELECT status, COUNT(*), MIN(id) FROM {_NARROW} WHERE campaign_id = ?"
            " GROUP BY status",
            (campaign_id,),
            _status_count,
        )
        return dict(rows)

    async def get(self, trial_id: int) -> TrialRow:
        rows = await self._conn.read("SELECT * FROM trials WHERE id = ?", (trial_id,), trial_row)
        if not rows:
            raise StoreError(f"no trial with id {trial_id}")
        return rows[0]

    async def add(self, campaign_id: int, t: PlannedTrial) -> TrialRow:
        """Add one planned trial, `pending` (a sampled cell's next trial: its rows are made
        as they are started); idempotent by key. Returns its row."""
        async with self._conn.transaction() as db:
            await db.execute(
                "INSERT OR IGNORE INTO trials(campaign_id, key, ordinal, subject, subject_type,"
                " fault, params, target, repetition, seed, status) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (campaign_id, t.key, t.ordinal, t.subject, t.subject_type, t.fault, t.params,
                 t.target, t.repetition, t.seed, TrialStatus.PENDING.value),
            )
        rows = await self._conn.read(
            "SELECT * FROM trials WHERE campaign_id = ? AND key = ?", (campaign_id, t.key),
            trial_row,
        )
        return rows[0]

    async def started(self, trial_id: int) -> int:
        """Mark the trial running and count the attempt; returns the attempt number."""
        now = time.time()
        async with self._conn.transaction() as db:
            await db.execute(
                "UPDATE trials SET status = ?, phase = ?, attempts = attempts + 1,"
                " started_at = ?, finished_at = NULL, error = '', host = ? WHERE id = ?",
                (
                    TrialStatus.RUNNING.value,
                    TrialPhase.STARTED.value,
                    now,
                    socket.gethostname(),
                    trial_id,
                ),
            )
            rows = list(
                await db.execute_fetchall(
                    "SELECT attempts, campaign_id FROM trials WHERE id = ?", (trial_id,)
                )
            )
            attempt, cid = int(rows[0][0]), int(rows[0][1])
            await db.execute(
                "DELETE FROM ops WHERE trial_id = ? AND attempt = ?", (trial_id, attempt)
            )
            await db.execute(
                "INSERT INTO events(campaign_id, trial_id, at, kind, detail) VALUES (?,?,?,?,?)",
                (cid, trial_id, now, "trial_started", f"attempt {attempt}"),
            )
        return attempt

    async def phase(self, trial_id: int, phase: TrialPhase, detail: str = "") -> None:
        async with self._conn.transaction() as db:
            await db.execute("UPDATE trials SET phase = ? WHERE id = ?", (phase.value, trial_id))
            await db.execute(
                "INSERT INTO events(campaign_id, trial_id, at, kind, detail)"
                " SELECT campaign_id, id, ?, ?, ? FROM trials WHERE id = ?",
                (time.time(), f"phase_{phase.value}", detail, trial_id),
            )

    async def targets(self, trial_id: int, targets: Sequence[str]) -> None:
        async with self._conn.transaction() as db:
            await db.execute(
                "UPDATE trials SET targets = ? WHERE id = ?", (json.dumps(list(targets)), trial_id)
            )

    async def finished(
        self,
        trial_id: int,
        status: TrialStatus,
        *,
        recovery_s: float | None,
        measurements: dict[str, Any],
        proof: dict[str, Any],
        reasons: Sequence[str],
        error: str = "",
    ) -> None:
        now = time.time()
        measured = json.dumps(measurements, sort_keys=True)
        async with self._conn.transaction() as db:
            await db.execute(
                "UPDATE trials SET status = ?, finished_at = ?, recovery_s = ?, measurements = ?,"
                " figures = ?, figures_skeleton = ?, figures_f64 = ?, proof = ?, reasons = ?,"
                " error = ? WHERE id = ?",
                (
                    status.value,
                    now,
                    recovery_s,
                    measured,
                    *figure_columns(measured),  # what analysis reads of them (store/figures.py)
                    json.dumps(proof, sort_keys=True),
                    json.dumps(list(reasons)),
                    error,
                    trial_id,
                ),
            )
            await db.execute(
                "INSERT INTO events(campaign_id, trial_id, at, kind, detail)"
                " SELECT campaign_id, id, ?, ?, ? FROM trials WHERE id = ?",
                (now, f"trial_{status.value}", error or "; ".join(reasons), trial_id),
            )

    async def mark_error(self, trial_id: int, error: str) -> None:
        """Turn a trial the harness had to abandon (timeout) into `error`, keeping its record."""
        async with self._conn.transaction() as db:
            await db.execute(
                "UPDATE trials SET status = ?, error = ?, finished_at = ? WHERE id = ?",
                (TrialStatus.ERROR.value, error, time.time(), trial_id),
            )

    async def mark_running_interrupted(self, campaign_id: int) -> int:
        """Trials left `running` by a dead or stopped runner become `interrupted`."""
        async with self._conn.transaction() as db:
            cur = await db.execute(
                "UPDATE trials SET status = ? WHERE campaign_id = ? AND status = ?",
                (TrialStatus.INTERRUPTED.value, campaign_id, TrialStatus.RUNNING.value),
            )
            return cur.rowcount


def _key_status(r: sqlite3.Row) -> tuple[str, TrialStatus]:
    status = TrialStatus._value2member_map_.get(r[1]) if isinstance(r[1], str) else None
    if status is None or not isinstance(r[0], str):
        known = ", ".join(s.value for s in TrialStatus)
        raise StoreCorrupt(f"table trials, ordinal {r[2]}: key {r[0]!r} / status {r[1]!r}: "
                           f"not a key and a known status ({known})")
    return r[0], TrialStatus(r[1])


def _status_count(r: sqlite3.Row) -> tuple[TrialStatus, int]:
    """One (status, count) row, its status checked like every row read (records.py)."""
    try:
        return TrialStatus(r[0]), int(r[1])
    except ValueError:
        known = ", ".join(s.value for s in TrialStatus)
        raise StoreCorrupt(
            f"table trials, row {r[2]}: column status: unknown value {r[0]!r} (known: {known})"
        ) from None
