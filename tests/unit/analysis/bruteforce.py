"""Brute-force reference linearizability checker (tiny histories only).

Shares no search code with ``linearizability.py``: for each key it tries every subset of
the unknown writes / cases and every permutation of the ``ok`` ops plus that subset, keeps the
permutations that respect real-time order (``a.complete < b.invoke`` => ``a`` before ``b``;
unknown ops never complete) and replays them against a sequential register.  Failed ops and
unknown reads are dropped; nothing else is pruned.  Exponential: keep it to <= ~8 ops per key.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence

from chaos_eval.history import Op, OpKind, OpOutcome

__all__ = ["MAX_OPS_PER_KEY", "brute_force_key", "brute_force_linearizable"]

MAX_OPS_PER_KEY = 9


def _finish(op: Op) -> float:
    if op.outcome is OpOutcome.OK and op.complete is not None:
        return op.complete
    return math.inf


def _respects_real_time(order: Sequence[Op]) -> bool:
    for i, later in enumerate(order):
        for earlier in order[i + 1:]:
            # `earlier` is placed after `later`; illegal if it finished before `later` started
            if _finish(earlier) < later.invoke:
                return False
    return True


def _legal_sequentially(order: Sequence[Op]) -> bool:
    reg: str | None = None
    for op in order:
        if op.kind is OpKind.READ:
            if op.value != reg:
                return False
        elif op.kind is OpKind.WRITE:
            reg = op.value
        else:
            if reg != op.expected:
                return False
            reg = op.value
    return True


def brute_force_key(ops: Sequence[Op]) -> bool:
    """Is this single-key history linearizable?"""
    required = [o for o in ops if o.outcome is OpOutcome.OK]
    optional = [o for o in ops if o.outcome is OpOutcome.UNKNOWN and o.kind is not OpKind.READ]
    if len(required) + len(optional) > MAX_OPS_PER_KEY:
        raise ValueError(f"too many ops for brute force: {len(required) + len(optional)}")
    for size in range(len(optional) + 1):
        for chosen in itertools.combinations(optional, size):
            for order in itertools.permutations([*required, *chosen]):
                if _respects_real_time(order) and _legal_sequentially(order):
                    return True
    return False


def brute_force_linearizable(history: Iterable[Op]) -> bool:
    """Is the whole history linearizable (every key independently)?"""
    by_key: dict[str, list[Op]] = {}
    for op in history:
        by_key.setdefault(op.key, []).append(op)
    return all(brute_force_key(ops) for ops in by_key.values())
