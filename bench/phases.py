"""Benchmark: where a trial's time goes, per lifecycle phase, on real clusters.

Runs bench/bench.yaml (or the campaign given) through the CLI into a fresh database (or
reads an existing one with --from-db), then reads back what the store recorded (phase
boundary events, measurements, proof figures; bench/lifecycle.py says which phase is
which) and prints, per phase, the median, min/max and interquartile range over the
campaign, per fault kind the medians, the harness overhead per trial and its ratio to the
configured phases (warm-up + hold), and trials per hour.

The report is also written as JSON (bench/results/phases-<time>.json, or --out), and
`--compare OLD.json` prints each phase's median against an earlier report's.

Usage: python -m bench.phases [CAMPAIGN.yaml] [--parallel N] [--warm-pool N]
                              [--db PATH | --from-db PATH]
                              [--out FILE] [--compare OLD.json] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench.lifecycle import PHASES, Configured, campaign_phases
from chaos_eval.store.access import Access
from chaos_eval.store.store import Store

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def run_campaign(
    campaign: Path, db: Path, parallel: int | None, warm_pool: int | None = None
) -> tuple[Path, float, int]:
    """Run the campaign (with `parallel` / `warm_pool` overridden in a copy of its file);
    returns the file run, the wall time and the CLI's exit code."""
    cfg = yaml.safe_load(campaign.read_text())
    overrides = {k: v for k, v in (("parallel", parallel), ("warm_pool", warm_pool))
                 if v is not None}
    if overrides:
        cfg.update(overrides)
        tag = "-".join(f"{k}{v}" for k, v in overrides.items())
        campaign = db.parent / f"{campaign.stem}-{tag}.yaml"
        campaign.write_text(yaml.safe_dump(cfg, sort_keys=False))
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "chaos_eval", "run", "campaign", str(campaign),
                          "--db", str(db)], cwd=ROOT, capture_output=True, text=True)
    if run.returncode not in (0, 1):
        print(run.stdout[-3000:], run.stderr[-3000:], file=sys.stderr)
    return campaign, time.monotonic() - started, run.returncode


async def read_report(db: Path) -> dict[str, Any]:
    """The phase report of the newest campaign in `db`."""
    store = await Store.open(db, Access.READ)
    try:
        camp = (await store.campaigns())[-1]
        trials = await store.trials(camp.id)
        events = await store.events(camp.id)
    finally:
        await store.close()
    spec = json.loads(camp.spec_json)
    timing = spec.get("timing", {})
    cfg = Configured(float(timing.get("warmup_s", 5)), float(timing.get("fault_duration_s", 10)))
    report = campaign_phases(trials, events, cfg)
    starts = [t.started_at for t in trials if t.started_at is not None]
    ends = [t.finished_at for t in trials if t.finished_at is not None]
    wall = max(ends) - min(starts) if starts and ends else None
    parallel = int(spec.get("parallel") or 1)
    report.update(
        campaign=camp.name, db=str(db), parallel=parallel, warm_pool=spec.get("warm_pool", 0),
        campaign_wall_s=None if wall is None else round(wall, 1),
        trials_per_hour=None if not wall else round(len(trials) * 3600 / wall, 1),
        amortised_overhead_s=None if not wall or not trials else round(
            (wall * parallel - report["configured_and_recovery_s"]) / len(trials), 3),
    )
    return report


def render(r: dict[str, Any]) -> str:
    lines = [f"{r['campaign']}: {r['trials']} trials at parallel {r['parallel']}, warm pool "
             f"{r.get('warm_pool', 0)}, in {r['campaign_wall_s']}s ({r['trials_per_hour']} "
             f"trials/h); {r['statuses']}"]
    for k in PHASES:
        s = r["overall"][k]
        if s["n"]:
            lines.append(f"  {k:16} median {s['median']:7.3f}s  iqr {s['iqr']:6.3f}  "
                         f"min {s['min']:7.3f}  max {s['max']:7.3f}  n={s['n']}")
    lines.append(f"  overhead / configured phases ({r['configured_s']}s): {r['overhead_ratio']}")
    lines.append(f"  amortised overhead per trial (campaign wall x parallel, less the configured "
                 f"phases and recovery, per trial): {r.get('amortised_overhead_s')}s")
    keys = ("compose_up", "wait_healthy", "pre_inject", "inject_observed", "cleanup",
            "verify_removed", "snapshot_after", "recovery_wait", "teardown", "overhead")
    lines.append("  per fault, medians (s): " + " ".join(k for k in keys))
    for fault, d in r["per_fault"].items():
        cols = " ".join(f"{d[k]['median']}" for k in keys)
        lines.append(f"    {fault:10} {cols}")
    return "\n".join(lines)


def compare(old: dict[str, Any], new: dict[str, Any]) -> str:
    lines = [f"{'phase':16} {'old':>8} {'new':>8} {'new-old':>8} {'new/old':>8}"]
    for k in PHASES:
        a, b = old["overall"][k]["median"], new["overall"][k]["median"]
        if a is None or b is None:
            continue
        ratio = f"{b / a:8.2f}" if a else "       -"
        lines.append(f"{k:16} {a:8.3f} {b:8.3f} {b - a:+8.3f} {ratio}")
    for k in ("overhead_ratio", "amortised_overhead_s", "trials_per_hour"):
        lines.append(f"{k:16} {old.get(k)!s:>8} {new.get(k)!s:>8}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("campaign", nargs="?", default=str(ROOT / "bench" / "bench.yaml"))
    ap.add_argument("--parallel", type=int, default=None, help="override the file's parallel")
    ap.add_argument("--warm-pool", type=int, default=None, help="override the file's warm_pool")
    ap.add_argument("--db", default=None, help="run into this database (default: a temp one)")
    ap.add_argument("--from-db", default=None, help="do not run; report on this database")
    ap.add_argument("--out", default=None, help="JSON report file (default bench/results/)")
    ap.add_argument("--compare", default=None, help="an earlier JSON report to compare with")
    ap.add_argument("--json", action="store_true", help="print the JSON report")
    args = ap.parse_args(argv)
    if args.from_db:
        db = Path(args.from_db)
        code = 0
    else:
        db = Path(args.db or Path(tempfile.mkdtemp(prefix="chaos-eval-bench-")) / "eval.db")
        _, _, code = run_campaign(Path(args.campaign), db, args.parallel, args.warm_pool)
        if code not in (0, 1):
            return code
    report = asyncio.run(read_report(db))
    out = Path(args.out) if args.out else RESULTS / f"phases-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2) if args.json else render(report))
    print(f"report: {out}", file=sys.stderr)
    if args.compare:
        print(compare(json.loads(Path(args.compare).read_text()), report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
