"""eval.db: the one Store, with verb methods for campaigns, trials, ops and events.

Its connection (opening, migrating, the one serialized writer) is eval/store/connection.py; the
campaign lease and the fault ledger are eval/store/recovery.py. These, with
eval/store/migrations.py, are the only modules with SQL.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from eval.errors import CampaignNotFound, StoreError
from eval.outcomes import CampaignStatus, OpOutcome, TrialPhase, TrialStatus
from eval.store.connection import campaign_row, trial_row
from eval.store.records import CampaignRow, EventRow, PlannedTrial, TrialRow
from eval.store.recovery import RecoveryRecords
from eval.workload import Op


class Store(RecoveryRecords):
    """Every verb over eval.db; open one with `await Store.open(path)`."""

    # -- campaigns ------------------------------------------------------------------------

    async def create_campaign(
        self,
        *,
        name: str,
        spec_hash: str,
        spec_json: str,
        config_path: str,
        seed: int,
        harness_version: str,
        git_sha: str,
        argv: Sequence[str],
        trials: Iterable[PlannedTrial],
        rerun_of: int | None = None,
    ) -> int:
        """A new campaign, `running`, with its planned trials `pending`. `rerun_of`: the
        campaign one of whose trials this one re-runs (it is then never continued by name)."""
        now = time.time()
        async with self._tx() as db:
            cur = await db.execute(
                "INSERT INTO campaigns(uid, name, spec_hash, spec_json, config_path, status, seed,"
                " harness_version, git_sha, argv, created_at, updated_at, rerun_of)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    uuid.uuid4().hex[:12],
                    name,
                    spec_hash,
                    spec_json,
                    config_path,
                    CampaignStatus.RUNNING.value,
                    seed,
                    harness_version,
                    git_sha,
                    json.dumps(list(argv)),
                    now,
                    now,
                    rerun_of,
                ),
            )
            cid = int(cur.lastrowid or 0)
            await db.executemany(
                "INSERT INTO trials(campaign_id, key, ordinal, subject, subject_type, fault,"
                " params, target, repetition, seed, status) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        cid,
                        t.key,
                        t.ordinal,
                        t.subject,
                        t.subject_type,
                        t.fault,
                        t.params,
                        t.target,
                        t.repetition,
                        t.seed,
                        TrialStatus.PENDING.value,
                    )
                    for t in trials
                ],
            )
            await db.execute(
                "INSERT INTO events(campaign_id, at, kind, detail) VALUES (?,?,?,?)",
                (cid, now, "campaign_created", name),
            )
        return cid

    async def campaign(self, campaign_id: int) -> CampaignRow:
        rows = await self._all("SELECT * FROM campaigns WHERE id = ?", (campaign_id,))
        if not rows:
            raise CampaignNotFound(f"no campaign with id {campaign_id} in {self.path}")
        return campaign_row(rows[0])

    async def campaigns(self) -> list[CampaignRow]:
        return [campaign_row(r) for r in await self._all("SELECT * FROM campaigns ORDER BY id")]

    async def latest_campaign(self, name: str) -> CampaignRow | None:
        """The newest campaign of that name that a run of its file may continue (a rerun of
        one trial is not one)."""
        rows = await self._all(
            "SELECT * FROM campaigns WHERE name = ? AND rerun_of IS NULL"
            " ORDER BY id DESC LIMIT 1",
            (name,),
        )
        return campaign_row(rows[0]) if rows else None

    async def set_campaign_status(
        self, campaign_id: int, status: CampaignStatus, reason: str = ""
    ) -> None:
        now = time.time()
        finished = now if status == CampaignStatus.FINISHED else None
        async with self._tx() as db:
            await db.execute(
                "UPDATE campaigns SET status = ?, reason = ?, updated_at = ?, finished_at = ?"
                " WHERE id = ?",
                (status.value, reason, now, finished, campaign_id),
            )
            await db.execute(
                "INSERT INTO events(campaign_id, at, kind, detail) VALUES (?,?,?,?)",
                (campaign_id, now, f"campaign_{status.value}", reason),
            )

    # -- trials ---------------------------------------------------------------------------

    async def trials(self, campaign_id: int) -> list[TrialRow]:
        rows = await self._all(
            "SELECT * FROM trials WHERE campaign_id = ? ORDER BY ordinal", (campaign_id,)
        )
        return [trial_row(r) for r in rows]

    async def trial(self, trial_id: int) -> TrialRow:
        rows = await self._all("SELECT * FROM trials WHERE id = ?", (trial_id,))
        if not rows:
            raise StoreError(f"no trial with id {trial_id}")
        return trial_row(rows[0])

    async def record_trial_started(self, trial_id: int) -> int:
        """Mark the trial running and count the attempt; returns the attempt number."""
        now = time.time()
        async with self._tx() as db:
            await db.execute(
                "UPDATE trials SET status = ?, phase = ?, attempts = attempts + 1,"
                " started_at = ?, finished_at = NULL, error = '' WHERE id = ?",
                (TrialStatus.RUNNING.value, TrialPhase.STARTED.value, now, trial_id),
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

    async def record_phase(self, trial_id: int, phase: TrialPhase, detail: str = "") -> None:
        async with self._tx() as db:
            await db.execute("UPDATE trials SET phase = ? WHERE id = ?", (phase.value, trial_id))
            await db.execute(
                "INSERT INTO events(campaign_id, trial_id, at, kind, detail)"
                " SELECT campaign_id, id, ?, ?, ? FROM trials WHERE id = ?",
                (time.time(), f"phase_{phase.value}", detail, trial_id),
            )

    async def record_targets(self, trial_id: int, targets: Sequence[str]) -> None:
        async with self._tx() as db:
            await db.execute(
                "UPDATE trials SET targets = ? WHERE id = ?", (json.dumps(list(targets)), trial_id)
            )

    async def record_trial_finished(
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
        async with self._tx() as db:
            await db.execute(
                "UPDATE trials SET status = ?, finished_at = ?, recovery_s = ?, measurements = ?,"
                " proof = ?, reasons = ?, error = ? WHERE id = ?",
                (
                    status.value,
                    now,
                    recovery_s,
                    json.dumps(measurements, sort_keys=True),
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

    async def mark_trial_error(self, trial_id: int, error: str) -> None:
        """Turn a trial the harness had to abandon (timeout) into `error`, keeping its record."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE trials SET status = ?, error = ?, finished_at = ? WHERE id = ?",
                (TrialStatus.ERROR.value, error, time.time(), trial_id),
            )

    async def mark_running_interrupted(self, campaign_id: int) -> int:
        """Trials left `running` by a dead or stopped runner become `interrupted`."""
        async with self._tx() as db:
            cur = await db.execute(
                "UPDATE trials SET status = ? WHERE campaign_id = ? AND status = ?",
                (TrialStatus.INTERRUPTED.value, campaign_id, TrialStatus.RUNNING.value),
            )
            return cur.rowcount

    async def record_ops(self, trial_id: int, attempt: int, ops: Iterable[Op]) -> None:
        async with self._tx() as db:
            await db.executemany(
                "INSERT INTO ops(trial_id, attempt, kind, node, key, start, end, outcome, error)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    (
                        trial_id,
                        attempt,
                        o.kind,
                        o.node,
                        o.key,
                        o.start,
                        o.end,
                        o.outcome.value,
                        o.error,
                    )
                    for o in ops
                ],
            )

    async def ops(self, trial_id: int) -> list[Op]:
        """The ops of the trial's latest attempt."""
        rows = await self._all(
            "SELECT kind, node, key, start, end, outcome, error FROM ops WHERE trial_id = ?"
            " AND attempt = (SELECT attempts FROM trials WHERE id = ?) ORDER BY end",
            (trial_id, trial_id),
        )
        return [Op(r[0], r[1], r[2], r[3], r[4], OpOutcome(r[5]), r[6]) for r in rows]

    # -- events ---------------------------------------------------------------------------

    async def event(
        self, campaign_id: int | None, kind: str, detail: str = "", trial_id: int | None = None
    ) -> None:
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO events(campaign_id, trial_id, at, kind, detail) VALUES (?,?,?,?,?)",
                (campaign_id, trial_id, time.time(), kind, detail),
            )

    async def events(self, campaign_id: int, kind: str | None = None) -> list[EventRow]:
        sql = "SELECT * FROM events WHERE campaign_id = ?"
        args: list[object] = [campaign_id]
        if kind:
            sql += " AND kind = ?"
            args.append(kind)
        return [EventRow(**dict(r)) for r in await self._all(sql + " ORDER BY id", args)]
