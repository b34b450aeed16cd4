"""A trial's figures (eval/store/figures.py) packed for reading at speed: its floats as IEEE
doubles (`trials.figures_f64`) and the rest as a short JSON skeleton (`figures_skeleton`).

Why: at 100k trials, parsing each trial's figures JSON was the largest part of `analyze`, and
most of that was turning ~30 decimal floats a trial back into floats (17 significant digits:
the slow path of the decimal conversion). Unpacking doubles is one C call; the skeleton
(window flag, the register check's record, lost writes, the node names and any figure that is
not a float) repeats from trial to trial, so a reader parses each distinct text once.

The packed form is the figures exactly: every float slot is the same float, bit for bit, and
a value of any other type (None, an int, a bool, whatever was recorded) goes into the
skeleton as [slot, value] and replaces the 0.0 left in its slot, so its type is kept. Slots:
wall_s, availability during/after/active, latency p50/p99, then per node its 8 figures.
`figures` stays the JSON list (the store's record of them); where the packed columns are
NULL (a row from before migration 0010 that could not be packed), a reader reads that.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from chaos_eval.store.figures import FIELDS, sql_figures

TOP = (0, 3, 4, 5, 6, 7)  # the float fields of Figures, in slot order
PER_NODE = 8  # figures per node (figures.py's node_figures)


def pack(figures_text: str) -> tuple[str, bytes] | None:
    """(skeleton, doubles) of a figures column's text; None if it is not figures-shaped."""
    try:
        v = json.loads(figures_text)
    except ValueError:
        return None
    if type(v) is not list or len(v) != FIELDS or type(v[-1]) is not list:
        return None
    nodes = v[-1]
    if not all(type(n) is list and len(n) == 1 + PER_NODE for n in nodes):
        return None
    slots = [v[i] for i in TOP] + [x for n in nodes for x in n[1:]]
    odd = [[i, x] for i, x in enumerate(slots) if type(x) is not float]
    skeleton = [v[1], v[2], v[8], [n[0] for n in nodes], odd]
    doubles = [0.0 if type(x) is not float else x for x in slots]
    return (json.dumps(skeleton, separators=(",", ":")),
            struct.pack(f"<{len(doubles)}d", *doubles))  # fmt: skip


def figure_columns(measurements_text: str) -> tuple[str | None, str | None, bytes | None]:
    """(figures, figures_skeleton, figures_f64) of a row whose measurements are these: what the
    store writes when a trial finishes or a shard is merged. NULLs where they cannot be made
    (the reader then derives the figures from the measurements, and says what is wrong)."""
    text = sql_figures(measurements_text)
    if text is None:
        return None, None, None
    packed = pack(text)
    return (text, *packed) if packed else (text, None, None)


def sql_skeleton(figures_text: object) -> str | None:
    """`chaos_figures_skeleton(figures)` for migration 0010."""
    packed = pack(figures_text) if isinstance(figures_text, str) else None
    return packed[0] if packed else None


def sql_f64(figures_text: object) -> bytes | None:
    """`chaos_figures_f64(figures)` for migration 0010 (NULL exactly where the skeleton is)."""
    packed = pack(figures_text) if isinstance(figures_text, str) else None
    return packed[1] if packed else None


class Skeleton:
    """A parsed skeleton, checked: what `unpack` needs besides the doubles."""

    __slots__ = ("lin", "lost", "names", "odd", "slots", "unpacker", "windowed")

    def __init__(self, text: str) -> None:
        k = json.loads(text)  # ValueError: the caller names the row
        if type(k) is not list or len(k) != 5 or type(k[3]) is not list or type(k[4]) is not list:
            raise ValueError("expected [windowed, linearizability, lost, nodes, odd]")
        self.windowed, self.lin, self.lost, self.names, odd = k
        self.slots = len(TOP) + PER_NODE * len(self.names)
        if not all(type(p) is list and len(p) == 2 and type(p[0]) is int
                   and 0 <= p[0] < self.slots for p in odd):  # fmt: skip
            raise ValueError("expected [slot, value] pairs for the slots not holding a float")
        self.odd: tuple[tuple[int, Any], ...] = tuple((p[0], p[1]) for p in odd)
        self.unpacker = struct.Struct(f"<{self.slots}d")

    def unpack(self, doubles: bytes) -> list[Any]:
        """The figures as a list (figures.py's field order); ValueError if the doubles are not
        as many as the skeleton's slots."""
        try:
            f: Any = self.unpacker.unpack(doubles)
        except struct.error:
            raise ValueError(f"{len(doubles)} bytes, expected {self.slots} doubles") from None
        if self.odd:
            f = list(f)
            for i, x in self.odd:
                f[i] = x
        return [
            f[0], self.windowed, self.lin, f[1], f[2], f[3], f[4], f[5], self.lost,
            [[name, *f[6 + PER_NODE * i: 6 + PER_NODE * (i + 1)]]
             for i, name in enumerate(self.names)],
        ]  # fmt: skip
