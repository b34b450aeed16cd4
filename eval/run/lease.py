"""The runner's lease on its campaign: taken (at once from a holder that is dead), kept fresh
by a heartbeat task, released at the end. What makes a lease live, and its timings, is
eval/store/leases.py."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable

from chaos_eval.errors import LeaseHeldError
from chaos_eval.outcomes import CampaignStatus
from chaos_eval.store.leases import HEARTBEAT_S, LEASE_STALE_S, holder_is_dead
from chaos_eval.store.records import CampaignRow
from chaos_eval.store.store import Store

log = logging.getLogger(__name__)


class CampaignLease:
    """One runner's hold on one campaign, under a token of its own."""

    def __init__(self, store: Store, campaign_id: int, token: str,
                 unless_held: bool = False) -> None:
        self.store, self.campaign_id, self.token = store, campaign_id, token
        self.unless_held = unless_held  # a background run: a hold before it starts wins

    async def acquire(self) -> bool:
        """Take the lease: free, stale, or held by a process on this host that no longer
        exists (taken over at once, with a `lease_holder_dead` event). LeaseHeldError when
        a live runner holds it. False (nothing taken) when `unless_held` and the campaign
        was held before the lease could be taken."""
        cid = self.campaign_id
        holder = await self._take(LEASE_STALE_S)
        if holder is not None and self.unless_held and holder.status == CampaignStatus.HELD:
            return False
        if holder is not None and holder_is_dead(holder):
            await self.store.event(
                cid, "lease_holder_dead", f"pid {holder.lease_pid} on {holder.lease_host}"
            )
            holder = await self._take(0)
        if holder is not None:
            age = time.time() - (holder.lease_heartbeat or 0)
            raise LeaseHeldError(
                f"campaign {cid} is being run by pid {holder.lease_pid} on {holder.lease_host} "
                f"(heartbeat {age:.0f}s ago); wait for it or stop it first"
            )
        return True

    async def _take(self, stale_after_s: float) -> CampaignRow | None:
        return await self.store.acquire_lease(
            self.campaign_id,
            token=self.token,
            pid=os.getpid(),
            host=socket.gethostname(),
            stale_after_s=stale_after_s,
            unless_held=self.unless_held,
        )

    async def keep_fresh(self, on_lost: Callable[[str], None]) -> None:
        """The heartbeat task: refresh the lease every HEARTBEAT_S until cancelled. If the
        lease cannot be refreshed (the store fails, whatever the error) or someone else took
        it over, call `on_lost(reason)` and end: a runner that cannot show it is alive must
        stop, since after LEASE_STALE_S a resume would repair (remove) its live clusters.
        Never raises but CancelledError."""
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                ours = await self.store.heartbeat(self.campaign_id, self.token)
            except Exception as e:  # any failure ends the lease's liveness
                reason = (f"the lease heartbeat could not be written ({type(e).__name__}: {e}); "
                          "stopped so that no one takes this live campaign for a dead one")
                log.error("campaign %s: %s", self.campaign_id, reason)
                on_lost(reason)
                return
            if not ours:
                reason = "the lease was taken over by another runner"
                log.error("campaign %s: %s; stopping", self.campaign_id, reason)
                on_lost(reason)
                return

    async def release(self) -> None:
        await self.store.release_lease(self.campaign_id, self.token)
