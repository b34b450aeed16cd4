"""Operation model and JSON-lines (de)serialisation for register / CAS-register histories.

An operation is one client call against one key of a key-value store:

* ``write(key, value)`` sets the register to ``value`` (a string, never ``None``).
* ``read(key)`` returns the current value, ``None`` when the key is absent (never written).
* ``cas(key, expected, value)`` atomically sets the register to ``value`` iff it currently
  equals ``expected`` (``expected=None`` means "only if the key is absent").

Outcomes:

* ``ok``: the call returned success.  For a read, ``value`` is what it returned.  For a cas,
  ``ok`` means the compare matched and the new value was stored.
* ``fail``: the call definitely had no effect, so the checker drops it.  A cas whose compare
  did not match is recorded as ``fail`` too: it changed nothing, and the checker does *not*
  check that the compare really mismatched (a wrong "mismatch" answer is not detected).
* ``unknown``: no answer (timeout, crash).  The call may have taken effect at any instant after
  its invocation, or never.  Unknown reads constrain nothing and are dropped; unknown writes and
  cases are optional operations whose completion time is +infinity.  ``complete`` is ignored for
  them (it may be ``None``).

Real-time order is strict: ``a`` precedes ``b`` iff ``a.complete < b.invoke``; operations that
touch at a single instant are concurrent.

JSON-lines format: one object per line with exactly the fields ``id`` (int, unique), ``process``
(int), ``kind`` ("read" | "write" | "cas"), ``key`` (str), ``value`` (str | null),
``expected`` (str | null, cas only), ``invoke`` (finite number), ``complete`` (number | null;
required and >= invoke for ``ok``; ``null`` is written for +infinity) and ``outcome``
("ok" | "fail" | "unknown").  Blank lines are ignored.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from chaos_eval.errors import HistoryError
from chaos_eval.outcomes import OpOutcome

__all__ = ["FIELDS", "HistoryError", "Op", "OpKind", "OpOutcome", "dump_history", "parse_history"]


class OpKind(StrEnum):
    READ = "read"
    WRITE = "write"
    CAS = "cas"


FIELDS: tuple[str, ...] = (
    "id", "process", "kind", "key", "value", "expected", "invoke", "complete", "outcome",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Op:
    id: int
    process: int
    kind: OpKind
    key: str
    value: str | None = None
    expected: str | None = None
    invoke: float
    complete: float | None = None
    outcome: OpOutcome = OpOutcome.OK

    def __post_init__(self) -> None:
        problem = _op_problem(self)
        if problem is not None:
            raise ValueError(f"op {self.id}: {problem}")

    @property
    def end(self) -> float:
        """Completion time used for real-time order (+inf when not ``ok``)."""
        if self.outcome is not OpOutcome.OK or self.complete is None:
            return math.inf
        return self.complete

    def describe(self) -> str:
        if self.kind is OpKind.CAS:
            what = f"cas({self.expected!r} -> {self.value!r})"
        elif self.kind is OpKind.WRITE:
            what = f"write({self.value!r})"
        else:
            what = f"read() = {self.value!r}" if self.outcome is OpOutcome.OK else "read()"
        end = "?" if self.complete is None else f"{self.complete:g}"
        return (
            f"op #{self.id} {what} on {self.key!r} by process {self.process} "
            f"[{self.invoke:g}, {end}] {self.outcome}"
        )


def _is_number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _op_problem(op: Op) -> str | None:
    """Return why ``op`` is invalid, or ``None``."""
    for name in ("id", "process"):
        v = getattr(op, name)
        if not isinstance(v, int) or isinstance(v, bool):
            return f"{name} must be an integer, got {v!r}"
    if not isinstance(op.kind, OpKind):
        return f"kind must be an OpKind, got {op.kind!r}"
    if not isinstance(op.outcome, OpOutcome):
        return f"outcome must be an OpOutcome, got {op.outcome!r}"
    if not isinstance(op.key, str):
        return f"key must be a string, got {op.key!r}"
    for name in ("value", "expected"):
        v = getattr(op, name)
        if v is not None and not isinstance(v, str):
            return f"{name} must be a string or null, got {v!r}"
    if not _is_number(op.invoke) or not math.isfinite(op.invoke):
        return f"invoke must be a finite number, got {op.invoke!r}"
    c = op.complete
    if c is not None:
        if not _is_number(c) or math.isnan(c):
            return f"complete must be a number or null, got {c!r}"
        if c < op.invoke:
            return f"complete ({c!r}) is before invoke ({op.invoke!r})"
    if op.outcome is OpOutcome.OK and (c is None or math.isinf(c)):
        return "an ok op needs a finite complete time"
    if op.kind is not OpKind.CAS and op.expected is not None:
        return f"expected is only meaningful for cas, got {op.expected!r} on a {op.kind}"
    if op.kind is not OpKind.READ and op.value is None:
        return f"a {op.kind} needs a string value (the value written)"
    return None


def _op_from_obj(obj: Any) -> Op:
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    missing = [f for f in FIELDS if f not in obj]
    if missing:
        raise ValueError(f"missing field(s): {', '.join(missing)}")
    extra = sorted(set(obj) - set(FIELDS))
    if extra:
        raise ValueError(f"unknown field(s): {', '.join(extra)}")
    try:
        kind = OpKind(obj["kind"])
    except ValueError:
        raise ValueError(f"unknown kind {obj['kind']!r}") from None
    try:
        outcome = OpOutcome(obj["outcome"])
    except ValueError:
        raise ValueError(f"unknown outcome {obj['outcome']!r}") from None
    return Op(
        id=obj["id"], process=obj["process"], kind=kind, key=obj["key"], value=obj["value"],
        expected=obj["expected"], invoke=obj["invoke"], complete=obj["complete"],
        outcome=outcome,
    )


def parse_history(lines: Iterable[str] | str, source: str = "<history>") -> list[Op]:
    """Parse JSON-lines text into ops; raise :class:`HistoryError` naming source and line."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    ops: list[Op] = []
    seen: dict[int, int] = {}
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            op = _op_from_obj(json.loads(line))
        except json.JSONDecodeError as e:
            raise HistoryError(f"{source}:{lineno}: bad JSON: {e.msg}") from None
        except ValueError as e:
            raise HistoryError(f"{source}:{lineno}: {e}") from None
        if op.id in seen:
            raise HistoryError(
                f"{source}:{lineno}: duplicate op id {op.id} (first on line {seen[op.id]})"
            )
        seen[op.id] = lineno
        ops.append(op)
    return ops


def dump_history(ops: Iterable[Op]) -> str:
    """Serialise ops to JSON-lines text (one object per line, trailing newline)."""
    out: list[str] = []
    for op in ops:
        complete = None if op.complete is None or math.isinf(op.complete) else op.complete
        obj = {
            "id": op.id, "process": op.process, "kind": str(op.kind), "key": op.key,
            "value": op.value, "expected": op.expected, "invoke": op.invoke,
            "complete": complete, "outcome": str(op.outcome),
        }
        out.append(json.dumps(obj, allow_nan=False) + "\n")
    return "".join(out)
