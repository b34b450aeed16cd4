"""The fault ledger part of the Store: a row written before a fault is injected (write-ahead)
and closed once it is undone, so resume, repair and gc can undo what a dead run left behind."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from chaos_eval.outcomes import LedgerState
from chaos_eval.store.connection import Connection
from chaos_eval.store.records import LedgerRow, ledger_row


class Ledger:
    """The `fault_ledger` table."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def planned(
        self, trial_id: int, *, kind: str, description: str, targets: Sequence[str], undo: str
    ) -> int:
        """Write-ahead: the ledger row exists before the fault is injected."""
        async with self._conn.transaction() as db:
            cur = await db.execute(
                "INSERT INTO fault_ledger(campaign_id, trial_id, kind, description, targets,"
                " undo, state, opened_at)"
                " SELECT campaign_id, id, ?, ?, ?, ?, ?, ? FROM trials WHERE id = ?",
                (
                    kind,
                    description,
                    json.dumps(list(targets)),
                    undo,
                    LedgerState.OPEN.value,
                    time.time(),
                    trial_id,
                ),
            )
            return int(cur.lastrowid or 0)

    async def close(self, ledger_id: int, state: LedgerState) -> None:
        async with self._conn.transaction() as db:
            await db.execute(
                "UPDATE fault_ledger SET state = ?, closed_at = ? WHERE id = ?",
                (state.value, time.time(), ledger_id),
            )

    async def open_rows(self, campaign_id: int | None = None) -> list[LedgerRow]:
        if campaign_id is None:
            return await self._conn.read(
                "SELECT * FROM fault_ledger WHERE state = 'open' ORDER BY id", (), ledger_row
            )
        return await self._conn.read(
            "SELECT * FROM fault_ledger WHERE state = 'open' AND campaign_id = ? ORDER BY id",
            (campaign_id,),
            ledger_row,
        )

    async def of_trial(self, trial_id: int) -> list[LedgerRow]:
        return await self._conn.read(
            "SELECT * FROM fault_ledger WHERE trial_id = ? ORDER BY id", (trial_id,), ledger_row
        )
