"""A long run's controls on real Docker, through the CLI as a user types it: `run campaign
--detach`, `logs -f` and `status` together; `hold` during the run leaves no fault and no
container and a `held` campaign that `resume` finishes with nothing run twice; SIGTERM stops
a detached run cleanly; `close` ends a held campaign and its analysis still works; `plan`
estimates from the trials that ran."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import pytest

from chaos_eval.images.build import BuildResult

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGN = ROOT / "tests" / "integration" / "campaigns" / "longrun.yaml"
pytestmark = pytest.mark.docker


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaos_eval", *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT,
    )  # fmt: skip


def wait_for(what: str, check: Callable[[], Any], timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def status(db: Path, cid: int) -> dict[str, Any]:
    res = cli("status", str(cid), "--db", str(db), "--format", "json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)[0]  # type: ignore[no-any-return]


def runner_pid(db: Path, cid: int) -> int:
    return int(db.with_name(f"{db.name}.campaign-{cid}.pid").read_text())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (our own child in this process) counts as gone
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def leftovers(db: Path, cid: int) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Containers/networks/volumes labelled with the campaign, and its open ledger rows."""
    con = sqlite3.connect(db)
    uid = con.execute("SELECT uid FROM campaigns WHERE id = ?", (cid,)).fetchone()[0]
    open_rows = con.execute(
        "SELECT id, kind FROM fault_ledger WHERE campaign_id = ? AND state != 'cleaned'", (cid,)
    ).fetchall()
    con.close()
    client = docker.from_env()
    flt = {"label": f"chaos-eval.campaign={uid}"}
    found = [c.name for c in client.containers.list(all=True, filters=flt)]
    found += [n.name for n in client.networks.list(filters=flt)]
    found += [v.name for v in client.volumes.list(filters=flt)]
    return found, open_rows


def trials(db: Path, cid: int) -> list[tuple[int, str, int]]:
    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT id, status, attempts FROM trials WHERE campaign_id = ? ORDER BY id", (cid,)
    ).fetchall()
    con.close()
    return rows


def test_detach_logs_status_hold_resume_plan(
    tmp_path: Path, built_images: dict[str, BuildResult]
) -> None:
    db = tmp_path / "eval.db"
    started = cli("run", "campaign", str(CAMPAIGN), "--db", str(db), "--detach")
    assert started.returncode == 0, started.stderr
    assert "campaign 1 runs in the background" in started.stdout
    assert "chaos-eval logs 1 -f" in started.stdout
    pid = runner_pid(db, 1)
    follower = subprocess.Popen(
        [sys.executable, "-m", "chaos_eval", "logs", "1", "-f", "--db", str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        snap = wait_for(
            "a running trial in status",
            lambda: (s := status(db, 1)["snapshot"]) and s["running"] and s,
            180,
        )
        assert snap["trials_total"] == 3 and snap["running"][0]["phase"]
        held = cli("hold", "1", "--db", str(db))
        assert held.returncode == 0 and "finishes its running trials" in held.stdout
        wait_for("the held runner to exit", lambda: not alive(pid), 240)
        log_text, _ = follower.communicate(timeout=30)
    finally:
        follower.kill()
    assert follower.returncode == 0
    assert "→ trial" in log_text and "held" in log_text  # the run's own lines, followed
    row = status(db, 1)
    assert row["status"] == "held" and row["lease_holder"] is None
    after_hold = trials(db, 1)
    assert "running" not in {s for _, s, _ in after_hold}
    assert "pending" in {s for _, s, _ in after_hold}  # never started
    assert leftovers(db, 1) == ([], [])  # no fault, no container, network or volume

    resumed = cli("resume", "1", "--db", str(db))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    final = trials(db, 1)
    assert {s for _, s, _ in final} == {"passed"}
    assert [a for _, _, a in final] == [1, 1, 1]  # nothing ran twice
    assert leftovers(db, 1) == ([], [])

    plan = cli("plan", str(CAMPAIGN), "--db", str(db), "--format", "json")
    assert plan.returncode == 0, plan.stderr
    data = json.loads(plan.stdout)
    assert data["what_runs"] == "continues campaign 1 (3 trials done)" and data["todo"] == 0
    assert data["cells"][0]["source"] == "history: median of 3 earlier trial(s)"
    assert {i["name"]: i["current"] for i in data["images"]} == {"etcd": True, "helper": True}


def test_sigterm_stops_a_detached_run_cleanly_then_hold_and_close(
    tmp_path: Path, built_images: dict[str, BuildResult]
) -> None:
    db = tmp_path / "eval.db"
    started = cli("run", "campaign", str(CAMPAIGN), "--db", str(db), "--detach")
    assert started.returncode == 0, started.stderr
    pid = runner_pid(db, 1)
    wait_for("a running trial", lambda: (s := status(db, 1)["snapshot"]) and s["running"], 180)
    os.kill(pid, signal.SIGTERM)
    wait_for("the runner to exit after SIGTERM", lambda: not alive(pid), 180)
    assert status(db, 1)["status"] == "interrupted"
    assert leftovers(db, 1) == ([], [])
    held = cli("hold", "1", "--db", str(db))
    assert held.returncode == 0 and "held (it was interrupted)" in held.stdout
    closed = cli("close", "1", "--reason", "integration test: enough", "--db", str(db))
    assert closed.returncode == 0, closed.stderr
    again = cli("close", "1", "--reason", "twice", "--db", str(db))
    assert again.returncode == 2 and "already closed" in again.stderr
    analyzed = cli("analyze", "1", "--db", str(db), "--format", "json")
    assert json.loads(analyzed.stdout)["campaign"]["status"] == "closed"
    assert "pending" in {s for _, s, _ in trials(db, 1)}  # its unstarted trials never ran
    refused = cli("resume", "1", "--db", str(db))
    assert refused.returncode == 2 and "is closed" in refused.stderr
