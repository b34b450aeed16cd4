"""Benchmark: the final read's own duration per trial, from the ops the store recorded.

For the newest campaign in a database (run by `python -m bench.phases`, e.g. on
bench/final_read.yaml), per trial: the keys read back, the requests' span (first FINAL_READ
start to last end: one batch request, or the per-key reads), whether one batch answered,
and the median over the campaign. `--into REPORT.json` adds it to a bench.phases report.

Usage: python -m bench.final_read DB [--into REPORT.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from pathlib import Path
from typing import Any

from chaos_eval.store.access import Access
from chaos_eval.store.store import Store
from chaos_eval.workload import OpKind


async def final_reads(db: Path) -> dict[str, Any]:
    store = await Store.open(db, Access.READ)
    try:
        camp = (await store.campaigns())[-1]
        rows = []
        for t in await store.trials(camp.id):
            finals = [o for o in await store.ops(t.id) if o.kind == OpKind.FINAL_READ]
            if finals:
                spans = {(o.start, o.end) for o in finals}
                rows.append({
                    "trial": t.id, "keys": len(finals),
                    "span_s": round(max(o.end for o in finals) - min(o.start for o in finals), 4),
                    "batch": len(spans) == 1 and len(finals) > 1,
                })
    finally:
        await store.close()
    spans = [r["span_s"] for r in rows]
    return {"trials": rows, "median_span_s": statistics.median(spans) if spans else None,
            "median_keys": statistics.median(r["keys"] for r in rows) if rows else None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db")
    ap.add_argument("--into", default=None, help="a bench.phases JSON report to add it to")
    args = ap.parse_args(argv)
    figures = asyncio.run(final_reads(Path(args.db)))
    for r in figures["trials"]:
        print(f"trial {r['trial']}: {r['keys']} keys in {r['span_s']:.3f}s"
              f"{' (one batch)' if r['batch'] else ''}")
    print(f"median: {figures['median_span_s']}s for {figures['median_keys']} keys")
    if args.into:
        report = json.loads(Path(args.into).read_text())
        report["final_read"] = figures
        Path(args.into).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
