"""A deterministic synthetic eval.db written through the store's own API, for the read
commands' equivalence test (tests/unit/analysis/test_streamed_outputs.py).

Campaign 1 ("small"): a baseline and three cells of 170 trials (medians' intervals from the
seeded bootstrap), a few trials left pending, one left running. Campaign 2 ("big"): a baseline
and one cell of 505 trials (the order-statistic interval). Statuses, figures, targets, per-node
metrics, register verdicts, reasons and errors drawn from a seeded RNG; some measurements
lack metrics or per-node figures; some trials never recovered. Times the outputs show (the
campaign's git sha, trials' finish times) are pinned, so the outputs are the same bytes on
every run.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path
from typing import Any

from chaos_eval.outcomes import CampaignStatus, TrialStatus
from chaos_eval.run.resolve import resolve_campaign
from chaos_eval.spec.config import parse_campaign
from chaos_eval.store.store import Store

NODES = ("n1", "n2", "n3")
PHASES = ("before", "during", "active", "after")


def _doc(name: str, chaos: list[dict[str, Any]], n: int) -> dict[str, Any]:
    return {"name": name, "subjects": [{"type": "etcd"}], "chaos_types": chaos,
            "trials_per_combination": n, "include_baseline": True, "seed": 11}  # fmt: skip


SMALL = _doc("small", [{"type": "node_kill", "target": "follower"},
                       {"type": "latency", "target": "leader",
                        "params": {"delay_ms": [50, 100]}}], 170)  # fmt: skip
BIG = _doc("big", [{"type": "node_kill", "target": "follower"}], 505)


def _measurements(rng: random.Random, status: TrialStatus) -> dict[str, Any]:
    m: dict[str, Any] = {"wall_s": rng.choice((rng.uniform(5, 30), 20)),
                         "window": {"injected_at": 1.0, "removed_at": 6.0}}  # fmt: skip
    if rng.random() < 0.05:
        return m  # no metrics at all (a trial that errored early)
    metrics: dict[str, Any] = {
        "availability": {p: rng.choice((1.0, 1, rng.random(), None)) for p in PHASES},
        "latency_ms": {"during": {"p50": rng.uniform(1, 50), "p99": rng.uniform(50, 900)}},
        "lost_writes": 1 if status == TrialStatus.FAILED and rng.random() < 0.4 else 0,
    }
    if rng.random() < 0.9:
        metrics["per_node"] = {
            n: {p: {"availability": rng.choice((1.0, rng.random())),
                    "p50_ms": rng.choice((rng.uniform(1, 80), None))}
                for p in PHASES if rng.random() < 0.95}
            for n in NODES if rng.random() < 0.97
        }  # fmt: skip
    m["metrics"] = metrics
    if rng.random() < 0.1:
        verdicts = ("linearizable", "not_linearizable", "unknown")
        m["linearizability"] = {"verdict": rng.choice(verdicts)}
    return m


def _status(rng: random.Random) -> TrialStatus:
    x = rng.random()
    if x < 0.85:
        return TrialStatus.PASSED
    if x < 0.94:
        return TrialStatus.FAILED
    return TrialStatus.ERROR if x < 0.98 else TrialStatus.CLEANUP_FAILED


async def _fill(store: Store, raw: dict[str, Any], rng: random.Random, unfinished: int) -> None:
    cfg = parse_campaign(raw, f"{raw['name']}.yaml")
    res = await resolve_campaign(store, cfg, f"{raw['name']}.yaml", ["test"], new=True)
    trials = await store.trials(res.campaign.id)
    for i, t in enumerate(trials):
        left = len(trials) - i
        if left <= unfinished:  # the last ones: pending, and one running
            if left == unfinished:
                await store.record_trial_started(t.id)
            continue
        attempt = await store.record_trial_started(t.id)
        await store.record_targets(t.id, [rng.choice(NODES)])
        status = _status(rng)
        if i % 97 == 3:
            await store.record_ops(t.id, attempt, [])
        reasons = [rng.choice(("lost 1 write", "recovery too slow"))] if status in (
            TrialStatus.FAILED, TrialStatus.CLEANUP_FAILED) else []
        await store.record_trial_finished(
            t.id, status,
            recovery_s=None if rng.random() < 0.08 else rng.uniform(0.1, 9),
            measurements=_measurements(rng, status), proof={"big": "x" * 50},
            reasons=reasons,
            error=rng.choice(("DockerError: boom", "")) if status == TrialStatus.ERROR else "",
        )  # fmt: skip
    await store.set_campaign_status(res.campaign.id, CampaignStatus.FINISHED)


def make_synthetic_db(path: Path) -> Path:
    async def make() -> None:
        async with await Store.open(path) as store:
            rng = random.Random(5)
            await _fill(store, SMALL, rng, unfinished=4)
            await _fill(store, BIG, rng, unfinished=0)

    asyncio.run(make())
    con = sqlite3.connect(path)
    con.execute("UPDATE campaigns SET git_sha = 'pinned', harness_version = '0.0.0'")
    con.execute("UPDATE trials SET finished_at = 1000 + id WHERE finished_at IS NOT NULL")
    con.commit()
    con.close()
    return path
