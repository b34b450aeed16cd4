"""Benchmark: trials per hour for a campaign at several `parallel` settings (the curve).

Runs the campaign (default bench/bench.yaml) once per setting, each into a fresh database,
and prints per setting the campaign's wall time (first trial started -> last finished),
trials per hour, the ratio to the first setting, and the median trial wall and overhead
(the price of running trials side by side on a small machine), and the whole host's CPU
seconds per trial and busy share over the run (what bounds the curve on a small host; other
work on the host counts too). `--warm-pool N` runs each setting with warm_pool min(N,
parallel). Writes
bench/results/throughput-<time>.json. Or give it the phase reports of runs already made
(`python -m bench.phases --parallel N`) with --from-reports.

Usage: python -m bench.throughput [CAMPAIGN.yaml] [--parallel 1 2 4] [--warm-pool N]
       python -m bench.throughput --from-reports P1.json P2.json P4.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.phases import RESULTS, ROOT, read_report, run_campaign


def host_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole host since boot, from /proc/stat (every core;
    busy is everything but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    total = sum(fields[:8])
    return (total - fields[3] - fields[4]) / hz, total / hz


def curve(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    base = reports[0]["trials_per_hour"]
    return [{"parallel": r["parallel"], "warm_pool": r.get("warm_pool", 0),
             "host_cpu_s_per_trial": r.get("host_cpu_s_per_trial"),
             "host_busy": r.get("host_busy"),
             "trials": r["trials"], "statuses": r["statuses"],
             "campaign_wall_s": r["campaign_wall_s"], "trials_per_hour": r["trials_per_hour"],
             "vs_first": round(r["trials_per_hour"] / base, 2) if base else None,
             "trial_wall_median_s": r["overall"]["wall"]["median"],
             "overhead_median_s": r["overall"]["overhead"]["median"]} for r in reports]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("campaign", nargs="?", default=str(ROOT / "bench" / "bench.yaml"))
    ap.add_argument("--parallel", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--warm-pool", type=int, default=None, help="override the file's warm_pool")
    ap.add_argument("--from-reports", type=Path, nargs="+", default=None)
    args = ap.parse_args()
    reports = []
    if args.from_reports:
        reports = [json.loads(p.read_text()) for p in args.from_reports]
    else:
        for n in args.parallel:
            db = Path(tempfile.mkdtemp(prefix="chaos-eval-tput-")) / "eval.db"
            busy0, total0 = host_cpu()
            _, _, code = run_campaign(Path(args.campaign), db, n,
                                      None if args.warm_pool is None else min(args.warm_pool, n))
            busy, total = host_cpu()
            if code not in (0, 1):
                return code
            report = asyncio.run(read_report(db))
            report["host_cpu_s_per_trial"] = round((busy - busy0) / report["trials"], 2)
            report["host_busy"] = round((busy - busy0) / (total - total0), 3)
            reports.append(report)
    rows = curve(reports)
    for r in rows:
        print(f"parallel {r['parallel']} (warm pool {r['warm_pool']}): {r['trials']} trials in "
              f"{r['campaign_wall_s']}s, {r['trials_per_hour']} trials/h ({r['vs_first']}x), "
              f"trial wall median {r['trial_wall_median_s']}s, overhead median "
              f"{r['overhead_median_s']}s; host CPU {r['host_cpu_s_per_trial']} s per trial, "
              f"host busy {r['host_busy']}")
    out = RESULTS / f"throughput-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
