"""The container-logs part of the Store: each node's container log, captured at teardown of
a trial that did not pass (for its failure bundle), per trial attempt."""

from __future__ import annotations

from collections.abc import Mapping

from chaos_eval.store.connection import Connection


class ContainerLogs:
    """The `container_logs` table."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def record(self, trial_id: int, attempt: int, logs: Mapping[str, str]) -> None:
        async with self._conn.transaction() as db:
            await db.executemany(
                "INSERT OR REPLACE INTO container_logs(trial_id, attempt, node, text)"
                " VALUES (?,?,?,?)",
                [(trial_id, attempt, node, text) for node, text in sorted(logs.items())],
            )

    async def latest_attempt(self, trial_id: int) -> dict[str, str]:
        """node -> its log text, for the trial's latest attempt (empty when none captured)."""
        rows = await self._conn.rows(
            "SELECT node, text FROM container_logs WHERE trial_id = ?"
            " AND attempt = (SELECT attempts FROM trials WHERE id = ?) ORDER BY node",
            (trial_id, trial_id),
        )
        return {str(r[0]): str(r[1]) for r in rows}
