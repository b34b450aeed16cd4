"""The campaign lease: which process runs a campaign, kept fresh by its heartbeat, and the
one test of whether a lease is live.

A lease is live while its heartbeat is fresh (younger than `LEASE_STALE_S`) AND its holder
is not known dead: a holder on this host whose pid no longer exists is dead however fresh its
heartbeat, so a runner killed with SIGKILL can be resumed at once, not 30 s later (a holder
on another host cannot be checked, so its heartbeat alone decides). The runner beats every
`HEARTBEAT_S`; gc, status, repair, resume and `Leases.acquire` all judge a lease here.
"""

from __future__ import annotations

import os
import socket
import time

from chaos_eval.errors import CampaignNotFound
from chaos_eval.outcomes import CampaignStatus
from chaos_eval.store.connection import Connection
from chaos_eval.store.records import CampaignRow, campaign_row

LEASE_STALE_S = 30.0  # a heartbeat older than this is stale: its runner stopped beating
HEARTBEAT_S = 5.0  # how often the runner refreshes its lease


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def holder_is_dead(c: CampaignRow) -> bool:
    """The lease is held by a process on this host that no longer exists."""
    return (
        c.lease_pid is not None
        and c.lease_host == socket.gethostname()
        and not pid_alive(c.lease_pid)
    )


def heartbeat_fresh(c: CampaignRow, now: float, stale_after_s: float = LEASE_STALE_S) -> bool:
    """The lease's heartbeat is younger than `stale_after_s`."""
    return c.lease_heartbeat is not None and now - c.lease_heartbeat < stale_after_s


def lease_is_live(c: CampaignRow, now: float, stale_after_s: float = LEASE_STALE_S) -> bool:
    """THE liveness test: heartbeat fresh and holder not known dead (module docstring)."""
    return heartbeat_fresh(c, now, stale_after_s) and not holder_is_dead(c)


class Leases:
    """The lease columns of the `campaigns` table."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def acquire(
        self, campaign_id: int, *, token: str, pid: int, host: str, stale_after_s: float,
        unless_held: bool = False,
    ) -> CampaignRow | None:
        """Take the campaign's lease. Returns None on success, or the row of the holder whose
        heartbeat is fresh (the caller decides whether that holder is dead); with
        `unless_held`, a `held` campaign's row too, untouched (a hold that landed before the
        lease was taken is honoured, in the same transaction that would take it)."""
        now = time.time()
        async with self._conn.transaction() as db:
            rows = list(
                await db.execute_fetchall("SELECT * FROM campaigns WHERE id = ?", (campaign_id,))
            )
            if not rows:
                raise CampaignNotFound(f"no campaign with id {campaign_id}")
            row = campaign_row(rows[0])
            if unless_held and row.status == CampaignStatus.HELD:
                return row
            held = row.lease_token is not None and row.lease_token != token
            if held and heartbeat_fresh(row, now, stale_after_s):
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
        async with self._conn.transaction() as db:
            cur = await db.execute(
                "UPDATE campaigns SET lease_heartbeat = ? WHERE id = ? AND lease_token = ?",
                (time.time(), campaign_id, token),
            )
            return cur.rowcount == 1

    async def release(self, campaign_id: int, token: str) -> None:
        async with self._conn.transaction() as db:
            await db.execute(
                "UPDATE campaigns SET lease_token = NULL, lease_pid = NULL, lease_host = NULL,"
                " lease_heartbeat = NULL WHERE id = ? AND lease_token = ?",
                (campaign_id, token),
            )
