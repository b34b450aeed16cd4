"""The ops part of the Store: every client operation of a trial's attempt, recorded once the
workload stops, and read back for metrics and charts."""

from __future__ import annotations

from collections.abc import Iterable

from chaos_eval.store.connection import Connection
from chaos_eval.store.records import OpRecord, OpRow, op_row


class Ops:
    """The `ops` table."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def record(self, trial_id: int, attempt: int, ops: Iterable[OpRecord]) -> None:
        async with self._conn.transaction() as db:
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

    async def latest_attempt(self, trial_id: int) -> list[OpRow]:
        """The ops of the trial's latest attempt."""
        return await self._conn.read(
            "SELECT rowid AS id, kind, node, key, start, end, outcome, error FROM ops"
            " WHERE trial_id = ? AND attempt = (SELECT attempts FROM trials WHERE id = ?)"
            " ORDER BY end",
            (trial_id, trial_id),
            op_row,
        )
