"""The trials that did not pass, and the lines that tell a terminal how to re-run each one
(the commands themselves are eval/commands.py)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from chaos_eval.analysis.analyze import TrialBrief
from chaos_eval.commands import cli_command, rerun_command
from chaos_eval.outcomes import TrialStatus
from chaos_eval.store.records import trial_label

NOT_PASSED = frozenset({TrialStatus.FAILED, TrialStatus.ERROR, TrialStatus.CLEANUP_FAILED})


def not_passed(trials: Iterable[TrialBrief]) -> list[TrialBrief]:
    """The trials that ended without passing (failed, error, cleanup_failed), in run order."""
    return sorted((t for t in trials if t.status in NOT_PASSED), key=lambda t: t.ordinal)


def rerun_lines(
    campaign_id: int, trials: Iterable[TrialBrief], db: str | Path | None, limit: int = 10
) -> list[str]:
    """Plain text for a terminal: each trial that did not pass (at most `limit`) and, on a line
    of its own, the bash command that re-runs it. [] when every trial passed."""
    bad = not_passed(trials)
    if not bad:
        return []
    lines = ["re-run a trial that did not pass (a new one-trial campaign, same key and seed):"]
    for t in bad[:limit]:
        lines.append(f"  {t.status.value}: trial {t.id}, {trial_label(t)}")
        lines.append(f"    {rerun_command(campaign_id, t.key, db)}")
    if len(bad) > limit:
        db_args = ("--db", db) if db is not None else ()
        every = cli_command("analyze", campaign_id, *db_args, "--format", "json")
        lines.append(f"  ({len(bad) - limit} more; every trial's command: {every})")
    return lines
