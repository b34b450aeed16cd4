"""An operator's hand on a campaign: hold it (no new trial starts; a live runner lets its
running trials finish, then stops), close it (it ends `closed`; its unstarted trials never
run; its analysis still works), and what `resume` and `run campaign FILE` may continue.

A hold reaches a live runner through the db: the runner polls its campaign's status at its
heartbeat (eval/run/watch.py). Every move is one atomic transaction (Store.move_campaign), so
a hold and a runner's last word cannot both win (Store.end_campaign_run keeps the hold).
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

from chaos_eval.commands import cli_command
from chaos_eval.errors import CampaignStateError, LeaseHeldError
from chaos_eval.outcomes import CampaignStatus
from chaos_eval.store.leases import lease_is_live
from chaos_eval.store.records import CampaignRow
from chaos_eval.store.store import Store

S = CampaignStatus
HOLDABLE = frozenset({S.RUNNING, S.INTERRUPTED, S.ABORTED})
CLOSABLE = frozenset({S.HELD, S.INTERRUPTED, S.ABORTED, S.RUNNING})  # running: no live runner


@dataclass(frozen=True)
class HoldResult:
    campaign: CampaignRow  # as it was before the hold
    live_runner: bool  # a runner is still finishing its running trials


def _by() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()}"


def _refuse(row: CampaignRow, verb: str) -> CampaignStateError:
    why = {
        S.HELD: "it is already held",
        S.CLOSED: f"it is already closed ({row.reason})" if row.reason else "it is closed",
        S.FINISHED: "it has finished",
    }.get(row.status, f"it is {row.status.value}")
    return CampaignStateError(f"cannot {verb} campaign {row.id} ({row.name}): {why}")


async def hold_campaign(store: Store, campaign_id: int) -> HoldResult:
    """Hold a running, interrupted or aborted campaign. CampaignStateError otherwise."""
    before = await store.move_campaign(
        campaign_id, S.HELD, allowed=HOLDABLE, reason=f"held by {_by()}"
    )
    if before.status not in HOLDABLE:
        raise _refuse(before, "hold")
    live = before.status == S.RUNNING and lease_is_live(before, time.time())
    return HoldResult(before, live)


async def close_campaign(store: Store, campaign_id: int, reason: str) -> CampaignRow:
    """Close a campaign nothing is running: held, interrupted, aborted, or running with a dead
    runner. A live runner: LeaseHeldError (hold it first). Returns the row before."""
    if not reason.strip():
        raise CampaignStateError("--reason: say why the campaign is closed (it is recorded)")
    row = await store.campaign(campaign_id)
    if row.status == S.RUNNING and lease_is_live(row, time.time()):
        raise LeaseHeldError(
            f"campaign {campaign_id} is running (pid {row.lease_pid} on {row.lease_host}); "
            f"hold it first ({cli_command('hold', campaign_id, '--db', store.path)}), "
            "then close it"
        )
    before = await store.move_campaign(
        campaign_id, S.CLOSED, allowed=CLOSABLE, reason=reason.strip()
    )
    if before.status not in CLOSABLE:
        raise _refuse(before, "close")
    return before


def check_resumable(row: CampaignRow) -> None:
    """`resume` continues anything but a closed campaign."""
    if row.status == S.CLOSED:
        raise CampaignStateError(
            f"campaign {row.id} ({row.name}) is closed ({row.reason}); nothing more runs in "
            "it. Its results: chaos-eval analyze " + str(row.id)
        )


def continues(latest: CampaignRow) -> bool:
    """Whether `run campaign FILE` continues `latest` (its spec unchanged): not when it is
    closed (a new campaign starts); a held one must be resumed or closed, not run over."""
    if latest.status == S.HELD:
        raise CampaignStateError(
            f"campaign {latest.id} ({latest.name}) is held; continue it with "
            f"`chaos-eval resume {latest.id}`, or close it (`chaos-eval close {latest.id} "
            "--reason TEXT`) and run the file again for a fresh campaign"
        )
    return latest.status != S.CLOSED
