"""Campaign status: progress, lease, and the `stale` / `stuck` flags.

- stale: marked running, but its lease heartbeat is older than the stale window: the runner
  died. Resume it with `eval resume ID`.
- stuck: interrupted or aborted and untouched for longer than `stuck_after_s` (24 h by
  default): a forgotten campaign someone should resume or close.
Each flag is recorded as an event once per episode (keyed by the timestamp that started it),
not on every call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from chaos_eval.commands import cli_command
from chaos_eval.outcomes import CampaignStatus, TrialStatus
from chaos_eval.store.leases import LEASE_STALE_S, heartbeat_fresh
from chaos_eval.store.records import CampaignRow
from chaos_eval.store.store import Store

STUCK_AFTER_S = 24 * 3600.0


@dataclass(frozen=True)
class CampaignStatusView:
    id: int
    name: str
    status: str
    reason: str
    trials_total: int
    trials_done: int
    by_status: dict[str, int]
    lease_holder: str | None
    heartbeat_age_s: float | None
    flags: tuple[str, ...]
    hint: str
    rerun_of: int | None = None  # the campaign one of whose trials this one re-runs

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "reason": self.reason,
            "trials_total": self.trials_total,
            "trials_done": self.trials_done,
            "by_status": self.by_status,
            "lease_holder": self.lease_holder,
            "heartbeat_age_s": None
            if self.heartbeat_age_s is None
            else round(self.heartbeat_age_s, 1),
            "flags": list(self.flags),
            "hint": self.hint,
            "rerun_of": self.rerun_of,
        }


def flags_for(
    c: CampaignRow,
    now: float,
    stale_after_s: float = LEASE_STALE_S,
    stuck_after_s: float = STUCK_AFTER_S,
) -> dict[str, str]:
    """Flag name -> the episode key (when the condition began). Pure."""
    out: dict[str, str] = {}
    if c.status == CampaignStatus.RUNNING and not heartbeat_fresh(c, now, stale_after_s):
        out["stale"] = f"{c.lease_heartbeat or c.updated_at:.3f}"
    idle = now - c.updated_at >= stuck_after_s
    if c.status in (CampaignStatus.INTERRUPTED, CampaignStatus.ABORTED) and idle:
        out["stuck"] = f"{c.updated_at:.3f}"
    return out


async def campaign_status(
    store: Store,
    campaign_id: int | None = None,
    *,
    stuck_after_s: float = STUCK_AFTER_S,
) -> list[CampaignStatusView]:
    rows = [await store.campaign(campaign_id)] if campaign_id else await store.campaigns()
    now = time.time()
    views = []
    for c in rows:
        counts = await store.trial_counts(c.id)
        by = {s.value: counts.get(s, 0) for s in TrialStatus}
        flags = flags_for(c, now, stuck_after_s=stuck_after_s)
        for flag, episode in flags.items():
            if not await store.has_event(c.id, f"flag_{flag}", episode):
                await store.event(c.id, f"flag_{flag}", episode)
        hint = ""
        if "stale" in flags or c.status in (CampaignStatus.INTERRUPTED, CampaignStatus.ABORTED):
            hint = f"resume with: {cli_command('resume', c.id, '--db', store.path)}"
        views.append(
            CampaignStatusView(
                id=c.id,
                name=c.name,
                status=c.status.value,
                reason=c.reason,
                trials_total=sum(counts.values()),
                trials_done=sum(n for s, n in counts.items() if s.is_final),
                by_status={k: v for k, v in by.items() if v},
                lease_holder=f"pid {c.lease_pid} on {c.lease_host}" if c.lease_token else None,
                heartbeat_age_s=None if c.lease_heartbeat is None else now - c.lease_heartbeat,
                flags=tuple(sorted(flags)),
                hint=hint,
                rerun_of=c.rerun_of,
            )
        )
    return views
