"""A sampled campaign on real etcd, run in a real terminal (tmux, screens captured as it runs):
the bars count samples toward each cell's target (pause 0/2 -> 1/2 -> 2/2; node_kill out of
4), the run ends by itself once every cell has ended, `analyze` says which rule ended each
cell (pause: its target; node_kill: its pass-rate stopping rule after 2 samples), and a
resume of the finished campaign starts nothing."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chaos_eval.images.build import BuildResult
from tests.integration.tmux_support import ROOT, run_campaign_in_tmux

CAMPAIGN = ROOT / "tests" / "integration" / "campaigns" / "samples.yaml"
pytestmark = pytest.mark.docker


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaos_eval", *args], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)


def test_a_sampled_campaign_ends_when_every_cell_has(
    tmp_path: Path, built_images: dict[str, BuildResult]
) -> None:
    assert shutil.which("tmux"), "tmux is needed (apt-get install -y tmux)"
    db = tmp_path / "eval.db"
    started = time.monotonic()
    screens = run_campaign_in_tmux(CAMPAIGN, db, name="samples", width=160, deadline_s=600,
                                   scrollback=300)
    wall = time.monotonic() - started
    bar = re.compile(r"^etcd / pause\s.*\s([0-2])/2\b")
    seen = list(dict.fromkeys(m.group(1) for s in screens for line in s.splitlines()
                              if (m := bar.search(line))))
    assert seen == ["0", "1", "2"], "\n=====\n".join(screens[-3:])
    assert any(re.search(r"^etcd / node_kill \(signal=SIGKILL\)\s.*\s\d/4\b", line)
               for s in screens for line in s.splitlines()), screens[-1]
    assert any("samples per cell" in s for s in screens)

    res = cli("analyze", "1", "--db", str(db), "--format", "json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["campaign"]["status"] == "finished"
    cells = {c["fault"]: c for c in data["cells"]}
    assert "ended" not in cells["baseline"]
    assert cells["pause"]["ended"] == "target met (2/2)" and cells["pause"]["trials"] == 2
    assert cells["node_kill"]["ended"] == (
        "stopping rule: pass-rate 95% CI width 0.66 < 0.7 after 2")
    # a trial in flight when the rule fired finishes and is kept: at most one more
    assert 2 <= cells["node_kill"]["trials"] <= 3
    table = cli("analyze", "1", "--db", str(db)).stdout
    assert "etcd / pause: target met (2/2)" in table

    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT fault, status, finished_at - started_at FROM trials").fetchall()
        n_events = con.execute("SELECT COUNT(*) FROM events WHERE kind = 'cell_ended'").fetchone()
    assert n_events == (2,)
    figures = {f: [round(d, 1) for g, _, d in rows if g == f] for f in ("pause", "node_kill")}
    print(f"\nsamples-it: wall {wall:.0f}s; trial seconds per cell {figures}; "
          f"statuses {sorted({s for _, s, _ in rows})}")

    res = cli("resume", "1", "--db", str(db))  # a finished sampled campaign: nothing more runs
    assert res.returncode == 0, res.stderr + res.stdout
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM trials").fetchone() == (len(rows),)
        assert con.execute("SELECT COUNT(*) FROM events WHERE kind = 'cell_ended'"
                           ).fetchone() == (2,)
