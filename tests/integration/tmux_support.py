"""A chaos-eval campaign run in a real terminal: tmux, its screen captured about once a
second until the run ends (the pane stays open after it, `remain-on-exit`), then once more
with scrollback. What the dashboard tests read their bars and lines from."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def tmux(*args: str) -> str:
    return subprocess.run(
        ["tmux", *args], capture_output=True, text=True, check=True, timeout=30
    ).stdout


def run_campaign_in_tmux(
    campaign: Path, db: Path, *, name: str, width: int, deadline_s: float, scrollback: int
) -> list[str]:
    """Every screen captured while `chaos-eval run campaign` ran in a `width`-column terminal,
    the last with `scrollback` lines; AssertionError if the run outlives `deadline_s`."""
    session = f"chaos-eval-{name}-{uuid.uuid4().hex[:8]}"
    tmux("new-session", "-d", "-s", session, "-x", str(width), "-y", "45", "-c", str(ROOT),
         "--", sys.executable, "-m", "chaos_eval", "run", "campaign", str(campaign),
         "--db", str(db))
    tmux("set-option", "-t", session, "remain-on-exit", "on")
    screens: list[str] = []
    try:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            screens.append(tmux("capture-pane", "-p", "-t", session))
            if tmux("display-message", "-p", "-t", session, "#{pane_dead}").strip() == "1":
                screens.append(tmux("capture-pane", "-p", "-S", f"-{scrollback}", "-t",
                                    session))
                return screens
            time.sleep(1)  # the capture rate, not a synchronisation
        raise AssertionError(f"the campaign {campaign.name} did not end within {deadline_s} s")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False, timeout=30)
