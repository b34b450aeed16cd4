"""Hold episodes: an operator's pause (`chaos-eval hold`) from the hold until the campaign is
resumed (its lease taken again) or closed. `chaos-eval watch` flags an episode that sits
forgotten past a window, once, as a `held_flagged` event naming the episode (the id of the
event that began it); `status` shows whether the current episode was flagged. Pure over a
campaign's events (the kinds in EPISODE_KINDS), in id order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chaos_eval.store.records import EventRow
from chaos_eval.store.store import Store

HELD_FLAGGED = "held_flagged"
BEGINS = "campaign_held"
ENDS = ("lease_acquired", "lease_taken_over", "campaign_closed", "campaign_finished")
EPISODE_KINDS = (BEGINS, *ENDS, HELD_FLAGGED)


@dataclass(frozen=True)
class HoldEpisode:
    began: EventRow  # the `campaign_held` event that began it
    flagged: EventRow | None  # its `held_flagged` event, once watch flagged it

    @property
    def key(self) -> str:
        return f"episode {self.began.id}"

    def held_for(self, now: float) -> float:
        return now - self.began.at


def current_episode(events: Sequence[EventRow]) -> HoldEpisode | None:
    """The hold episode the campaign is in (None: not held). A runner that finishes its
    running trials under a hold writes `campaign_held` again: still the same episode."""
    began: EventRow | None = None
    flagged: EventRow | None = None
    for e in sorted(events, key=lambda e: e.id):
        if e.kind == BEGINS and began is None:
            began, flagged = e, None
        elif e.kind in ENDS:
            began, flagged = None, None
        elif e.kind == HELD_FLAGGED and began is not None and e.detail.startswith(
            f"episode {began.id} |"
        ):
            flagged = e
    return None if began is None else HoldEpisode(began, flagged)


async def hold_episode(store: Store, campaign_id: int) -> HoldEpisode | None:
    """The campaign's current hold episode, from its events (None: not held)."""
    events: list[EventRow] = []
    for kind in EPISODE_KINDS:
        events += await store.events(campaign_id, kind)
    return current_episode(events)
