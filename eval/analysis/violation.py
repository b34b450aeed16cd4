"""Why a key's history is not linearizable, in words: the op that could not be placed, the
register value at the furthest point the search reached, the op that wrote it, and the ops
that were pending then (the smallest window the search could not order)."""

from __future__ import annotations

from dataclasses import dataclass

from chaos_eval.history import Op, OpKind

__all__ = ["Violation", "explain"]


@dataclass(frozen=True, slots=True)
class Violation:
    key: str
    op_id: int  # the op that could not be placed
    window: tuple[int, ...]  # ids: that op, the pending concurrent ops, the last writer
    reason: str



def explain(key: str, allops: list[Op], stuck: tuple[int, str | None, int, list[int]],
             best: int, m: int) -> Violation:
    blocked, state, writer, pending = stuck
    op = allops[blocked]
    others = sorted(allops[i].id for i in pending if i != blocked)
    window = {op.id, *others}
    if writer >= 0:
        window.add(allops[writer].id)
        held = f"held {state!r} (written by op #{allops[writer].id})"
    else:
        held = "was still absent (None)"
    span = f"at t={op.invoke:g}..{op.end:g} (op #{op.id}, process {op.process})"
    where = (f"after the longest linearizable prefix ({best} of {m} ok ops ordered) "
             f"the register {held}")
    tail = (f", and no ordering of the pending concurrent ops {others} makes it valid"
            if others else ", and no other op was pending that could be ordered before it")
    if op.kind is OpKind.WRITE:
        msg = f"write of {op.value!r} to {key!r} {span} could not be ordered"
        return Violation(key, op.id, tuple(sorted(window)), f"{msg}: {where}{tail}")
    wanted = op.value if op.kind is OpKind.READ else op.expected
    sources = [o for o in allops if o.kind is not OpKind.READ and o.value == wanted
               and o.invoke <= op.end and o is not op]
    sources = sorted(sources, key=lambda o: o.invoke)[-3:]
    window.update(o.id for o in sources)
    if sources:
        src = f" (stored by op {', '.join(f'#{o.id}' for o in sources)})"
    elif wanted is None:
        src = " (key absent)"
    else:
        src = " (no write or cas that may have taken effect before it stored this value)"
    what = "read of" if op.kind is OpKind.READ else "successful cas on"
    verb = "returned" if op.kind is OpKind.READ else "expected"
    reason = f"{what} {key!r} {span} {verb} {wanted!r}{src}, but {where}{tail}"
    return Violation(key, op.id, tuple(sorted(window)), reason)
