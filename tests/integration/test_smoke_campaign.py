"""The smoke campaign end to end through the real CLI, in its own process, on real Docker:
campaigns/smoke.yaml -> trials on a real 3-member etcd cluster -> eval.db -> analysis."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import docker
import pytest

from chaos_eval.images.build import BuildResult

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.docker


def cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaos_eval", *args], capture_output=True, text=True,
        timeout=timeout, cwd=ROOT,
    )


def test_smoke_campaign_end_to_end(tmp_path: Path, built_images: dict[str, BuildResult]) -> None:
    db = tmp_path / "eval.db"
    run = cli("run", "campaign", "campaigns/smoke.yaml", "--db", str(db))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stderr

    res = cli("analyze", "1", "--db", str(db), "--format", "json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["campaign"]["name"] == "smoke" and data["campaign"]["status"] == "finished"
    cells = {c["fault"]: c for c in data["cells"]}
    assert set(cells) == {"baseline", "node_kill", "latency"}
    assert cells["baseline"]["trials"] == 1
    for fault in ("node_kill", "latency"):
        c = cells[fault]
        assert c["trials"] == 2 and c["passed"] + c["failed"] == 2, c
        assert c["errors"] == 0 and c["cleanup_failed"] == 0, c
        rec = c["recovery_s"]
        assert rec["min"] is not None and rec["min"] <= rec["median"] <= rec["max"], rec
        assert c["lost_writes"] == 0
    # a killed follower costs availability on that member only: the cell saw failed ops
    assert cells["node_kill"]["availability"]["during"] < 1.0

    con = sqlite3.connect(db)
    (uid,) = con.execute("SELECT uid FROM campaigns WHERE id = 1").fetchone()
    proofs = [json.loads(p) for (p,) in con.execute(
        "SELECT proof FROM trials WHERE fault != 'baseline'")]
    con.close()
    assert all(p["active"]["holds"] and p["removed"]["holds"] for p in proofs)

    client = docker.from_env()
    flt = {"label": f"chaos-eval.campaign={uid}"}
    assert client.containers.list(all=True, filters=flt) == []
    assert client.networks.list(filters=flt) == []
    assert client.volumes.list(filters=flt) == []

    # running the same file again continues the (finished) campaign: nothing runs twice
    again = cli("run", "campaign", "campaigns/smoke.yaml", "--db", str(db))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "5/5 trials done" in again.stdout
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*), SUM(attempts) FROM trials").fetchone() == (5, 5)
    assert con.execute("SELECT COUNT(*) FROM campaigns").fetchone() == (1,)
    con.close()
