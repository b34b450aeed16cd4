"""The runner's progress as plain timestamped lines, one per event: all a pipe or a CI log
sees, and what scrolls above the live dashboard (eval/cli/live.py) on a terminal."""

from __future__ import annotations

import time
from typing import Any

from rich.markup import escape

from chaos_eval.cli.boundary import out
from chaos_eval.outcomes import TrialStatus
from chaos_eval.store.records import trial_label

# what the runner says of itself, by event (chaos_eval.run.campaign)
RUNNER_EVENTS = {
    "held": "[yellow]held[/]: running trials finish, no new trial starts",
    "interrupting": "[yellow]interrupting[/]: running trials remove their faults and tear "
                    "their clusters down (interrupt again to skip the teardown)",
    "engine_lost": "[yellow]waiting[/]: the Docker engine does not answer; the next trial "
                   "waits for it",
    "hurrying": "[yellow]hurrying[/]: faults are still removed; clusters are left for resume "
                "or gc",
}
COLOURS = {"passed": "green", "failed": "red", "error": "yellow"}


def progress_line(event: str, row: Any, status: TrialStatus | None) -> None:
    """Print one timestamped line for a runner event or a trial's start or end."""
    label = escape(trial_label(row)) if row else ""
    at = f"[dim]{time.strftime('%H:%M:%S')}[/] "
    if event in RUNNER_EVENTS:
        out.print(at + RUNNER_EVENTS[event])
    elif event == "started":
        out.print(at + f"[dim]→ trial {row.id} {label}[/]")
    elif status is not None:
        colour = COLOURS.get(status.value, "red")
        out.print(at + f"[{colour}]{status.value:>14}[/] trial {row.id} {label}")
