"""Re-running one trial on real Docker: a one-trial etcd campaign through the CLI, then the
re-run command `analyze` printed for it, pasted into bash as is. The rerun is a new campaign of
exactly that trial (same key, spec, seed, hence the same node killed); the original's records
are unchanged and nothing is left running."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import docker
import pytest

from chaos_eval.images.build import BuildResult

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGN = ROOT / "tests" / "integration" / "campaigns" / "rerun.yaml"
# a campaign and its rerun, each bounded at 600 s
pytestmark = [pytest.mark.docker, pytest.mark.timeout(1500)]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaos_eval", *args],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip


def records(db: Path, campaign_id: int) -> dict[str, list[tuple[Any, ...]]]:
    con = sqlite3.connect(db)
    try:
        return {
            table: con.execute(
                f"SELECT * FROM {table} WHERE {col} = ? ORDER BY rowid", (campaign_id,)
            ).fetchall()
            for table, col in (
                ("campaigns", "id"),
                ("trials", "campaign_id"),
                ("fault_ledger", "campaign_id"),
                ("events", "campaign_id"),
            )
        } | {
            "ops": con.execute(
                "SELECT COUNT(*) FROM ops JOIN trials ON trials.id = ops.trial_id"
                " WHERE trials.campaign_id = ?",
                (campaign_id,),
            ).fetchall()
        }
    finally:
        con.close()


def test_rerun_one_trial_by_the_printed_command(
    tmp_path: Path, built_images: dict[str, BuildResult]
) -> None:
    db = tmp_path / "results dir" / "eval.db"  # a space: the command must quote it
    db.parent.mkdir()
    spec = tmp_path / "rerun.yaml"
    shutil.copy(CAMPAIGN, spec)
    run = cli("run", "campaign", str(spec), "--db", str(db))
    assert run.returncode in (0, 1), run.stdout + run.stderr  # passed or missed its SLO
    assert "Traceback" not in run.stderr
    spec.unlink()  # a rerun needs only what the db recorded

    res = cli("analyze", "1", "--db", str(db), "--format", "json")
    assert res.returncode == 0, res.stderr
    (cell,) = json.loads(res.stdout)["cells"]
    (trial,) = cell["per_trial"]
    command = trial["rerun"]
    assert shlex.split(command) == ["chaos-eval", "rerun", "1", trial["key"], "--db", str(db)]
    before = records(db, 1)

    # pasted into bash as printed, with the venv's chaos-eval on PATH
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    again = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env
    )
    assert again.returncode in (0, 1), again.stdout + again.stderr
    assert f"re-running trial {trial['id']} of campaign 1" in again.stdout
    assert "campaign 2 (rerun-it) created: 0/1 trials done" in again.stdout

    assert records(db, 1) == before  # the original campaign is exactly as it was
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    orig, new = con.execute("SELECT * FROM campaigns ORDER BY id").fetchall()
    (was,) = con.execute("SELECT * FROM trials WHERE campaign_id = 1").fetchall()
    (now,) = con.execute("SELECT * FROM trials WHERE campaign_id = 2").fetchall()
    con.close()
    assert new["rerun_of"] == 1 and new["name"] == orig["name"]
    assert (new["spec_hash"], new["spec_json"], new["seed"]) == (
        orig["spec_hash"], orig["spec_json"], orig["seed"]
    )  # fmt: skip
    for col in ("key", "subject", "fault", "params", "target", "repetition", "seed"):
        assert now[col] == was[col], col
    assert now["status"] in ("passed", "failed") and now["attempts"] == 1
    # the same seed picked the same member to kill
    assert json.loads(now["targets"]) == json.loads(was["targets"]) != []
    assert json.loads(now["proof"])["removed"]["holds"]

    flt = {"label": f"chaos-eval.campaign={new['uid']}"}
    client = docker.from_env()
    assert client.containers.list(all=True, filters=flt) == []
    assert client.volumes.list(filters=flt) == []
