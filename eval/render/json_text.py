"""JSON text exactly as `json.dump(data, f, indent=2, ensure_ascii=False)` writes it, at the
speed of the C encoder: the standard library falls back to its pure-Python encoder whenever
an indent is asked for, which costs seconds on a 100k-trial analysis.

How: a container whose members are all plain scalars (str, int, float, bool, None: most of
an analysis, e.g. each trial's entry) is one call of the C encoder, with the item separator
carrying the newline and the indent; other containers are walked here. The bytes are the
same (tests/unit/render/test_json_text.py checks them against json.dump).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import IO, Any

_SCALARS = frozenset({str, int, float, bool, type(None)})
FLUSH = 1 << 20  # characters gathered before a write


@functools.cache
def _encoder(item_sep: str) -> Callable[[Any], str]:
    """json.dumps(o, ensure_ascii=False, separators=(item_sep, ": ")), its encoder made once
    per separator (dumps makes one per call: a third of the time of a trial's entry)."""
    return json.JSONEncoder(ensure_ascii=False, separators=(item_sep, ": ")).encode


def _dumps(o: Any, item_sep: str = ", ") -> str:
    return _encoder(item_sep)(o)


def _key(k: Any) -> str:
    """A member name as the encoder writes it (non-str keys converted as json does)."""
    return _dumps(k) if type(k) is str else _dumps({k: 0})[1:-4]


class _Writer:
    def __init__(self, file: IO[str], indent: int) -> None:
        self.file, self.indent = file, indent
        self.parts: list[str] = []
        self.size = 0

    def put(self, s: str) -> None:
        self.parts.append(s)
        self.size += len(s)
        if self.size >= FLUSH:
            self.flush()

    def flush(self) -> None:
        self.file.write("".join(self.parts))
        self.parts.clear()
        self.size = 0

    def value(self, o: Any, level: int) -> None:
        if isinstance(o, dict):
            self.members(o, level, "{", "}", True)
        elif isinstance(o, list | tuple):
            self.members(o, level, "[", "]", False)
        else:
            self.put(_dumps(o))

    def members(self, o: Any, level: int, open_: str, close: str, named: bool) -> None:
        if not o:
            self.put(open_ + close)
            return
        inner = "\n" + " " * (self.indent * (level + 1))
        outer = "\n" + " " * (self.indent * level)
        values = o.values() if named else o
        if all(type(v) in _SCALARS for v in values):
            self.put(open_ + inner + _dumps(o, "," + inner)[1:-1] + outer + close)
            return
        self.put(open_)
        for i, item in enumerate(o.items() if named else o):
            self.put(("," if i else "") + inner)
            if named:
                self.put(_key(item[0]) + ": ")
                item = item[1]
            self.value(item, level + 1)
        self.put(outer + close)


def write_json(data: Any, file: IO[str], indent: int = 2) -> None:
    """Write `data` to `file` as json.dump(indent=indent, ensure_ascii=False) would."""
    w = _Writer(file, indent)
    w.value(data, 0)
    w.flush()
