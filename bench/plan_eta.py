"""Benchmark: how close `chaos-eval plan`'s estimate comes to the real duration.

Into one database: run the campaign once (the history plan learns from; skipped when the
database already has it), ask `plan` for the duration of a fresh run, then run the campaign
afresh (`--new`) and time it from the command's start to its end. Prints the estimate, the
actual duration and the error; `--json` for a machine-readable line.

Usage: python bench/plan_eta.py [CAMPAIGN.yaml] [--db PATH] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "tests" / "integration" / "campaigns" / "longrun.yaml"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaos_eval", *args],
        capture_output=True, text=True, timeout=3600, cwd=ROOT, check=False,
    )  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("campaign", nargs="?", default=str(DEFAULT))
    ap.add_argument("--db", default="")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    db = Path(args.db or Path(tempfile.mkdtemp(prefix="plan-eta-")) / "eval.db")
    before = json.loads(cli("plan", args.campaign, "--db", str(db), "-f", "json").stdout)
    if not all(c["source"].startswith("history") for c in before["cells"]):
        first = cli("run", "campaign", args.campaign, "--db", str(db), "--new")
        if first.returncode not in (0, 1):
            sys.exit(f"the history run failed: {first.stderr}")
    plan = json.loads(cli("plan", args.campaign, "--db", str(db), "-f", "json").stdout)
    t0 = time.monotonic()
    run = cli("run", "campaign", args.campaign, "--db", str(db), "--new")
    actual = time.monotonic() - t0
    if run.returncode not in (0, 1):
        sys.exit(f"the timed run failed: {run.stderr}")
    eta = float(plan["eta_fresh_s"])
    result = {
        "campaign": plan["name"], "trials": plan["trials"], "parallel": plan["parallel"],
        "eta_s": eta, "actual_s": round(actual, 1), "error": round((eta - actual) / actual, 3),
        "sources": sorted({c["source"] for c in plan["cells"]}), "db": str(db),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['campaign']}: plan said {eta:.0f}s, the run took {actual:.0f}s "
              f"({result['error']:+.0%}); from {', '.join(result['sources'])}; db {db}")


if __name__ == "__main__":
    main()
