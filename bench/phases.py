"""Benchmark: where a trial's time goes, measured on real etcd clusters.

Runs bench/bench.yaml (or the campaign given) through the CLI into a fresh database, then
reads the phase timings the trial lifecycle records and prints medians (and min/max):

- up -> healthy: compose up until the first passing health probe (write + linearizable read)
- inject latency: decision to inject until the fault is observed from outside
- cleanup latency: cleanup_chaos until it returns (the fault is physically gone)
- verify removed: the proof of removal (snapshot/RTT/connectivity re-check)
- recovery: fault gone -> cluster healthy again
- per-trial overhead: trial wall time minus its configured phases (warm-up, hold) and its
  measured recovery; i.e. what the harness itself costs per trial

Usage: python bench/phases.py [CAMPAIGN.yaml] [--db PATH] [--json]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def spread(xs: list[float]) -> dict[str, float | int | None]:
    if not xs:
        return {"n": 0, "median": None, "min": None, "max": None}
    return {"n": len(xs), "median": round(statistics.median(xs), 3), "min": round(min(xs), 3),
            "max": round(max(xs), 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("campaign", nargs="?", default=str(ROOT / "bench" / "bench.yaml"))
    ap.add_argument("--db", default=None, help="reuse/keep this database")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    db = Path(args.db or Path(tempfile.mkdtemp(prefix="chaos-eval-bench-")) / "eval.db")
    cfg = yaml.safe_load(Path(args.campaign).read_text())
    timing = cfg.get("timing", {})
    warmup, hold = float(timing.get("warmup_s", 5)), float(timing.get("fault_duration_s", 10))

    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "eval", "run", "campaign", args.campaign,
                          "--db", str(db)], cwd=ROOT, capture_output=True, text=True)
    campaign_wall = time.monotonic() - started
    if run.returncode not in (0, 1):
        print(run.stdout, run.stderr, file=sys.stderr)
        return run.returncode

    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT fault, status, recovery_s, measurements FROM trials WHERE campaign_id ="
        " (SELECT MAX(id) FROM campaigns)").fetchall()
    by_fault: dict[str, dict[str, list[float]]] = {}
    overall: dict[str, list[float]] = {"up_to_healthy_s": [], "overhead_s": []}
    for fault, _status, recovery, raw in rows:
        m = json.loads(raw)
        f = by_fault.setdefault(fault, {k: [] for k in (
            "inject_s", "cleanup_s", "verify_removed_s", "recovery_s", "wall_s")})
        for k in ("inject_s", "cleanup_s", "verify_removed_s", "wall_s"):
            if m.get(k) is not None:
                f[k].append(float(m[k]))
        if recovery is not None:
            f["recovery_s"].append(float(recovery))
        if m.get("healthy_after_s") is not None:
            overall["up_to_healthy_s"].append(float(m["healthy_after_s"]))
        if m.get("wall_s") is not None and recovery is not None:
            overall["overhead_s"].append(float(m["wall_s"]) - warmup - hold - float(recovery))
    report = {
        "campaign": args.campaign, "db": str(db), "trials": len(rows),
        "campaign_wall_s": round(campaign_wall, 1),
        "statuses": {s: sum(1 for r in rows if r[1] == s) for s in {r[1] for r in rows}},
        "overall": {k: spread(v) for k, v in overall.items()},
        "per_fault": {f: {k: spread(v) for k, v in d.items()} for f, d in by_fault.items()},
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['trials']} trials in {report['campaign_wall_s']}s; {report['statuses']}")
    for k, v in report["overall"].items():
        print(f"  {k:18} median {v['median']}s  (min {v['min']}, max {v['max']}, n={v['n']})")
    for fault, d in report["per_fault"].items():
        cols = "  ".join(f"{k.removesuffix('_s')} {v['median']}" for k, v in d.items())
        print(f"  {fault:10} medians (s): {cols}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
