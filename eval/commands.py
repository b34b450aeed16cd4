"""The commands chaos-eval prints for the user to paste: pure functions from arguments to one
bash line, every argument shell-quoted. Analysis, render, run and cli all print them, so they
live here, below all four (stdlib only)."""

from __future__ import annotations

import shlex
from pathlib import Path

CLI = "chaos-eval"  # never `eval`: in bash that is a builtin, not this program


def cli_command(*args: str | int | Path) -> str:
    """A chaos-eval command line that pastes into bash: every argument shell-quoted."""
    return shlex.join([CLI, *(str(a) for a in args)])


def rerun_command(campaign_id: int, trial_key: str, db: str | Path | None = None) -> str:
    """The command that re-runs one trial of a campaign (`--db` only when a db is named)."""
    return cli_command("rerun", campaign_id, trial_key, *(("--db", db) if db is not None else ()))
