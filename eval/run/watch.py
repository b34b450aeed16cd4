"""What the runner watches while its campaign runs, polled at its heartbeat period: a hold
(or close) that another process wrote to the db (`chaos-eval hold ID`), and the drift alarms
of chaos_eval.analysis.snapshot, each recorded as an event once per episode. The runner is
the db's writer, so alarms are recorded here; `status` only computes and shows them.

Episodes: a stuck trial's episode is that trial in that phase since that moment (recorded
once); the failure-rate alarm is `on` until the rate falls back under the threshold (then a
`drift_failure_rate_cleared` event), and records again only after it cleared.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from chaos_eval.analysis.snapshot import FAILURE_RATE, Alarm, snapshot_of
from chaos_eval.errors import ChaosEvalError
from chaos_eval.outcomes import CampaignStatus
from chaos_eval.spec.config import CampaignConfig
from chaos_eval.store.leases import HEARTBEAT_S
from chaos_eval.store.store import Store

log = logging.getLogger(__name__)
CLEARED = FAILURE_RATE + "_cleared"
SEP = " | "  # event detail: "<episode> | <what>"


def episode_of(detail: str) -> str:
    return detail.split(SEP, 1)[0]


class CampaignWatch:
    """Polls one campaign's record for a hold and for drift."""

    def __init__(
        self, store: Store, campaign_id: int, cfg: CampaignConfig, period_s: float = HEARTBEAT_S
    ) -> None:
        self.store, self.campaign_id, self.cfg = store, campaign_id, cfg
        self.period_s = period_s

    async def run(self, on_hold: Callable[[], None]) -> None:
        """Until cancelled: every period, record new alarms; call `on_hold` (once) when the
        campaign was held or closed from outside."""
        told = False
        while True:
            await asyncio.sleep(self.period_s)  # the heartbeat period
            try:
                status = await self.poll()
            except ChaosEvalError as e:  # a busy or vanished db must not stop the run
                log.warning("campaign watch: %s", e)
                continue
            if status in (CampaignStatus.HELD, CampaignStatus.CLOSED) and not told:
                told = True
                on_hold()

    async def poll(self) -> CampaignStatus:
        """One look: record alarms that began (or a failure-rate alarm that cleared); return
        the campaign's status as the db has it now."""
        cid = self.campaign_id
        row = await self.store.campaign(cid)
        snap = snapshot_of(
            self.cfg, await self.store.trials(cid), await self.store.last_progress(cid), time.time()
        )
        await self.record(snap.alarms)
        return row.status

    async def record(self, alarms: Sequence[Alarm]) -> None:
        cid = self.campaign_id
        events = await self.store.events(cid)
        seen = {(e.kind, episode_of(e.detail)) for e in events}
        rate = [e.kind for e in events if e.kind in (FAILURE_RATE, CLEARED)]
        rate_on = bool(rate) and rate[-1] == FAILURE_RATE
        for a in alarms:
            if a.kind == FAILURE_RATE:
                if not rate_on:
                    await self.store.event(cid, a.kind, f"{a.episode}{SEP}{a.detail}")
                    log.warning("drift: %s", a.detail)
            elif (a.kind, a.episode) not in seen:
                await self.store.event(cid, a.kind, f"{a.episode}{SEP}{a.detail}")
                log.warning("drift: %s", a.detail)
        if rate_on and not any(a.kind == FAILURE_RATE for a in alarms):
            await self.store.event(cid, CLEARED, "back under the threshold")
