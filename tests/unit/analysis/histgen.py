"""Random small concurrent register histories for property tests.

``realistic`` histories come from simulating a real (linearizable) register: every op gets a
random interval and a linearization point inside it, and results are computed by applying the
ops in linearization-point order.  ``perturbed`` ones then corrupt one detail, so they are
often (not always) non-linearizable.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from chaos_eval.history import Op, OpKind, OpOutcome

VALUES = ("a", "b", "c")
KEYS = ("k0", "k1", "k2")


@dataclass(frozen=True)
class _Spec:
    process: int
    key: str
    kind: OpKind
    invoke: int
    complete: int
    lin: float
    tie: float
    fail: bool
    unknown: bool
    effect: bool
    value: str
    expected: str | None


def gen_history(rnd: random.Random, *, perturb: bool, max_per_key: int = 7) -> list[Op]:
    n_keys = rnd.randint(1, 3)
    n_procs = rnd.randint(2, 4)
    n_ops = rnd.randint(1, max_per_key * n_keys)
    clock = [rnd.randint(0, 3) for _ in range(n_procs)]
    per_key = dict.fromkeys(KEYS[:n_keys], 0)
    specs: list[_Spec] = []
    for _ in range(n_ops):
        free = [k for k, c in per_key.items() if c < max_per_key]
        if not free:
            break
        key = rnd.choice(free)
        per_key[key] += 1
        p = rnd.randrange(n_procs)
        invoke = clock[p] + rnd.randint(0, 3)
        complete = invoke + rnd.randint(0, 4)
        clock[p] = complete
        kind = rnd.choices([OpKind.READ, OpKind.WRITE, OpKind.CAS], [4, 3, 3])[0]
        fate = rnd.random()
        specs.append(_Spec(
            process=p, key=key, kind=kind, invoke=invoke, complete=complete,
            lin=rnd.uniform(invoke, complete), tie=rnd.random(),
            fail=fate < 0.1, unknown=0.1 <= fate < 0.25, effect=rnd.random() < 0.5,
            value=rnd.choice(VALUES), expected=rnd.choice((None, *VALUES)),
        ))
    regs: dict[str, str | None] = dict.fromkeys(per_key)
    ops: list[Op] = []
    for i, s in enumerate(sorted(specs, key=lambda s: (s.lin, s.tie))):
        kind, key = s.kind, s.key
        value: str | None = s.value
        expected = s.expected if kind is OpKind.CAS else None
        outcome = OpOutcome.OK
        applies = not s.fail and (not s.unknown or s.effect)
        if kind is OpKind.READ:
            value = regs[key]
        elif kind is OpKind.CAS and regs[key] != expected:
            applies = False
            if not s.unknown:
                outcome = OpOutcome.FAIL  # compare mismatch
        if s.fail:
            outcome = OpOutcome.FAIL
        elif s.unknown:
            outcome = OpOutcome.UNKNOWN
        if applies and kind is not OpKind.READ:
            regs[key] = value
        if kind is OpKind.READ and outcome is not OpOutcome.OK:
            value = None
        ops.append(Op(
            id=i, process=s.process, kind=kind, key=key, value=value, expected=expected,
            invoke=s.invoke, complete=None if outcome is OpOutcome.UNKNOWN else s.complete,
            outcome=outcome,
        ))
    ops.sort(key=lambda o: (o.invoke, o.id))
    if perturb and ops:
        ops = _perturb(rnd, ops)
    return ops


def _perturb(rnd: random.Random, ops: list[Op]) -> list[Op]:
    idx = rnd.randrange(len(ops))
    op = ops[idx]
    how = rnd.random()
    if op.kind is OpKind.READ:
        choices = [v for v in (None, *VALUES, "z") if v != op.value]
        new = Op(id=op.id, process=op.process, kind=op.kind, key=op.key,
                 value=rnd.choice(choices), invoke=op.invoke,
                 complete=op.complete if op.complete is not None else op.invoke + 1)
    elif op.outcome is OpOutcome.FAIL or how < 0.4:
        # claim success for an op that did not happen / retarget a cas
        expected = rnd.choice((None, *VALUES)) if op.kind is OpKind.CAS else None
        new = Op(id=op.id, process=op.process, kind=op.kind, key=op.key, value=op.value,
                 expected=expected, invoke=op.invoke,
                 complete=op.complete if op.complete is not None else op.invoke + 1)
    else:
        # move the op earlier in time (before ops that really preceded it)
        shift = rnd.randint(1, 6)
        complete = None if op.complete is None else op.complete - shift
        new = Op(id=op.id, process=op.process, kind=op.kind, key=op.key, value=op.value,
                 expected=op.expected, invoke=op.invoke - shift, complete=complete,
                 outcome=op.outcome)
    return [*ops[:idx], new, *ops[idx + 1:]]
