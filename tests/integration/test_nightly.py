"""The nightly on real Docker: a small etcd campaign in 2 shards via `scripts/nightly local`,
with shard 1 killed (SIGKILL) mid-trial first and continued by the local run. The merged db
holds exactly the unsharded expansion, analyze has every cell, the killed shard re-ran only
its own trials, and nothing labelled remains."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chaos_eval.images.build import BuildResult
from chaos_eval.spec.config import load_campaign
from chaos_eval.spec.matrix import expand
from chaos_eval.spec.shard import ShardSpec, shard_plan
from tests.integration.crash_support import (
    KILL_POINTS,
    STARTED,
    kill9,
    query,
    reap_and_collect,
    wait_for,
)
from tests.integration.leftovers import leftovers

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGN = ROOT / "tests" / "integration" / "campaigns" / "nightly.yaml"
pytestmark = pytest.mark.docker


def test_local_nightly_in_two_shards_survives_a_killed_shard(
    tmp_path: Path, built_images: dict[str, BuildResult]
) -> None:
    out = tmp_path / "night"
    out.mkdir()
    dbs = [out / f"shard-{i}-of-2.db" for i in (1, 2)]
    planned = [p for p, _ in expand(load_campaign(CAMPAIGN))]
    try:
        # shard 1, killed with SIGKILL while a fault is active
        proc = subprocess.Popen(
            [sys.executable, "-m", "chaos_eval", "run", "campaign", str(CAMPAIGN),
             "--db", str(dbs[0]), "--shard", "1/2", "--skip-image-build"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        STARTED.append(proc)
        point = next(k for k in KILL_POINTS if k.name == "while a fault is active")
        assert wait_for(dbs[0], point, 0, proc), "shard 1 finished before it could be killed"
        kill9(proc)
        killed = query(dbs[0], "SELECT key FROM trials WHERE status = 'running'")
        assert len(killed) == 1
        # the whole nightly on this machine: both shards (shard 1 continues), merge, gate
        res = subprocess.run(
            [str(ROOT / "scripts" / "nightly"), "local", "2", str(CAMPAIGN), "--out", str(out),
             "--jobs", "2"],
            cwd=ROOT, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert res.returncode == 0, res.stdout + res.stderr
        # shard 1 ran its own trials only (its share + its pilot baseline), each once more
        # for the killed one, and finished them all
        mine = {p.key for p in shard_plan(planned, ShardSpec(1, 2))}
        rows = query(dbs[0], "SELECT key, status, attempts FROM trials")
        assert {k for k, _, _ in rows} == mine
        assert all(s in ("passed", "failed") for _, s, _ in rows), rows
        assert {k: a for k, _, a in rows}[killed[0][0]] == 2
        assert sum(a for _, _, a in rows) == len(mine) + 1
        # the merge is exact: the unsharded expansion, each key once, with its provenance
        night = out / "night.db"
        merged = query(night, "SELECT key, shard, host FROM trials WHERE campaign_id = 1")
        assert sorted(k for k, _, _ in merged) == sorted(p.key for p in planned)
        assert {s for _, s, _ in merged} == {"1/2", "2/2"} and all(h for *_, h in merged)
        analysis = json.loads((out / "analysis.json").read_text())
        cells = {(c["fault"], json.dumps(c["params"], sort_keys=True)) for c in analysis["cells"]}
        assert cells == {(p.fault, p.params) for p in planned}
        assert all(c["errors"] == 0 for c in analysis["cells"])
        for name in ("junit.xml", "report.html", "summary.md"):
            assert (out / name).stat().st_size > 0
        # the same shards merged again add nothing
        again = subprocess.run(
            [sys.executable, "-m", "chaos_eval", "merge", "-o", str(night), *map(str, dbs),
             "--format", "json"], cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert again.returncode == 0 and json.loads(again.stdout)["trials_taken"] == 0
    finally:
        for db in dbs:
            reap_and_collect(db)
    for db in dbs:
        for (uid,) in query(db, "SELECT uid FROM campaigns"):
            assert leftovers("chaos-eval.campaign", uid) == []
