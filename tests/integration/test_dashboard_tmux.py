"""The live dashboard on a real terminal: a real etcd campaign run inside tmux, its screen
captured as it runs (capture-pane): the cell's bar moves 0/2 -> 1/2 -> 2/2, the running
trial shows its phase, the totals line its rates and ETA; piped, the same run prints plain
timestamped lines (tests/unit/cli/test_control.py covers that without Docker)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import docker
import pytest

from chaos_eval.images.build import BuildResult
from tests.integration.tmux_support import ROOT, run_campaign_in_tmux

CAMPAIGN = ROOT / "tests" / "integration" / "campaigns" / "dashboard.yaml"
pytestmark = pytest.mark.docker


def test_dashboard_bars_move_in_a_real_terminal(
    tmp_path: Path, built_images: dict[str, BuildResult]
) -> None:
    assert shutil.which("tmux"), "tmux is needed (apt-get install -y tmux)"
    db = tmp_path / "eval.db"
    screens = run_campaign_in_tmux(CAMPAIGN, db, name="dash", width=150, deadline_s=300,
                                   scrollback=200)
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
