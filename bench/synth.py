"""Synthetic eval.db files for analysis at scale, written THROUGH the store's own API.

The campaign is bench/bench.yaml with `trials_per_combination` raised so that it expands
to about N trials (the real matrix expansion, keys and seeds: `run campaign` on the same
file resumes it, which is what resume planning is timed on). Every trial then goes
through the verbs a real run uses, in order: record_trial_started, record_targets, each
phase boundary, record_fault_planned / close_ledger (fault trials), record_trial_finished
with measurements shaped like the workload's metrics and a proof shaped like a real one
(snapshots before and after: most of a real row's bytes). Ops (the only per-op rows) are
recorded for the first K trials of each cell (K = --ops-trials, default 1: what `report`
charts by default); a real 100k-trial campaign would hold ~40M of them, which no read
command other than `report` touches.

Statuses and figures are drawn from a seeded RNG: ~90 % passed, 7 % failed, 2 % error,
1 % cleanup_failed. The campaign ends `finished`.

Usage: python -m bench.synth OUT.db --trials N [--seed S] [--ops-trials K]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from chaos_eval.outcomes import CampaignStatus, LedgerState, OpOutcome, TrialPhase, TrialStatus
from chaos_eval.run.resolve import resolve_campaign
from chaos_eval.spec.config import parse_campaign
from chaos_eval.store.store import Store

ROOT = Path(__file__).resolve().parents[1]
NODES = ("etcd1", "etcd2", "etcd3")
WINDOWS = ("before", "during", "active", "after")
MAX_PER_CELL = 10_000  # the config's bound on trials_per_combination


def measurements(rng: random.Random, fault: bool, status: TrialStatus) -> dict[str, Any]:
    def lat() -> dict[str, float]:
        return {"p50": rng.uniform(5, 60), "p99": rng.uniform(60, 400)}

    per_node = {
        n: {w: {"availability": rng.choice((1.0, 1.0, rng.random())), "fail": rng.randrange(5),
                "ok": rng.randrange(10, 40), "p50_ms": rng.uniform(5, 60),
                "p99_ms": rng.uniform(60, 400), "unknown": rng.randrange(3)} for w in WINDOWS}
        for n in NODES
    }
    lost = 1 if status == TrialStatus.FAILED and rng.random() < 0.3 else 0
    injected = rng.uniform(10, 14)
    return {
        "checks": {"max_lost_writes": "fail" if lost else "pass", "max_recovery_s": "pass"},
        "healthy_after_s": rng.uniform(4, 9),
        "inject_s": rng.uniform(0.5, 4) if fault else None,
        "cleanup_s": rng.uniform(0.1, 2) if fault else None,
        "verify_removed_s": rng.uniform(0.1, 3) if fault else None,
        "metrics": {
            "acked_writes": rng.randrange(80, 160),
            "availability": {w: rng.choice((1.0, rng.random())) for w in WINDOWS},
            "counts": {w: {"fail": rng.randrange(5), "ok": rng.randrange(10, 100),
                           "unknown": rng.randrange(3)} for w in WINDOWS},
            "errors": {}, "latency_ms": {w: lat() for w in WINDOWS},
            "lost_keys": [f"k{rng.randrange(10**6)}"] if lost else [], "lost_writes": lost,
            "per_node": per_node, "unexpected_values": 0, "unverified_writes": 0,
            "workload_recovery_from_injection_s": None, "workload_recovery_s": None,
        },
        "ops": rng.randrange(250, 350), "wall_s": rng.uniform(20, 33),
        "window": {"active_from": None, "active_to": None, "injected_at": injected,
                   "removed_at": injected + 5 + rng.random()},
    }


def proof(rng: random.Random) -> dict[str, Any]:
    node = {"state": "running", "qdiscs": ["noqueue dev lo root refcnt 2",
                                           "noqueue dev eth0 root refcnt 2"],
            "rules": [], "fill_files": [], "size_bytes": 268435456,
            "free_bytes": 268435456 - rng.randrange(10**7), "errors": []}
    snap = {"nodes": dict.fromkeys(NODES, node), "helpers": [], "seconds": rng.uniform(1, 4),
            "errors": []}
    member = json.dumps({"applied_index": rng.randrange(10**4), "db_size": 65536, "errors": [],
                         "leader": str(rng.getrandbits(63)), "raft_term": 2, "version": "3.4.23"})
    state = {"extra": dict.fromkeys(NODES, member), "index": rng.randrange(10**4),
             "leader": rng.choice(NODES), "members": list(NODES), "term": 2}
    return {"state_before": state, "state_after": state, "snapshot_before": snap,
            "snapshot_after": snap, "snapshot_diff": [],
            "active": {"holds": True, "summary": "observed from outside", "figures": {}},
            "removed": {"holds": True, "summary": "back to baseline", "figures": {}}}


def draw_status(rng: random.Random) -> TrialStatus:
    x = rng.random()
    if x < 0.90:
        return TrialStatus.PASSED
    if x < 0.97:
        return TrialStatus.FAILED
    return TrialStatus.ERROR if x < 0.99 else TrialStatus.CLEANUP_FAILED


async def generate(out: Path, n: int, seed: int, ops_trials: int) -> tuple[int, Path]:
    raw = yaml.safe_load((ROOT / "bench" / "bench.yaml").read_text())
    extra = 50  # more cells (latency at other delays) when one cell may not hold n / cells
    while n // len(raw["chaos_types"]) > MAX_PER_CELL:
        raw["chaos_types"].append(
            {"type": "latency", "target": "follower", "params": {"delay_ms": extra}})
        extra += 50
    raw["trials_per_combination"] = max(1, n // len(raw["chaos_types"]))
    raw["name"] = f"synth-{n}"
    raw["max_trials"] = max(n + 1000, 10_000)  # above the config's default cap on purpose
    cfg_path = out.with_suffix(".yaml")
    cfg_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    cfg = parse_campaign(raw, str(cfg_path))
    rng = random.Random(seed)
    store = await Store.open(out)
    try:
        res = await resolve_campaign(store, cfg, str(cfg_path), ["bench.synth"], new=True)
        cid = res.campaign.id
        charted: dict[tuple[str, str], int] = {}
        for i, t in enumerate(await store.trials(cid)):
            fault = t.fault != "baseline"
            attempt = await store.record_trial_started(t.id)
            for phase in (TrialPhase.CLUSTER_UP, TrialPhase.HEALTHY, TrialPhase.WARMUP):
                await store.record_phase(t.id, phase)
            status = draw_status(rng)
            if fault:
                await store.record_targets(t.id, [rng.choice(NODES)])
                ledger = await store.record_fault_planned(
                    t.id, kind=t.fault, description=f"{t.fault} on a follower",
                    targets=["c0ffee"], undo="[]")
                await store.record_phase(t.id, TrialPhase.FAULT_ACTIVE, "observed")
                state = (LedgerState.CLEANUP_FAILED if status == TrialStatus.CLEANUP_FAILED
                         else LedgerState.CLEANED)
                await store.close_ledger(ledger, state)
                await store.record_phase(t.id, TrialPhase.FAULT_REMOVED, "back to baseline")
            for phase in (TrialPhase.RECOVERY, TrialPhase.MEASURED, TrialPhase.TORN_DOWN):
                await store.record_phase(t.id, phase)
            cell = (t.fault, t.params)
            if charted.get(cell, 0) < ops_trials:
                charted[cell] = charted.get(cell, 0) + 1
                await store.record_ops(t.id, attempt, list(ops(rng)))
            await store.record_trial_finished(
                t.id, status, recovery_s=rng.uniform(0.2, 6) if fault else rng.uniform(0, 0.5),
                measurements=measurements(rng, fault, status), proof=proof(rng),
                reasons=["lost 1 acknowledged write"] if status == TrialStatus.FAILED else [],
                error="DockerError: synthetic" if status == TrialStatus.ERROR else "")
            if i % 5000 == 4999:
                print(f"  {i + 1} trials", file=sys.stderr)
        await store.set_campaign_status(cid, CampaignStatus.FINISHED)
    finally:
        await store.close()
    return cid, cfg_path


class SynthOp:
    """An op record (the store's OpRecord shape)."""

    def __init__(self, i: int, rng: random.Random) -> None:
        self.kind = "write" if i % 2 else "read"
        self.node = NODES[i % 3]
        self.key = f"k{i}"
        self.start = i * 0.05
        self.end = self.start + rng.uniform(0.002, 0.08)
        self.outcome = OpOutcome.OK if rng.random() < 0.95 else OpOutcome.UNKNOWN
        self.error = ""


def ops(rng: random.Random, n: int = 400) -> list[SynthOp]:
    return [SynthOp(i, rng) for i in range(n)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="the eval.db to create (must not exist)")
    ap.add_argument("--trials", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ops-trials", type=int, default=1, help="trials per cell given ops")
    args = ap.parse_args()
    if args.out.exists():
        print(f"{args.out}: exists; refusing to add to it", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    cid, cfg = asyncio.run(generate(args.out, args.trials, args.seed, args.ops_trials))
    print(f"{args.out}: campaign {cid} from {cfg}, {time.monotonic() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
