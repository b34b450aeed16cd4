"""RedisSubject on real Docker: the subject's own lifecycle, then the real trial machinery
(the CLI, in its own process) on a primary kill and a partitioned primary.

A killed primary must be failed over by the sentinels, with a measured recovery time. A
primary partitioned from its replicas and sentinels, while a client keeps writing to it
through its published port, acknowledges writes that the failover throws away: the
lost-write metric must find them, so that trial FAILS its max_lost_writes 0 SLO.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chaos_eval.engine.client import Docker
from chaos_eval.engine.compose import Compose
from chaos_eval.images.build import ensure_images
from chaos_eval.outcomes import OpOutcome
from chaos_eval.subject import LABEL_CAMPAIGN, LABEL_TRIAL, LeaderAware, Subject, TrialContext
from chaos_eval.subjects.redis.subject import RedisSubject
from tests.integration.leftovers import leftovers

# a whole campaign runs in a subprocess (bounded at 1200 s)
pytestmark = [pytest.mark.docker, pytest.mark.timeout(1500)]
ROOT = Path(__file__).resolve().parents[2]
HEALTHY_WITHIN_S = 90.0


@pytest.fixture(scope="module")
def redis_image() -> str:
    built = {r.name: r.ref for r in asyncio.run(ensure_images(["redis", "helper"], Docker()))}
    return built["redis"]


async def test_lifecycle_roles_leader_clients_and_teardown(redis_image: str) -> None:
    docker = Docker()
    ctx = TrialContext(900_000 + secrets.randbelow(99_999), secrets.token_hex(16), seed=1)
    subject = RedisSubject(ctx, docker, Compose(), image=redis_image, write_to="bound")
    assert isinstance(subject, Subject) and isinstance(subject, LeaderAware)
    try:
        await subject.up()
        health = await subject.wait_healthy(HEALTHY_WITHIN_S)
        assert health.healthy and health.leader == "redis1", health.reasons
        nodes = await subject.nodes()
        assert [(n.name, n.role) for n in nodes] == [
            ("redis1", "primary"), ("redis2", "replica"), ("redis3", "replica"),
            ("sentinel1", "sentinel"), ("sentinel2", "sentinel"), ("sentinel3", "sentinel")]
        assert all(n.endpoints[0].host == "127.0.0.1" and n.endpoints[0].protocol == "resp"
                   and n.address and n.data_volume for n in nodes)
        leader = await subject.leader("primary")
        assert leader is not None and leader.name == "redis1"
        assert await subject.leader("sentinel") is None
        state = await subject.state()
        assert state.leader == "redis1" and state.index is not None and state.term == 0

        by_name = {n.name: subject.client(n, 2.0) for n in nodes}
        try:
            # bound: a replica refuses writes (fail), the primary and sentinels' clients write
            assert await by_name["redis2"].put("k", "x") == (OpOutcome.FAIL, "readonly")
            assert await by_name["redis1"].put("k", "1") == (OpOutcome.OK, "")
            assert await by_name["sentinel2"].put("k", "2") == (OpOutcome.OK, "")
            res = await by_name["redis3"].get("k")  # durable reads go to the primary
            assert (res.outcome, res.value) == (OpOutcome.OK, "2")
        finally:
            for c in by_name.values():
                await c.aclose()
    finally:
        await subject.teardown()
    assert leftovers(LABEL_TRIAL, ctx.trial_key) == []


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaos_eval", *args], capture_output=True,
                          text=True, timeout=1200, cwd=ROOT)


@pytest.fixture(scope="module")
def campaign(redis_image: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run tests/integration/campaigns/redis.yaml once; its trials, ops and analysis."""
    db = tmp_path_factory.mktemp("redis") / "eval.db"
    run = _cli("run", "campaign", "tests/integration/campaigns/redis.yaml", "--db", str(db))
    assert run.returncode in (0, 1), run.stdout + run.stderr  # 1: a trial failed its SLO
    assert "Traceback" not in run.stderr
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    trials = {r["fault"]: dict(r) for r in con.execute("SELECT * FROM trials")}
    ops = {f: [dict(o) for o in con.execute("SELECT * FROM ops WHERE trial_id = ?",
                                            (t["id"],))] for f, t in trials.items()}
    (uid,) = con.execute("SELECT uid FROM campaigns WHERE id = 1").fetchone()
    con.close()
    analysis = _cli("analyze", "1", "--db", str(db), "--format", "json")
    assert analysis.returncode in (0, 1), analysis.stderr
    return {"trials": trials, "ops": ops, "uid": uid, "analysis": json.loads(analysis.stdout)}


def test_killed_primary_fails_over_with_a_measured_recovery(campaign: dict[str, Any]) -> None:
    t = campaign["trials"]["node_kill"]
    assert t["status"] in ("passed", "failed"), t["error"]  # never error / cleanup_failed
    assert json.loads(t["targets"]) == ["redis1"]
    proof = json.loads(t["proof"])
    assert proof["active"]["holds"] and proof["removed"]["holds"], proof
    assert proof["state_before"]["leader"] == "redis1"
    assert proof["state_after"]["leader"] in ("redis2", "redis3")  # the sentinels failed over
    assert proof["state_after"]["term"] >= 1  # a new config epoch
    assert t["recovery_s"] is not None and t["recovery_s"] > 0
    cell = next(c for c in campaign["analysis"]["cells"] if c["fault"] == "node_kill")
    assert cell["recovery_s"]["median"] == pytest.approx(t["recovery_s"])


def test_partitioned_primary_loses_acknowledged_writes(campaign: dict[str, Any]) -> None:
    t = campaign["trials"]["partition"]
    assert t["status"] == "failed", (t["status"], t["error"], t["reasons"])
    assert json.loads(t["targets"]) == ["redis1"]
    metrics = json.loads(t["measurements"])["metrics"]
    assert metrics["lost_writes"] > 0
    assert any("lost" in r for r in json.loads(t["reasons"]))
    ops = campaign["ops"]["partition"]
    lost = {o["key"] for o in ops if o["kind"] == "final_read" and o["error"] == "absent"}
    writers = {o["node"] for o in ops
               if o["kind"] == "write" and o["outcome"] == "ok" and o["key"] in lost}
    assert "redis1" in writers  # acknowledged by the old primary, then discarded
    cell = next(c for c in campaign["analysis"]["cells"] if c["fault"] == "partition")
    assert cell["lost_writes"] == metrics["lost_writes"]


def test_campaign_left_nothing_behind(campaign: dict[str, Any]) -> None:
    assert leftovers(LABEL_CAMPAIGN, campaign["uid"]) == []
