"""Benchmark: the partition fault's own phases on one real cluster, and the helpers they start.

Brings up one cluster (Redis with Sentinel: six containers; or three etcd members), then
each round isolates one node and times, on the fault object itself:

- inject: `inject()` until it returns (the rules are in)
- verify_active: the outside proof that blocked pairs are cut and the others are not
- cleanup: `cleanup_chaos()` until it returns (the rules are gone)
- verify_removed: the proof of removal (no rule, no chain, every pair connects)

and counts the helper containers each phase starts (by wrapping `Docker.run_helper`). The
cluster is waited healthy between rounds. Prints medians (and min/max) per phase.

To compare two versions of the fault, run it from each checkout's root (the current
directory comes first on the path), e.g. with a worktree of an older commit holding a copy.

Usage: python -m bench.partition [--subject redis|etcd] [--rounds N] [--target NAME] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from chaos_eval.chaos.partition import PartitionFault, PartitionParams
from chaos_eval.engine.client import Docker
from chaos_eval.engine.compose import Compose
from chaos_eval.images.recipes import image_ref
from chaos_eval.subject import LABEL_TRIAL, TrialContext

PHASES = ("inject", "verify_active", "cleanup", "verify_removed")
HEALTHY_WITHIN_S = 120.0


def spread(xs: list[float]) -> dict[str, float | int | None]:
    if not xs:
        return {"n": 0, "median": None, "min": None, "max": None}
    return {"n": len(xs), "median": round(statistics.median(xs), 3),
            "min": round(min(xs), 3), "max": round(max(xs), 3)}


def make_subject(kind: str, ctx: TrialContext, docker: Docker) -> Any:
    if kind == "redis":
        from chaos_eval.subjects.redis.subject import RedisSubject

        return RedisSubject(ctx, docker, Compose(), image=image_ref("redis"), write_to="bound")
    from chaos_eval.subjects.etcd.subject import EtcdSubject

    return EtcdSubject(ctx, docker, Compose(), image=image_ref("etcd"))


class CountingDocker(Docker):
    """Docker, counting the one-shot helpers it runs."""

    helpers = 0

    async def run_helper(self, *args: Any, **kwargs: Any) -> Any:
        self.helpers += 1
        return await super().run_helper(*args, **kwargs)


async def rounds(kind: str, n: int, target_name: str | None) -> dict[str, Any]:
    docker = CountingDocker()
    ctx = TrialContext(800_000 + secrets.randbelow(99_999), secrets.token_hex(16), seed=1)
    subject = make_subject(kind, ctx, docker)
    took: dict[str, list[float]] = {p: [] for p in PHASES}
    helpers: dict[str, list[float]] = {p: [] for p in PHASES}
    try:
        t0 = time.monotonic()
        await subject.up()
        health = await subject.wait_healthy(HEALTHY_WITHIN_S)
        print(f"up and healthy in {time.monotonic() - t0:.1f}s", file=sys.stderr)
        assert health.healthy, health.reasons
        nodes = tuple(await subject.nodes())
        name = target_name or health.leader or nodes[0].name
        for i in range(n):
            t0 = time.monotonic()
            health = await subject.wait_healthy(HEALTHY_WITHIN_S)
            print(f"healthy ({health.healthy}) after {time.monotonic() - t0:.1f}s", file=sys.stderr)
            nodes = tuple(await subject.nodes())
            target = next(x for x in nodes if x.name == name)
            fault = PartitionFault(PartitionParams(shape="isolate"), (target,), nodes, ctx, docker)
            steps: dict[str, Callable[[], Awaitable[Any]]] = {
                "inject": fault.inject,
                "verify_active": fault.verify_active,
                "cleanup": fault.cleanup_chaos,
                "verify_removed": fault.verify_removed,
            }
            for phase, step in steps.items():
                before, t0 = docker.helpers, time.monotonic()
                result = await step()
                took[phase].append(time.monotonic() - t0)
                helpers[phase].append(docker.helpers - before)
                if result is not None and not result.holds:
                    raise SystemExit(f"round {i}: {phase} does not hold: {result.summary}")
            line = "  ".join(f"{p} {took[p][-1]:.2f}s/{helpers[p][-1]:.0f}h" for p in PHASES)
            print(f"round {i + 1}/{n} {name} isolated of {len(nodes)}: {line}", file=sys.stderr)
    finally:
        await subject.teardown()
        await docker.remove_labelled(await docker.labelled(LABEL_TRIAL, ctx.trial_key))
    return {
        "subject": kind, "nodes": len(nodes), "target": name, "rounds": n,
        "seconds": {p: spread(v) for p, v in took.items()},
        "helpers": {p: spread(v) for p, v in helpers.items()},
        "total_s": spread([sum(x) for x in zip(*took.values(), strict=True)]),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subject", choices=("redis", "etcd"), default="redis")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--target", default=None, help="node to isolate (default: the leader)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    report = asyncio.run(rounds(args.subject, args.rounds, args.target))
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['subject']}: isolate {report['target']} of {report['nodes']} nodes, "
          f"{report['rounds']} rounds")
    for p in PHASES:
        s, h = report["seconds"][p], report["helpers"][p]
        print(f"  {p:15} median {s['median']}s (min {s['min']}, max {s['max']}); "
              f"helpers median {h['median']}")
    t = report["total_s"]
    print(f"  {'all four':15} median {t['median']}s (min {t['min']}, max {t['max']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
