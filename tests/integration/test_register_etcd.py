"""The register workload on a real 3-member etcd cluster, through the real CLI: with
linearizable reads a partitioned follower leaves a linearizable history; with `read:
serializable` a cut-off follower answers stale reads and the checker names the key and the
operations. The failed trial's bundle is re-checked offline (no Docker reachable) with the
same verdict."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml

from chaos_eval.images.build import BuildResult

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.docker


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaos_eval", *args], capture_output=True, text=True,
        timeout=900, cwd=ROOT, env=env,
    )


def campaign(tmp_path: Path, name: str, read: str, trials: int) -> Path:
    doc: dict[str, Any] = {
        "name": name, "seed": 7, "subjects": ["etcd"], "include_baseline": False,
        "chaos_types": [{"type": "partition", "target": "follower",
                         "params": {"shape": "isolate"}}],
        "trials_per_combination": trials, "parallel": 2,
        "timing": {"warmup_s": 2, "fault_duration_s": 4, "recovery_timeout_s": 60},
        "workload": {"kind": "register", "keys": 2, "clients_per_node": 2, "rate_per_s": 40,
                     "op_timeout_s": 1, "read_fraction": 0.6, "cas_fraction": 0.2,
                     "read": read},
        "slo": {"max_recovery_s": 30, "linearizable": True},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def histories(db: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    res = cli("analyze", "1", "--db", str(db), "--format", "json")
    assert res.returncode in (0, 1), res.stderr
    (cell,) = json.loads(res.stdout)["cells"]
    return cell, cell["histories"]


def test_linearizable_reads_stay_linearizable_serializable_reads_go_stale(
    tmp_path: Path, built_images: dict[str, BuildResult]
) -> None:
    lin_db = tmp_path / "lin.db"
    run = cli("run", "campaign", str(campaign(tmp_path, "reg-lin", "linearizable", 1)),
              "--db", str(lin_db))
    assert run.returncode == 0, run.stdout + run.stderr
    cell, counts = histories(lin_db)
    assert counts == {"linearizable": 1, "not_linearizable": 0, "unknown": 0}, cell["reasons"]

    ser_db = tmp_path / "ser.db"
    run = cli("run", "campaign", str(campaign(tmp_path, "reg-ser", "serializable", 2)),
              "--db", str(ser_db))
    assert "Traceback" not in run.stderr
    cell, counts = histories(ser_db)
    assert counts["not_linearizable"] >= 1, cell
    stale = [r for r in cell["reasons"] if r.startswith("history not linearizable: read of")]
    assert stale and "chaos-eval/" in stale[0] and "op #" in stale[0], cell["reasons"]
    failed = next(t for t in cell["per_trial"] if t["status"] == "failed")

    bundle = tmp_path / "failed.tar.gz"
    res = cli("bundle", "1", failed["key"], "-o", str(bundle), "--db", str(ser_db))
    assert res.returncode == 0, res.stderr
    with tarfile.open(bundle) as tar:
        names = set(tar.getnames())
    assert {"trial.json", "history.jsonl", "rerun.txt", "compose.yaml"} <= names, names
    assert {"logs/etcd1.log", "logs/etcd2.log", "logs/etcd3.log"} <= names, names
    offline = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    res = cli("check", str(bundle), "--format", "json", env=offline)
    assert res.returncode == 1, res.stdout + res.stderr
    out = json.loads(res.stdout)
    assert out["verdict"] == out["recorded"] == "not_linearizable"
    assert out["key"].startswith("chaos-eval/") and out["window"]

    for db in (lin_db, ser_db):
        con = sqlite3.connect(db)
        (uid,) = con.execute("SELECT uid FROM campaigns WHERE id = 1").fetchone()
        con.close()
        flt = {"label": f"chaos-eval.campaign={uid}"}
        assert docker.from_env().containers.list(all=True, filters=flt) == []
