"""Shard dbs made through the real harness (store, scheduler, trial lifecycle) with the
in-memory subject: what the merge, trend and CLI tests read."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from chaos_eval.outcomes import CampaignStatus
from chaos_eval.run.campaign import CampaignRunner
from chaos_eval.run.resolve import resolve_campaign
from chaos_eval.spec.config import parse_campaign
from chaos_eval.spec.shard import ShardSpec
from chaos_eval.store.store import Store
from tests.unit.run.test_harness import NoDocker, doc


async def run_shard(path: Path, d: dict[str, Any], shard: ShardSpec | None) -> CampaignStatus:
    cfg = parse_campaign(d, "mem")
    async with await Store.open(path) as store:
        res = await resolve_campaign(store, cfg, "mem.yaml", ["eval"], new=False, shard=shard)
        runner = CampaignRunner(cfg, res.campaign, store, NoDocker())  # type: ignore[arg-type]
        return await runner.run()


def make_shards(tmp: Path, count: int, **over: Any) -> list[Path]:
    """Run every shard of `doc(**over)` into its own db; returns their paths."""
    paths = []
    for i in range(1, count + 1):
        p = tmp / f"shard{i}.db"
        asyncio.run(run_shard(p, doc(**over), ShardSpec(i, count)))
        paths.append(p)
    return paths


def dump(path: Path) -> list[tuple[Any, ...]]:
    """Every row of every table, to prove a file was not modified."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return [(t, *r) for t in sorted(tables) for r in con.execute(f"SELECT * FROM {t}")]
    finally:
        con.close()
