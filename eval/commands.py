"""The commands chaos-eval prints for the user to paste: pure functions from arguments to one
bash line, every argument shell-quoted. Analysis, render, run and cli all print them, so they
live here, below all four (stdlib only)."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path

CLI = "chaos-eval"  # never `eval`: in bash that is a builtin, not this program


def cli_command(*args: str | int | Path) -> str:
    """A chaos-eval command line that pastes into bash: every argument shell-quoted."""
    return shlex.join([CLI, *(str(a) for a in args)])


def rerun_command(campaign_id: int, trial_key: str, db: str | Path | None = None) -> str:
    """The command that re-runs one trial of a campaign (`--db` only when a db is named)."""
    return cli_command("rerun", campaign_id, trial_key, *(("--db", db) if db is not None else ()))


def rerun_commands(campaign_id: int, db: str | Path | None = None) -> Callable[[str], str]:
    """`rerun_command` for many trials of one campaign: what they share is quoted once."""
    head = cli_command("rerun", campaign_id)
    tail = "" if db is None else " " + shlex.join(["--db", str(db)])
    return lambda key: f"{head} {shlex.quote(key)}{tail}"
