"""`eval gc`: remove what dead campaigns left behind.

A labelled resource (container, network, volume) is garbage when the campaign named by its
`chaos-eval.campaign` label is in this database and is not live (not running, or running
with a stale lease or a dead holder). Open fault-ledger rows of dead campaigns are undone
first. Resources of campaigns this database does not know belong to another database: they
are listed and left alone unless `include_foreign` is set.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from chaos_eval.cleanup.repair import undo_open_ledger
from chaos_eval.engine.client import Docker
from chaos_eval.engine.containers import Labelled
from chaos_eval.outcomes import CampaignStatus
from chaos_eval.store.leases import lease_is_live
from chaos_eval.store.records import CampaignRow
from chaos_eval.store.store import Store
from chaos_eval.subject import LABEL_CAMPAIGN


@dataclass(frozen=True)
class GcItem:
    campaign_label: str
    campaign_id: int | None  # None: not in this database
    resources: Labelled
    open_ledger: int
    action: str  # "remove" | "skip: live" | "skip: foreign"


def is_live(c: CampaignRow, now: float) -> bool:
    """Running, under a live lease."""
    return c.status == CampaignStatus.RUNNING and lease_is_live(c, now)


async def plan_gc(store: Store, docker: Docker, *, include_foreign: bool) -> list[GcItem]:
    now = time.time()
    campaigns = {c.uid: c for c in await store.campaigns()}
    groups = await docker.label_values(LABEL_CAMPAIGN)
    items = []
    for label in sorted(set(groups) | {c.uid for c in campaigns.values()}):
        res = groups.get(label, Labelled((), (), ()))
        c = campaigns.get(label)
        ledger = len(await store.open_ledger(c.id)) if c else 0
        if res.empty and not ledger:
            continue
        if c is None:
            action = "remove" if include_foreign else "skip: foreign (not in this database)"
        elif is_live(c, now):
            action = "skip: live"
        else:
            action = "remove"
        items.append(GcItem(label, c.id if c else None, res, ledger, action))
    return items


async def run_gc(store: Store, docker: Docker, items: list[GcItem]) -> int:
    """Undo open ledger rows and remove resources of every item marked `remove`."""
    removed = 0
    for item in items:
        if item.action != "remove":
            continue
        if item.campaign_id is not None:
            await undo_open_ledger(store, docker, item.campaign_id, item.campaign_label)
            await store.event(item.campaign_id, "gc", f"{item.resources}")
        await docker.remove_labelled(item.resources)
        removed += 1
    return removed
