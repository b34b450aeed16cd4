"""Linearizability checker for register / CAS-register histories (op model: ``history.py``).

Keys are independent registers, so the history is partitioned per key (P-compositionality)
and each key is checked with a Wing-Gong / Lowe style depth-first search: the call and
return events of the key's operations form a time-ordered doubly linked list; the search
repeatedly takes a pending call that the sequential register model accepts, *lifts* it (and
its return) out of the list, and backtracks (*unlifts*) when it meets the return of an
operation that is not yet linearized.  Configurations already explored, identified by
(set of linearized ops, register value), are cached and skipped.

Unknown writes / cases are calls without a return event (return at +infinity); the search
succeeds as soon as every ``ok`` op is linearized, so unknown ops may be placed anywhere after
their invocation or left out.  Unknown mutations whose value can never be observed (no ok read
returns it, no ok cas expects it, directly or through a chain of unknown cases) are dropped
up front: including them can never help.

The set of linearized ``ok`` ops is kept as ``(base, rel)``: all ops with index (in invoke
order) below ``base`` are linearized, ``rel`` is a bitset of the others shifted by ``base``.
It stays small (about the concurrency window) however long the history is.

A failing key reports the furthest point the search reached (most ok ops linearized): the
op whose return could not be passed, the register value there, the op that wrote it and the
ops that were pending (concurrent) at that point.  Running out of ``max_steps`` (call
events tried, shared by all keys) or ``deadline_s`` gives verdict ``unknown``, never a pass.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from chaos_eval.analysis.violation import Violation, explain
from chaos_eval.history import Op, OpKind, OpOutcome

__all__ = ["CheckResult", "KeyResult", "Verdict", "Violation", "check", "relevant_ops"]


class Verdict(StrEnum):
    LINEARIZABLE = "linearizable"
    NOT_LINEARIZABLE = "not_linearizable"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class KeyResult:
    key: str
    verdict: Verdict
    ops: int  # ops the search considered (after dropping fail / unknown reads)
    steps: int
    violation: Violation | None = None


@dataclass(frozen=True, slots=True)
class CheckResult:
    verdict: Verdict
    keys: tuple[KeyResult, ...]
    steps: int
    elapsed_s: float

    @property
    def violation(self) -> Violation | None:
        return next((k.violation for k in self.keys if k.violation is not None), None)

    def to_json(self) -> dict[str, object]:
        """What a trial records: the verdict, why, and the offending key and window."""
        v = self.violation
        return {"verdict": str(self.verdict), "reason": self.reason, "steps": self.steps,
                "elapsed_s": round(self.elapsed_s, 4), "keys": len(self.keys),
                "key": None if v is None else v.key, "op": None if v is None else v.op_id,
                "window": [] if v is None else list(v.window)}

    @property
    def reason(self) -> str:
        v = self.violation
        if v is not None:
            return v.reason
        if self.verdict is Verdict.UNKNOWN:
            return "search budget (max_steps / deadline_s) exhausted before a verdict"
        return "linearizable"


class _OutOfBudget(Exception):
    pass


def relevant_ops(ops: Iterable[Op]) -> list[Op]:
    """Drop ops that cannot constrain the search: failed ops, unknown reads, and unknown
    writes / cases whose value is unobservable."""
    kept = [o for o in ops if o.outcome is OpOutcome.OK
            or (o.outcome is OpOutcome.UNKNOWN and o.kind is not OpKind.READ)]
    useful: set[str | None] = set()
    for o in kept:
        if o.outcome is OpOutcome.OK:
            useful.add(o.value if o.kind is OpKind.READ else o.expected)
    feeds: dict[str | None, list[str | None]] = defaultdict(list)  # new value -> expected
    for o in kept:
        if o.outcome is OpOutcome.UNKNOWN and o.kind is OpKind.CAS:
            feeds[o.value].append(o.expected)
    todo = list(useful)
    while todo:
        for e in feeds.pop(todo.pop(), ()):
            if e not in useful:
                useful.add(e)
                todo.append(e)
    return [o for o in kept if o.outcome is OpOutcome.OK or o.value in useful]


def check(
    history: Iterable[Op], *, max_steps: int | None = None, deadline_s: float | None = None
) -> CheckResult:
    """Check a whole history; keys are checked independently, in sorted order."""
    start = time.perf_counter()
    deadline = None if deadline_s is None else start + deadline_s
    by_key: dict[str, list[Op]] = defaultdict(list)
    for op in history:
        by_key[op.key].append(op)
    results: list[KeyResult] = []
    steps = 0
    exhausted = False
    for key in sorted(by_key):
        ops = relevant_ops(by_key[key])
        if exhausted:
            results.append(KeyResult(key, Verdict.UNKNOWN, len(ops), 0))
            continue
        left = None if max_steps is None else max(0, max_steps - steps)
        res = _check_key(key, ops, left, deadline)
        steps += res.steps
        exhausted = res.verdict is Verdict.UNKNOWN
        results.append(res)
    verdicts = {r.verdict for r in results}
    if Verdict.NOT_LINEARIZABLE in verdicts:
        verdict = Verdict.NOT_LINEARIZABLE
    elif Verdict.UNKNOWN in verdicts:
        verdict = Verdict.UNKNOWN
    else:
        verdict = Verdict.LINEARIZABLE
    return CheckResult(verdict, tuple(results), steps, time.perf_counter() - start)


_READ, _WRITE, _CAS = 0, 1, 2
_KIND_CODE = {OpKind.READ: _READ, OpKind.WRITE: _WRITE, OpKind.CAS: _CAS}


def _check_key(key: str, ops: list[Op], max_steps: int | None, deadline: float | None
               ) -> KeyResult:
    ok = sorted((o for o in ops if o.outcome is OpOutcome.OK), key=lambda o: (o.invoke, o.id))
    unk = sorted((o for o in ops if o.outcome is not OpOutcome.OK), key=lambda o: (o.invoke, o.id))
    m = len(ok)
    allops = ok + unk
    if m == 0:
        return KeyResult(key, Verdict.LINEARIZABLE, len(allops), 0)
    kind = [_KIND_CODE[o.kind] for o in allops]
    val = [o.value for o in allops]
    exp = [o.expected for o in allops]

    # Events: (time, 0=call / 1=return, op index); calls sort before returns at equal times,
    # so ops that touch at one instant are concurrent.  Node 0 is the list head sentinel.
    events = [(o.invoke, 0, i) for i, o in enumerate(allops)]
    events += [(o.end, 1, i) for i, o in enumerate(ok)]
    events.sort()
    n = len(events) + 1
    node_op = [-1] * n
    is_ret = [False] * n
    match = [-1] * n  # call node -> its return node (-1 for unknown ops)
    call_node = [0] * len(allops)
    for node, (_, r, i) in enumerate(events, start=1):
        node_op[node] = i
        if r:
            is_ret[node] = True
            match[call_node[i]] = node
        else:
            call_node[i] = node
    nxt = [*range(1, n), -1]
    prv = list(range(-1, n - 1))

    state: str | None = None  # registers start absent
    writer = -1  # index of the op that wrote `state`
    base = rel = unkbits = 0
    done = 0
    stack: list[tuple[int, str | None, int, int, int, int]] = []
    cache: set[tuple[int, int, int, str | None]] = set()
    best = -1
    stuck: tuple[int, str | None, int, list[int]] = (-1, None, -1, [])
    steps = 0
    limit = -1 if max_steps is None else max_steps
    entry = nxt[0]
    try:
        while True:
            if not is_ret[entry]:
                if steps == limit:
                    raise _OutOfBudget
                steps += 1
                if deadline is not None and steps & 1023 == 0 and time.perf_counter() > deadline:
                    raise _OutOfBudget
                i = node_op[entry]
                k = kind[i]
                if k == _READ:
                    good, new = state == val[i], state
                elif k == _WRITE:
                    good, new = True, val[i]
                else:
                    good, new = state == exp[i], val[i]
                if good:
                    nbase, nrel, nunk = base, rel, unkbits
                    if i < m:
                        nrel |= 1 << (i - base)
                        if nrel & 1:
                            t = ((~nrel) & (nrel + 1)).bit_length() - 1
                            nrel >>= t
                            nbase += t
                    else:
                        nunk |= 1 << (i - m)
                    ck = (nbase, nrel, nunk, new)
                    if ck not in cache:
                        cache.add(ck)
                        stack.append((entry, state, writer, base, rel, unkbits))
                        state, base, rel, unkbits = new, nbase, nrel, nunk
                        if k != _READ:
                            writer = i
                        # lift: unlink the call and its return
                        p, q = prv[entry], nxt[entry]
                        nxt[p] = q
                        if q >= 0:
                            prv[q] = p
                        r = match[entry]
                        if r >= 0:
                            p, q = prv[r], nxt[r]
                            nxt[p] = q
                            if q >= 0:
                                prv[q] = p
                            done += 1
                            if done == m:
                                return KeyResult(key, Verdict.LINEARIZABLE, len(allops), steps)
                        entry = nxt[0]
                        continue
                entry = nxt[entry]
            else:
                if done > best:  # furthest dead end so far: remember it for the report
                    best = done
                    pending: list[int] = []
                    e = nxt[0]
                    while e != entry:
                        if not is_ret[e]:
                            pending.append(node_op[e])
                        e = nxt[e]
                    stuck = (node_op[entry], state, writer, pending)
                if not stack:
                    break
                entry, state, writer, base, rel, unkbits = stack.pop()
                # unlift: relink the return, then the call (reverse order of unlinking)
                r = match[entry]
                if r >= 0:
                    done -= 1
                    nxt[prv[r]] = r
                    if nxt[r] >= 0:
                        prv[nxt[r]] = r
                nxt[prv[entry]] = entry
                if nxt[entry] >= 0:
                    prv[nxt[entry]] = entry
                entry = nxt[entry]
    except _OutOfBudget:
        return KeyResult(key, Verdict.UNKNOWN, len(allops), steps)
    viol = explain(key, allops, stuck, best, m)
    return KeyResult(key, Verdict.NOT_LINEARIZABLE, len(allops), steps, viol)


def history_counts(records: Iterable[object]) -> dict[str, int] | None:
    """How many of the trials' recorded checks (`CheckResult.to_json()`, None where a trial
    has none) were linearizable / not_linearizable / unknown; None when no trial has one."""
    counts = {str(v): 0 for v in Verdict}
    seen = False
    for rec in records:
        if isinstance(rec, dict) and rec.get("verdict") in counts:
            counts[rec["verdict"]] += 1
            seen = True
    return counts if seen else None
