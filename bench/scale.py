"""Benchmark: the read commands and resume planning on big eval.db files (bench/synth.py).

Each command runs in its own process under /usr/bin/time -v: wall seconds and peak resident
memory (MB). Commands: analyze (table, json, json + --junit), status (all, one, json),
report (HTML; its size), compare (the campaign against itself), and resume planning: what
`run campaign FILE` does before it launches a trial (resolve the campaign, then
eval/run/resolve.py's `remaining`: its unfinished trials, matched to the expanded matrix only
when there are any), timed in-process by `python -m bench.scale plan DB YAML` (the CLI run
would also touch Docker and print the analysis).

Usage: python -m bench.scale DB [DB ...] [--out FILE] [--compare OLD.json]
       (each DB next to the YAML synth wrote for it: X.db -> X.yaml)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def timed(argv: list[str]) -> dict[str, Any]:
    """Run argv under /usr/bin/time -v: wall seconds, peak RSS in MB, exit code."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        t0 = time.monotonic()
        proc = subprocess.run(["/usr/bin/time", "-v", "-o", tf.name, *argv], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.monotonic() - t0
        stats = Path(tf.name).read_text()
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stats)
    cpu = sum(float(x) for x in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", stats))
    return {"seconds": round(wall, 2), "cpu_s": round(cpu, 2),
            "peak_mb": round(int(rss.group(1)) / 1024, 1) if rss else None,
            "exit": proc.returncode, "stderr": proc.stderr.strip()[-300:]}


async def plan(db: Path, yaml_path: Path) -> dict[str, Any]:
    """Resume planning, in-process: resolve, load trials, pick the unfinished ones."""
    from chaos_eval.run.resolve import remaining, resolve_campaign
    from chaos_eval.spec.config import load_campaign
    from chaos_eval.store.access import Access
    from chaos_eval.store.store import Store

    t0 = time.monotonic()
    cfg = load_campaign(yaml_path)  # the first one imports the subjects' and faults' modules
    loaded = time.monotonic()
    store = await Store.open(db, Access.READ)
    try:
        res = await resolve_campaign(store, cfg, str(yaml_path), ["bench.scale"], new=False)
        todo = await remaining(store, cfg, res.campaign.id)  # what run campaign FILE does
    finally:
        await store.close()
    # seconds: open, resolve, pick the unfinished trials (what grows with the campaign);
    # load_s: reading the YAML, with the imports the first load of a config costs any command
    return {"seconds": round(time.monotonic() - loaded, 3), "load_s": round(loaded - t0, 3),
            "created": res.created, "todo": len(todo)}


def bench_db(db: Path) -> dict[str, Any]:
    cli = [sys.executable, "-m", "chaos_eval"]
    out = Path(tempfile.mkdtemp(prefix="chaos-eval-scale-"))
    cmds = {
        "analyze table": [*cli, "analyze", "1", "--db", str(db)],
        "analyze json": [*cli, "analyze", "1", "--db", str(db), "--format", "json"],
        "analyze json+junit": [*cli, "analyze", "1", "--db", str(db), "--format", "json",
                               "--junit", str(out / "junit.xml")],
        "status": [*cli, "status", "--db", str(db)],
        "status 1 json": [*cli, "status", "1", "--db", str(db), "--format", "json"],
        "report": [*cli, "report", "1", "--db", str(db), "-o", str(out / "report.html")],
        "compare 1 1": [*cli, "compare", "1", "1", "--db", str(db)],
        "resume planning": [*cli[:1], "-m", "bench.scale", "plan", str(db),
                            str(db.with_suffix(".yaml"))],
    }
    res = {name: timed(argv) for name, argv in cmds.items()}
    rep = out / "report.html"
    res["report"]["html_mb"] = round(rep.stat().st_size / 2**20, 2) if rep.exists() else None
    return res


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["plan"]:
        print(json.dumps(asyncio.run(plan(Path(args[1]), Path(args[2])))))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dbs", nargs="+", type=Path)
    ap.add_argument("--out", default=None)
    ap.add_argument("--compare", default=None, help="an earlier JSON report")
    a = ap.parse_args(args)
    report = {str(db): bench_db(db) for db in a.dbs}
    old = json.loads(Path(a.compare).read_text()) if a.compare else {}
    for db, res in report.items():
        print(db)
        for name, r in res.items():
            was = old.get(db, {}).get(name)
            prev = f"   (was {was['seconds']}s, {was['peak_mb']} MB)" if was else ""
            extra = f"  html {r['html_mb']} MB" if r.get("html_mb") is not None else ""
            bad = f"  EXIT {r['exit']}: {r['stderr']}" if r["exit"] not in (0, 1) else ""
            print(f"  {name:20} {r['seconds']:7.2f}s wall {r['cpu_s']:7.2f}s cpu "
                  f"{r['peak_mb']:7.1f} MB{extra}{prev}{bad}")
    out = Path(a.out) if a.out else RESULTS / f"scale-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"report: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
