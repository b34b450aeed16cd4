"""Campaign status: progress, lease, and the `stale` / `stuck` flags.

- stale: marked running, but its lease heartbeat is older than the stale window: the runner
  died. Resume it with `eval resume ID`.
- stuck: interrupted or aborted and untouched for longer than `stuck_after_s` (24 h by
  default): a forgotten campaign someone should resume or close.
- held: held (`chaos-eval hold`) for longer than `held_window_s` (24 h by default): an
  operator's pause that sits forgotten; the hint says how to resume or close it.
A running campaign also carries its snapshot (rates, ETA, drift alarms:
chaos_eval.analysis.snapshot).
A held campaign flagged by `chaos-eval watch` (once per hold episode, chaos_eval.analysis.held)
says so. Flags are computed on every call and never recorded by status: it opens the db
read-only (it must not take the write lock a live runner needs, nor change a db it only
reads). What a flag means is in the rows it is computed from; the runner that acts on a
campaign (resume, gc) records what it does as events.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from chaos_eval.analysis.held import hold_episode
from chaos_eval.analysis.sampling import (
    ended_cells,
    sampled_cells_of,
    samples_line,
    trials_to_come,
)
from chaos_eval.analysis.snapshot import Snapshot, snapshot_of
from chaos_eval.commands import cli_command
from chaos_eval.errors import ConfigError
from chaos_eval.outcomes import CampaignStatus, TrialStatus
from chaos_eval.spec.matrix import recorded_config
from chaos_eval.store.leases import LEASE_STALE_S, heartbeat_fresh
from chaos_eval.store.records import CampaignRow, TrialRow
from chaos_eval.store.store import Store

STUCK_AFTER_S = 24 * 3600.0
HELD_WINDOW_S = 24 * 3600.0


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
    snapshot: Snapshot | None = None  # a running campaign's rates, ETA and drift alarms
    held_flagged_at: float | None = None  # `chaos-eval watch` flagged this hold episode then
    samples: str = ""  # a sampled campaign: how many cells have ended

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
            "snapshot": None if self.snapshot is None else self.snapshot.to_json(),
            "held_flagged_at": self.held_flagged_at,
        } | ({"samples": self.samples} if self.samples else {})


def flags_for(
    c: CampaignRow,
    now: float,
    stale_after_s: float = LEASE_STALE_S,
    stuck_after_s: float = STUCK_AFTER_S,
    held_window_s: float = HELD_WINDOW_S,
) -> dict[str, str]:
    """Flag name -> the episode key (when the condition began). Pure."""
    out: dict[str, str] = {}
    if c.status == CampaignStatus.RUNNING and not heartbeat_fresh(c, now, stale_after_s):
        out["stale"] = f"{c.lease_heartbeat or c.updated_at:.3f}"
    idle = now - c.updated_at >= stuck_after_s
    if c.status in (CampaignStatus.INTERRUPTED, CampaignStatus.ABORTED) and idle:
        out["stuck"] = f"{c.updated_at:.3f}"
    if c.status == CampaignStatus.HELD and idle_for(c, now) >= held_window_s:
        out["held"] = f"{c.updated_at:.3f}"
    return out


def idle_for(c: CampaignRow, now: float) -> float:
    return now - c.updated_at


def hint_for(c: CampaignRow, flags: dict[str, str], db: Path) -> str:
    resume = cli_command("resume", c.id, "--db", db)
    if c.status == CampaignStatus.HELD:
        close = cli_command("close", c.id, "--reason", "TEXT", "--db", db)
        return f"resume with: {resume}; or close it with: {close}"
    if "stale" in flags or c.status in (CampaignStatus.INTERRUPTED, CampaignStatus.ABORTED):
        return f"resume with: {resume}"
    return ""


async def _snapshot(store: Store, c: CampaignRow, trials: list[TrialRow],
                    progress: dict[int, float], now: float) -> Snapshot | None:
    if c.status != CampaignStatus.RUNNING:
        return None
    try:
        cfg = recorded_config(c.spec_json, f"campaign {c.id}")
    except ConfigError:
        return None
    cells = sampled_cells_of(cfg) if c.rerun_of is None else {}
    to_come = trials_to_come(cells, trials, await ended_cells(store, c.id)) if cells else 0
    return snapshot_of(cfg, trials, progress, now, to_come)


async def campaign_status(
    store: Store,
    campaign_id: int | None = None,
    *,
    stuck_after_s: float = STUCK_AFTER_S,
    held_window_s: float = HELD_WINDOW_S,
) -> list[CampaignStatusView]:
    if campaign_id is not None:
        rows = [await store.campaign(campaign_id)]
    else:
        rows = await store.campaigns()
    now = time.time()
    views = []
    for c in rows:
        counts = await store.trial_counts(c.id)  # counted in SQL: 100k trials stay cheap
        by = {s.value: counts.get(s, 0) for s in TrialStatus}
        flags = flags_for(c, now, stuck_after_s=stuck_after_s, held_window_s=held_window_s)
        episode = await hold_episode(store, c.id) if c.status == CampaignStatus.HELD else None
        if episode is not None:  # held since the hold began, not since the last write
            flags.pop("held", None)
            if episode.held_for(now) >= held_window_s:
                flags["held"] = episode.key
        hint = hint_for(c, flags, store.path)
        if episode is not None and episode.flagged is not None:
            hint += " (flagged by `chaos-eval watch`)"
        running = c.status == CampaignStatus.RUNNING  # only a running one has a snapshot
        trials = await store.trials(c.id) if running else []
        progress = await store.last_progress(c.id) if running else {}
        snap = await _snapshot(store, c, trials, progress, now)
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
                flags=tuple(sorted({*flags, *(a.kind for a in snap.alarms)} if snap else flags)),
                hint=hint,
                rerun_of=c.rerun_of,
                snapshot=snap,
                held_flagged_at=episode.flagged.at if episode and episode.flagged else None,
                samples=await samples_line(store, c),
            )
        )
    return views
