"""Undo what a dead run left behind: its open fault-ledger rows (the one loop that undoes
them, for resume and `eval gc` alike), its labelled resources, its `running` rows. Whether a
run is dead is eval/store/leases.py's to say."""

from __future__ import annotations

from chaos_eval.cleanup.undo import run_undo
from chaos_eval.engine.client import Docker
from chaos_eval.errors import ParameterError
from chaos_eval.fault import undo_plan_from_json
from chaos_eval.outcomes import LedgerState
from chaos_eval.store.records import LedgerRow
from chaos_eval.store.store import Store
from chaos_eval.subject import LABEL_CAMPAIGN


async def undo_open_ledger(
    store: Store, docker: Docker, campaign_id: int, label: str, *, event: str = ""
) -> list[tuple[LedgerRow, list[str]]]:
    """Run the undo plan of every open ledger row of the campaign (helpers labelled with its
    `label`) and close each row `cleaned`, or `cleanup_failed` when some action could not be
    completed; with `event`, record one event of that kind per row (the problems, or the
    row's description). Returns each row with its problems."""
    done: list[tuple[LedgerRow, list[str]]] = []
    for row in await store.open_ledger(campaign_id):
        try:
            plan = undo_plan_from_json(row.undo)
        except ParameterError as e:  # not an undo plan the harness wrote: run none of it
            problems = [f"ledger row {row.id}: refused: {e}"]
        else:
            problems = await run_undo(
                docker, plan, {LABEL_CAMPAIGN: label, "chaos-eval.role": "helper"}
            )
        await store.close_ledger(
            row.id, LedgerState.CLEANED if not problems else LedgerState.CLEANUP_FAILED
        )
        if event:
            await store.event(
                campaign_id, event, "; ".join(problems) or row.description, trial_id=row.trial_id
            )
        done.append((row, problems))
    return done


async def repair(store: Store, docker: Docker, campaign_id: int) -> dict[str, int]:
    """Undo what a dead run left behind: open ledger rows, labelled resources, running rows."""
    label = (await store.campaign(campaign_id)).uid
    undone = await undo_open_ledger(store, docker, campaign_id, label, event="ledger_repaired")
    failed = sum(1 for _, problems in undone if problems)
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
        "ledger_undone": len(undone) - failed,
        "ledger_failed": failed,
        "interrupted": interrupted,
        "containers_removed": len(leftovers.containers),
    }
