"""The histories part of the Store: a register workload's history, one per trial attempt, as
the JSON-lines text of chaos_eval.history (what `bundle` ships and `check` re-reads)."""

from __future__ import annotations

from chaos_eval.store.connection import Connection


class Histories:
    """The `histories` table."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def record(self, trial_id: int, attempt: int, text: str) -> None:
        async with self._conn.transaction() as db:
            await db.execute(
                "INSERT OR REPLACE INTO histories(trial_id, attempt, text) VALUES (?,?,?)",
                (trial_id, attempt, text),
            )

    async def latest_attempt(self, trial_id: int) -> str | None:
        """The history of the trial's latest attempt, or None (not a register workload)."""
        rows = await self._conn.rows(
            "SELECT text FROM histories WHERE trial_id = ?"
            " AND attempt = (SELECT attempts FROM trials WHERE id = ?)",
            (trial_id, trial_id),
        )
        return str(rows[0][0]) if rows else None
