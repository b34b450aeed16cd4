"""Benchmark: the same experiment in Chaos Toolkit and in chaos-eval, side by side.

The experiment: on a three-member etcd cluster (the project's compose cluster), kill a
follower, hold HOLD_S, restart it, verify the cluster is healthy. Each tool's wall time
beyond the configured hold (and, for chaos-eval, the warm-up) is its overhead.

Chaos Toolkit (`chaos run`, installed by hand into bench/.ctk-venv, not a project
dependency: `python3 -m venv bench/.ctk-venv && bench/.ctk-venv/bin/pip install
chaostoolkit`) gets one cluster brought up by chaos-eval's etcd subject and, per round, an
experiment file: steady state = every member answers `etcdctl endpoint health` (process
probes through `docker exec`; a restarted member's published port changes, so a fixed
URL cannot follow it); method = `docker kill` the follower, pause HOLD_S, `docker start`
it, then a process that polls every member's health (30 s deadline); steady state again.
It checks: each member's health before and after. Nothing else: no workload, no
proof the fault took effect beyond docker's exit code, no record of what it changed, no
proof of removal, no cleanup if it is interrupted between kill and start.

chaos-eval runs bench/ctk.yaml (the same fault on a follower, same hold, warm-up 0) through
its CLI: a fresh cluster per trial, a workload with linearizable reads and a final read of
every write, the fault observed from outside, a ledger row before injection, the fault's
proof of removal plus before/after snapshots of every node, recovery observed, verdict.

Usage: python -m bench.ctk [--rounds N] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.phases import RESULTS, ROOT, read_report, run_campaign
from chaos_eval.engine.client import Docker
from chaos_eval.engine.compose import Compose
from chaos_eval.images.recipes import image_ref
from chaos_eval.subject import LABEL_TRIAL, TrialContext
from chaos_eval.subjects.etcd.subject import EtcdSubject

HOLD_S = 5.0
CHAOS = ROOT / "bench" / ".ctk-venv" / "bin" / "chaos"
ETCDCTL = ("etcdctl", "--endpoints=http://127.0.0.1:2379", "--command-timeout=1s",
           "endpoint", "health")
# Poll every member (docker exec etcdctl endpoint health) until all are healthy, 30 s at
# most. From inside: a restarted member's ephemeral host port changes, so a fixed URL in an
# experiment file cannot follow it.
WAIT_HEALTHY = (
    "import subprocess, sys, time\n"
    "deadline = time.monotonic() + float(sys.argv[1])\n"
    "for c in sys.argv[2:]:\n"
    f"    argv = ['docker', 'exec', c, *{ETCDCTL!r}]\n"
    "    while subprocess.run(argv, capture_output=True).returncode:\n"
    "        if time.monotonic() > deadline: sys.exit(1)\n"
    "        time.sleep(0.1)\n"
)


def experiment(container: str, members: list[str]) -> dict[str, Any]:
    healthy = [{"type": "probe", "name": f"health-{i}", "tolerance": 0,
                "provider": {"type": "process", "path": "docker",
                             "arguments": ["exec", c, *ETCDCTL]}}
               for i, c in enumerate(members)]
    return {
        "title": "kill an etcd follower, hold, restart, verify healthy",
        "description": "bench/ctk.py",
        "steady-state-hypothesis": {"title": "every member healthy", "probes": healthy},
        "method": [
            {"type": "action", "name": "kill-follower", "pauses": {"after": HOLD_S},
             "provider": {"type": "process", "path": "docker", "arguments": ["kill", container]}},
            {"type": "action", "name": "restart-follower",
             "provider": {"type": "process", "path": "docker", "arguments": ["start", container]}},
            {"type": "probe", "name": "wait-healthy", "tolerance": 0,
             "provider": {"type": "process", "path": sys.executable,
                          "arguments": ["-c", WAIT_HEALTHY, "30", *members]}},
        ],
        "rollbacks": [],
    }


async def ctk_rounds(rounds: int) -> dict[str, Any]:
    docker = Docker()
    ctx = TrialContext(900_000 + secrets.randbelow(99_999), secrets.token_hex(16), seed=1)
    subject = EtcdSubject(ctx, docker, Compose(), image=image_ref("etcd"))
    walls: list[float] = []
    statuses: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="chaos-eval-ctk-"))
    t0 = time.monotonic()
    try:
        await subject.up()
        health = await subject.wait_healthy(120)
        up_s = time.monotonic() - t0
        assert health.healthy, health.reasons
        for i in range(rounds):
            await subject.wait_healthy(120)
            nodes = await subject.nodes()
            leader = (await subject.state()).leader
            follower = next(n for n in nodes if n.name != leader)
            exp = work / f"round{i}.json"
            members = [n.container_id for n in nodes]
            exp.write_text(json.dumps(experiment(follower.container_id, members)))
            journal = work / f"journal{i}.json"
            t = time.monotonic()
            subprocess.run([str(CHAOS), "--no-log-file", "run", "--journal-path", str(journal),
                            str(exp)], cwd=work, capture_output=True, text=True)
            walls.append(time.monotonic() - t)
            statuses.append(json.loads(journal.read_text()).get("status", "?"))
            print(f"ctk round {i + 1}: {walls[-1]:.2f}s {statuses[-1]}", file=sys.stderr)
    finally:
        t = time.monotonic()
        await subject.teardown()
        await docker.remove_labelled(await docker.labelled(LABEL_TRIAL, ctx.trial_key))
        down_s = time.monotonic() - t
    over = [w - HOLD_S for w in walls]
    return {"rounds": rounds, "statuses": statuses, "wall_s": [round(w, 3) for w in walls],
            "overhead_median_s": round(statistics.median(over), 3),
            "cluster_up_s": round(up_s, 3), "cluster_down_s": round(down_s, 3),
            "overhead_with_cluster_s": round(statistics.median(over) + up_s + down_s, 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=None)
    ap.add_argument("--ctk-only", action="store_true", help="skip the chaos-eval campaign")
    args = ap.parse_args()
    if not CHAOS.exists():
        print(f"{CHAOS}: missing; see the module docstring for the install line", file=sys.stderr)
        return 2
    ctk = asyncio.run(ctk_rounds(args.rounds))
    if args.ctk_only:
        print(json.dumps(ctk, indent=2))
        return 0
    db = Path(tempfile.mkdtemp(prefix="chaos-eval-ctk-")) / "eval.db"
    _, wall, code = run_campaign(ROOT / "bench" / "ctk.yaml", db, None)
    if code not in (0, 1):
        return code
    ce = asyncio.run(read_report(db))
    ours = ce["overall"]["overhead"]["median"]
    report = {"hold_s": HOLD_S, "chaostoolkit": ctk, "chaos_eval": {
        "trials": ce["trials"], "statuses": ce["statuses"], "campaign_wall_s": round(wall, 1),
        "overhead_median_s": ours, "phases": {k: v["median"] for k, v in ce["overall"].items()}},
        "ratio_vs_ctk_round": round(ours / ctk["overhead_median_s"], 2),
        "ratio_vs_ctk_with_cluster": round(ours / ctk["overhead_with_cluster_s"], 2)}
    out = Path(args.out) if args.out else RESULTS / f"ctk-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
