"""`chaos-eval watch`: flag held campaigns that sit forgotten past a window, once per hold
episode (chaos_eval.analysis.held), recorded as a `held_flagged` event so `status` can say it
was flagged and a second watcher (or the next pass) does not flag it again."""

from __future__ import annotations

from dataclasses import dataclass

from chaos_eval.analysis.held import HELD_FLAGGED, HoldEpisode, hold_episode
from chaos_eval.outcomes import CampaignStatus
from chaos_eval.store.records import CampaignRow
from chaos_eval.store.store import Store


@dataclass(frozen=True)
class HeldFlag:
    campaign: CampaignRow
    episode: HoldEpisode
    held_s: float
    new: bool  # this pass recorded the flag


async def watch_held(store: Store, window_s: float, now: float) -> list[HeldFlag]:
    """One pass over the db's campaigns: every held one past the window, its flag recorded
    if this episode had none."""
    out = []
    for c in await store.campaigns():
        if c.status != CampaignStatus.HELD:
            continue
        ep = await hold_episode(store, c.id)
        if ep is None or ep.held_for(now) < window_s:
            continue
        held = ep.held_for(now)
        new = ep.flagged is None and await store.event_once(
            c.id, HELD_FLAGGED, ep.key, f"held {held:.0f}s, past the window of {window_s:.0f}s")
        out.append(HeldFlag(c, ep, held, new))
    return out
