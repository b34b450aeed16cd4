"""The records a dead run leaves for the next one, part of eval.store.store.Store: the campaign
lease (which process runs a campaign, kept fresh by its heartbeat) and the fault ledger
(written before a fault is injected, closed once it is undone). Resume, repair and gc act
on them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from eval.errors import CampaignNotFound
from eval.outcomes import CampaignStatus, LedgerState
from eval.store.connection import Database, campaign_row, ledger_row
from eval.store.records import CampaignRow, LedgerRow


class RecoveryRecords(Database):
    """The lease and the fault ledger over one eval.db (see the module docstring)."""

    # -- lease ----------------------------------------------------------------------------

    async def acquire_lease(
        self, campaign_id: int, *, token: str, pid: int, host: str, stale_after_s: float
    ) -> CampaignRow | None:
        """Take the campaign's lease. Returns None on success, or the row of the live holder."""
        now = time.time()
        async with self._tx() as db:
            rows = list(
                await db.execute_fetchall("SELECT * FROM campaigns WHERE id = ?", (campaign_id,))
            )
            if not rows:
                raise CampaignNotFound(f"no campaign with id {campaign_id}")
            row = campaign_row(rows[0])
            fresh = (
                row.lease_token is not None
                and row.lease_token != token
                and row.lease_heartbeat is not None
                and now - row.lease_heartbeat < stale_after_s
            )
            if fresh:
                return row
            kind = "lease_taken_over" if row.lease_token else "lease_acquired"
            await db.execute(
                "UPDATE campaigns SET lease_token = ?, lease_pid = ?, lease_host = ?,"
                " lease_heartbeat = ?, status = ?, updated_at = ? WHERE id = ?",
                (token, pid, host, now, CampaignStatus.RUNNING.value, now, campaign_id),
            )
            await db.execute(
                "INSERT INTO events(campaign_id, at, kind, detail) VALUES (?,?,?,?)",
                (campaign_id, now, kind, f"pid {pid} on {host}"),
            )
        return None

    async def heartbeat(self, campaign_id: int, token: str) -> bool:
        """Refresh the lease; False if someone else took it over."""
        async with self._tx() as db:
            cur = await db.execute(
                "UPDATE campaigns SET lease_heartbeat = ? WHERE id = ? AND lease_token = ?",
                (time.time(), campaign_id, token),
            )
            return cur.rowcount == 1

    async def release_lease(self, campaign_id: int, token: str) -> None:
        async with self._tx() as db:
            await db.execute(
                "UPDATE campaigns SET lease_token = NULL, lease_pid = NULL, lease_host = NULL,"
                " lease_heartbeat = NULL WHERE id = ? AND lease_token = ?",
                (campaign_id, token),
            )

    # -- fault ledger ---------------------------------------------------------------------

    async def record_fault_planned(
        self, trial_id: int, *, kind: str, description: str, targets: Sequence[str], undo: str
    ) -> int:
        """Write-ahead: the ledger row exists before the fault is injected."""
        async with self._tx() as db:
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

    async def close_ledger(self, ledger_id: int, state: LedgerState) -> None:
        async with self._tx() as db:
            await db.execute(
                "UPDATE fault_ledger SET state = ?, closed_at = ? WHERE id = ?",
                (state.value, time.time(), ledger_id),
            )

    async def open_ledger(self, campaign_id: int | None = None) -> list[LedgerRow]:
        if campaign_id is None:
            rows = await self._all("SELECT * FROM fault_ledger WHERE state = 'open' ORDER BY id")
        else:
            rows = await self._all(
                "SELECT * FROM fault_ledger WHERE state = 'open' AND campaign_id = ? ORDER BY id",
                (campaign_id,),
            )
        return [ledger_row(r) for r in rows]
