"""The live dashboard on a real terminal: a real etcd campaign run inside tmux, its screen
captured as it runs (capture-pane): the cell's bar moves 0/2 -> 1/2 -> 2/2, the running
trial shows its phase, the totals line its rates and ETA; piped, the same run prints plain
timestamped lines (tests/unit/cli/test_control.py covers that without Docker)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import docker
import pytest

from chaos_eval.images.build import BuildResult

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGN = ROOT / "tests" / "integration" / "campaigns" / "dashboard.yaml"
pytestmark = pytest.mark.docker


def tmux(*args: str) -> str:
    return subprocess.run(
        ["tmux", *args], capture_output=True, text=True, check=True, timeout=30
    ).stdout


def test_dashboard_bars_move_in_a_real_terminal(
    tmp_path: Path, built_images: dict[str, BuildResult]
) -> None:
    assert shutil.which("tmux"), "tmux is needed (apt-get install -y tmux)"
    session = f"chaos-eval-dash-{uuid.uuid4().hex[:8]}"
    db = tmp_path / "eval.db"
    tmux("new-session", "-d", "-s", session, "-x", "150", "-y", "45", "-c", str(ROOT), "--",
         sys.executable, "-m", "chaos_eval", "run", "campaign", str(CAMPAIGN), "--db", str(db))
    tmux("set-option", "-t", session, "remain-on-exit", "on")
    screens: list[str] = []
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            screens.append(tmux("capture-pane", "-p", "-t", session))
            if tmux("display-message", "-p", "-t", session, "#{pane_dead}").strip() == "1":
                screens.append(tmux("capture-pane", "-p", "-S", "-200", "-t", session))
                break
            time.sleep(1)
        else:
            raise AssertionError("the campaign did not end within 300 s")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False, timeout=30)
    bar = re.compile(r"^etcd / node_kill \(signal=SIGKILL\)\s.*\s([012])/2\b")
    counts = [m.group(1) for s in screens for line in s.splitlines() if (m := bar.search(line))]
    seen = list(dict.fromkeys(counts))  # the order the cell's bar showed its counts in
    assert seen == ["0", "1", "2"], "\n=====\n".join(screens[-3:])
    live = [s for s in screens if "campaign 1 · dashboard-it" in s]
    assert live, screens[-1]
    assert any("running trial" in s and re.search(r"\b(healthy|warmup|fault_active|recovery|"
                                                  r"cluster_up|started|fault_removed)\b", s)
               for s in live)
    assert any("trials/h" in s and "ETA" in s and "failure rate" in s for s in live)
    assert re.search(r"\d\d:\d\d:\d\d .*passed trial 2", screens[-1])  # lines above it
    uid = subprocess.run(
        [sys.executable, "-c", f"import sqlite3; print(sqlite3.connect({str(db)!r})"
         ".execute('SELECT uid FROM campaigns').fetchone()[0])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    left = docker.from_env().containers.list(
        all=True, filters={"label": f"chaos-eval.campaign={uid}"}
    )
    assert left == []
