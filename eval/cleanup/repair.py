"""Undo what a dead run left behind, and tell a dead lease holder from a live one."""

from __future__ import annotations

import os
import socket

from eval.cleanup.undo import run_undo
from eval.engine.client import Docker
from eval.fault import undo_plan_from_json
from eval.outcomes import LedgerState
from eval.store.records import CampaignRow
from eval.store.store import Store
from eval.subject import LABEL_CAMPAIGN


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def holder_is_dead(c: CampaignRow) -> bool:
    """A lease held by a process on this host that no longer exists is dead, however fresh its
    heartbeat: a runner killed with SIGKILL can be resumed at once, not 30 s later."""
    return (
        c.lease_pid is not None
        and c.lease_host == socket.gethostname()
        and not pid_alive(c.lease_pid)
    )


async def repair(store: Store, docker: Docker, campaign_id: int) -> dict[str, int]:
    """Undo what a dead run left behind: open ledger rows, labelled resources, running rows."""
    label = (await store.campaign(campaign_id)).uid
    undone = failed = 0
    for row in await store.open_ledger(campaign_id):
        problems = await run_undo(
            docker,
            undo_plan_from_json(row.undo),
            {LABEL_CAMPAIGN: label, "chaos-eval.role": "helper"},
        )
        await store.close_ledger(
            row.id, LedgerState.CLEANED if not problems else LedgerState.CLEANUP_FAILED
        )
        await store.event(
            campaign_id,
            "ledger_repaired",
            "; ".join(problems) or row.description,
            trial_id=row.trial_id,
        )
        undone += 1 if not problems else 0
        failed += 1 if problems else 0
    leftovers = await docker.labelled(LABEL_CAMPAIGN, label)
    if not leftovers.empty:
        await docker.remove_labelled(leftovers)
        await store.event(
            campaign_id,
            "resources_removed",
            f"{len(leftovers.containers)} containers, {len(leftovers.networks)} networks, "
            f"{len(leftovers.volumes)} volumes",
        )
    interrupted = await store.mark_running_interrupted(campaign_id)
    return {
        "ledger_undone": undone,
        "ledger_failed": failed,
        "interrupted": interrupted,
        "containers_removed": len(leftovers.containers),
    }
