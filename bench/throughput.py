"""Benchmark: trials per hour for a campaign at several `parallel` settings (the curve).

Runs the campaign (default bench/bench.yaml) once per setting, each into a fresh database,
and prints per setting the campaign's wall time (first trial started -> last finished),
trials per hour, the ratio to the first setting, and the median trial wall and overhead
(the price of running trials side by side on a small machine). Writes
bench/results/throughput-<time>.json. Or give it the phase reports of runs already made
(`python -m bench.phases --parallel N`) with --from-reports.

Usage: python -m bench.throughput [CAMPAIGN.yaml] [--parallel 1 2 4]
       python -m bench.throughput --from-reports P1.json P2.json P4.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.phases import RESULTS, ROOT, read_report, run_campaign


def curve(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    base = reports[0]["trials_per_hour"]
    return [{"parallel": r["parallel"], "trials": r["trials"], "statuses": r["statuses"],
             "campaign_wall_s": r["campaign_wall_s"], "trials_per_hour": r["trials_per_hour"],
             "vs_first": round(r["trials_per_hour"] / base, 2) if base else None,
             "trial_wall_median_s": r["overall"]["wall"]["median"],
             "overhead_median_s": r["overall"]["overhead"]["median"]} for r in reports]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("campaign", nargs="?", default=str(ROOT / "bench" / "bench.yaml"))
    ap.add_argument("--parallel", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--from-reports", type=Path, nargs="+", default=None)
    args = ap.parse_args()
    reports = []
    if args.from_reports:
        reports = [json.loads(p.read_text()) for p in args.from_reports]
    else:
        for n in args.parallel:
            db = Path(tempfile.mkdtemp(prefix="chaos-eval-tput-")) / "eval.db"
            _, _, code = run_campaign(Path(args.campaign), db, n)
            if code not in (0, 1):
                return code
            reports.append(asyncio.run(read_report(db)))
    rows = curve(reports)
    for r in rows:
        print(f"parallel {r['parallel']}: {r['trials']} trials in {r['campaign_wall_s']}s, "
              f"{r['trials_per_hour']} trials/h ({r['vs_first']}x), trial wall median "
              f"{r['trial_wall_median_s']}s, overhead median {r['overhead_median_s']}s")
    out = RESULTS / f"throughput-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
