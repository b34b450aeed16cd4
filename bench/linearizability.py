"""Benchmark ``linearizability.check`` on realistic linearizable register/CAS histories.

Usage: python bench_linearizability.py [--sizes 1000,10000,100000] [--keys 10,1] [--runs 3]

Histories simulate 8 client processes against 10 keys (and, as a contention profile, a
single key) of a real (atomic) register store: each op has a random interval (clients overlap
heavily) and takes effect at a random instant inside it.  About 45% reads, 35% writes, 20% cas
(expected value usually fresh, sometimes stale, so both cas successes and mismatches occur),
3% definite failures and 3% unknown outcomes (half of which took effect).  Written values are
unique.  Each history is also checked with one late read corrupted (returns a bogus value), to
time how long finding a violation takes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import random
import statistics
import time

from chaos_eval.analysis.linearizability import CheckResult, Verdict, check
from chaos_eval.history import Op, OpKind, OpOutcome


def realistic_history(n: int, *, keys: int = 10, procs: int = 8, seed: int = 1) -> list[Op]:
    rnd = random.Random(seed)
    clock = [rnd.uniform(0, 1) for _ in range(procs)]
    plan: list[tuple[float, int, int, str, OpKind, float, float, float]] = []
    for i in range(n):
        p = rnd.randrange(procs)
        invoke = clock[p] + rnd.expovariate(1.0)
        complete = invoke + rnd.uniform(0.5, 6.0)
        clock[p] = complete
        kind = rnd.choices([OpKind.READ, OpKind.WRITE, OpKind.CAS], [45, 35, 20])[0]
        plan.append((rnd.uniform(invoke, complete), i, p, f"k{rnd.randrange(keys)}", kind,
                     invoke, complete, rnd.random()))
    plan.sort()
    reg: dict[str, str | None] = {}
    history: dict[str, list[str]] = {}
    ops: list[Op] = []
    for _, i, p, key, kind, invoke, complete, fate in plan:
        cur = reg.get(key)
        past = history.setdefault(key, [])
        value: str | None = f"v{i}"
        expected = None
        if kind is OpKind.CAS:
            expected = cur if rnd.random() < 0.7 or not past else rnd.choice(past[-5:])
        outcome = OpOutcome.OK
        if fate < 0.03:
            outcome, effect = OpOutcome.FAIL, False
        elif fate < 0.06:
            outcome, effect = OpOutcome.UNKNOWN, fate < 0.045
        else:
            effect = True
        if kind is OpKind.READ:
            value = cur if outcome is OpOutcome.OK else None
        elif kind is OpKind.CAS and cur != expected:
            effect = False
            if outcome is OpOutcome.OK:
                outcome = OpOutcome.FAIL  # compare mismatch
        if effect and kind is not OpKind.READ:
            reg[key] = value
            past.append(value)  # type: ignore[arg-type]
        ops.append(Op(id=i, process=p, kind=kind, key=key, value=value, expected=expected,
                      invoke=invoke, complete=None if outcome is OpOutcome.UNKNOWN else complete,
                      outcome=outcome))
    ops.sort(key=lambda o: o.invoke)
    return ops


def corrupt_one_read(ops: list[Op], at: float = 0.9) -> list[Op]:
    """Copy of ``ops`` where the first ok read after fraction ``at`` returns a bogus value."""
    start = int(len(ops) * at)
    idx = next(i for i in range(start, len(ops))
               if ops[i].kind is OpKind.READ and ops[i].outcome is OpOutcome.OK)
    return [*ops[:idx], dataclasses.replace(ops[idx], value="bogus"), *ops[idx + 1:]]


def _time(h: list[Op], runs: int) -> tuple[CheckResult, list[float]]:
    times = []
    res = None
    for _ in range(runs):
        t0 = time.perf_counter()
        res = check(h)
        times.append(time.perf_counter() - t0)
    assert res is not None
    return res, times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keys", default="10,1", help="key counts to run (profiles)")
    args = ap.parse_args()
    rows: list[dict[str, object]] = []
    print(f"{'keys':>4} {'ops':>7} {'unknown':>7} {'history':>9} {'verdict':>16} {'steps':>9}"
          f" {'median s':>9} {'ops/s':>8}")
    for keys in (int(k) for k in args.keys.split(",")):
        for n in (int(s) for s in args.sizes.split(",")):
            good = realistic_history(n, keys=keys, seed=args.seed)
            unknown = sum(o.outcome is OpOutcome.UNKNOWN for o in good)
            for label, h, want in (("valid", good, Verdict.LINEARIZABLE),
                                   ("corrupted", corrupt_one_read(good),
                                    Verdict.NOT_LINEARIZABLE)):
                res, times = _time(h, args.runs)
                if res.verdict is not want:
                    raise SystemExit(f"{label} history of {n} ops: {res.verdict}: {res.reason}")
                med = statistics.median(times)
                print(f"{keys:>4} {n:>7} {unknown:>7} {label:>9} {res.verdict:>16} "
                      f"{res.steps:>9} {med:>9.3f} {n / med:>8.0f}")
                rows.append({"keys": keys, "procs": 8, "ops": n, "unknown_ops": unknown,
                             "history": label, "verdict": str(res.verdict),
                             "steps": res.steps, "median_s": round(med, 4),
                             "runs_s": [round(t, 4) for t in times]})
    print(json.dumps({"bench": "linearizability.check", "python": platform.python_version(),
                      "machine": platform.machine(), "runs": args.runs, "results": rows}))


if __name__ == "__main__":
    main()
