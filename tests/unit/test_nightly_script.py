"""scripts/nightly gate, through the real CLI on dbs generated through the store: a night
whose cell recovers much slower than the previous night's trips the gate (exit 1) naming the
cell, opens nothing by itself, and writes the summary, JUnit and report; an unchanged night
passes. Also the workflow-facing steps' bad input."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tarfile
from pathlib import Path

from chaos_eval.outcomes import TrialStatus
from chaos_eval.spec.config import parse_campaign
from chaos_eval.spec.matrix import campaign_seed, expand, spec_hash, spec_json
from chaos_eval.spec.shard import ShardSpec, shard_plan
from chaos_eval.store.store import Store

ROOT = Path(__file__).resolve().parents[2]
NIGHTLY = ROOT / "scripts" / "nightly"
SPEC = {
    "name": "n",
    "subjects": ["etcd"],
    "chaos_types": [{"type": "partition", "target": "follower", "params": {"shape": "isolate"}}],
    "trials_per_combination": 5,
    "include_baseline": False,
}


async def shard_db(path: Path, recoveries: list[float], failed: int = 0) -> None:
    """A finished shard 1/1 whose trials recovered in `recoveries` seconds (the first
    `failed` of them missed their SLO)."""
    cfg = parse_campaign(SPEC, "mem")
    planned = shard_plan([p for p, _ in expand(cfg)], ShardSpec(1, 1))
    async with await Store.open(path) as store:
        cid = await store.create_campaign(
            name=cfg.name, spec_hash=spec_hash(cfg), spec_json=spec_json(cfg),
            config_path="mem.yaml", seed=campaign_seed(cfg), harness_version="t", git_sha="g",
            argv=["t"], trials=planned, shard="1/1",
        )  # fmt: skip
        for i, (t, rec) in enumerate(zip(await store.trials(cid), recoveries, strict=True)):
            await store.record_trial_started(t.id)
            metrics = {"availability": {"during": 0.9, "after": 1.0}, "lost_writes": 0}
            status = TrialStatus.FAILED if i < failed else TrialStatus.PASSED
            await store.record_trial_finished(
                t.id, status, recovery_s=rec, measurements={"metrics": metrics},
                proof={}, reasons=["recovery too slow"] if i < failed else [],
            )  # fmt: skip


def nightly(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NIGHTLY), *args], capture_output=True, text=True, cwd=ROOT, timeout=300,
        env={**os.environ, **(env or {})}, check=False,
    )  # fmt: skip


def test_gate_names_the_regressed_cell(tmp_path: Path) -> None:
    asyncio.run(shard_db(tmp_path / "mon.db", [1.1, 1.3, 0.9, 1.2, 1.0]))
    asyncio.run(shard_db(tmp_path / "tue.db", [4.1, 3.9, 4.4, 4.0, 4.2]))
    asyncio.run(shard_db(tmp_path / "wed.db", [1.0, 1.2, 1.1, 0.9, 1.3]))
    (tmp_path / "mon").mkdir()
    mon = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "chaos-eval"), "merge", "-o",
         str(tmp_path / "mon" / "night.db"), str(tmp_path / "mon.db")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert mon.returncode == 0, mon.stderr
    summary = tmp_path / "summary.md"
    tue = nightly("gate", "--out", str(tmp_path / "tue"), "--previous",
                  str(tmp_path / "mon" / "night.db"), str(tmp_path / "tue.db"),
                  env={"GITHUB_STEP_SUMMARY": str(summary)})  # fmt: skip
    assert tue.returncode == 1, tue.stdout + tue.stderr
    assert "GATE: regressed: etcd / partition (shape=isolate)" in tue.stderr
    assert "etcd / partition (shape=isolate)" in (tmp_path / "tue" / "regression.md").read_text()
    assert "REGRESSION" in summary.read_text()  # the job summary
    for name in ("junit.xml", "report.html", "trend.md", "trend.html", "compare.json"):
        assert (tmp_path / "tue" / name).stat().st_size > 0
    # a night like the one before passes the gate
    wed = nightly("gate", "--out", str(tmp_path / "wed"), "--previous",
                  str(tmp_path / "mon" / "night.db"), str(tmp_path / "wed.db"))  # fmt: skip
    assert wed.returncode == 0, wed.stderr
    assert not (tmp_path / "wed" / "regression.md").exists()
    report = json.loads((tmp_path / "wed" / "compare.json").read_text())
    assert report["regressions"] == 0 and len(report["cells"]) == 1


def test_workflow_steps_refuse_bad_input(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = nightly("ci-plan", env={"SHARDS": "0", "GITHUB_OUTPUT": str(out)})
    assert res.returncode == 2 and "SHARDS='0'" in res.stderr
    res = nightly("ci-plan", env={"CAMPAIGN": "/etc/passwd", "GITHUB_OUTPUT": str(out)})
    assert res.returncode == 2 and "not a campaign file under campaigns/" in res.stderr
    res = nightly("ci-plan", env={"SHARDS": "3", "GITHUB_OUTPUT": str(out)})
    assert res.returncode == 0 and out.read_text() == "shards=[1, 2, 3]\n"
    res = nightly("shard", "3/2", "campaigns/nightly.yaml", str(tmp_path / "x.db"))
    assert res.returncode == 2 and "--shard" in res.stdout + res.stderr
    assert not (tmp_path / "x.db").exists()
    key = nightly("image-key")
    assert key.returncode == 0 and key.stdout.startswith("chaos-eval-images-")


def test_the_gate_bundles_every_trial_that_did_not_pass(tmp_path: Path) -> None:
    asyncio.run(shard_db(tmp_path / "thu.db", [9.0, 8.0, 1.0, 1.1, 0.9], failed=2))
    thu = nightly("gate", "--out", str(tmp_path / "thu"), str(tmp_path / "thu.db"))
    assert thu.returncode == 1, thu.stdout + thu.stderr  # two trials missed their SLO
    bundles = sorted((tmp_path / "thu" / "bundles").glob("*.tar.gz"))
    assert len(bundles) == 2
    with tarfile.open(bundles[0]) as tar:
        names = tar.getnames()
    assert any(n.endswith("trial.json") for n in names), names
    assert "2 failure bundle(s)" in (tmp_path / "thu" / "summary.md").read_text()
