"""A trial as the read commands analyse it (`TrialResult`), and its checked, fast conversion
from a row: what `analyze`, `report`, `compare` and `--junit` stream, cell by cell.

Every column but the proof and the measurements, of which it holds the figures analysis reads
(eval/store/figures.py: the row's packed figures, eval/store/packed_figures.py; where those are
NULL, its compact `figures`; where that is NULL too, derived from its measurements); the JSON
columns parsed once, here, and checked like every row
read (eval/store/records.py: a value of the wrong type, an unknown status, JSON that does not
parse to what it should is a StoreCorrupt naming the table, the row and the column). At 100k
trials the conversion is on the hot path: the common case is one type test per column, the
generic check only builds the message; the small JSON columns repeat (a cell's params, a
target list, "[]") and are parsed once per distinct text.
"""

from __future__ import annotations

import json
import json.scanner
import sqlite3
from collections.abc import Callable
from typing import Any, NamedTuple

from chaos_eval.outcomes import TrialStatus
from chaos_eval.store.figures import FIELDS, Figures, figures_of
from chaos_eval.store.packed_figures import Skeleton
from chaos_eval.store.records import _check, _corrupt


class TrialResult(NamedTuple):  # a tuple: ten times cheaper to make than a frozen dataclass
    id: int
    key: str
    ordinal: int
    subject: str
    fault: str
    params: str  # canonical JSON of the grid point (checked to be an object)
    repetition: int
    seed: int
    status: TrialStatus
    finished_at: float | None
    recovery_s: float | None
    targets: tuple[Any, ...]  # the nodes the fault targeted
    figures: Figures  # what analysis reads of the measurements
    reasons: tuple[Any, ...]
    error: str


# column, the types its value may have (the first is the usual one), in SELECT order
_COLUMNS: tuple[tuple[str, tuple[type, ...]], ...] = (
    ("id", (int,)), ("key", (str,)), ("ordinal", (int,)), ("subject", (str,)),
    ("fault", (str,)), ("params", (str,)), ("repetition", (int,)), ("seed", (int,)),
    ("status", (TrialStatus,)), ("finished_at", (float, type(None))),
    ("recovery_s", (float, type(None))), ("targets", (str,)), ("measurements", (str,)),
    ("reasons", (str,)), ("error", (str,)), ("figures", (str, type(None))),
    ("figures_skeleton", (str, type(None))), ("figures_f64", (bytes, type(None))),
)  # fmt: skip
# The figures packed (eval/store/packed_figures.py) where they are, else their JSON, else (a
# row merged from an older shard...) the measurements: the index trials_results (migration
# 0010) holds every other column, so sqlite reads a trial's row only for what is not packed.
def _select(packed: bool) -> str:
    head = ", ".join(name for name, _ in _COLUMNS[:12])  # id ... targets
    if packed:
        m = "CASE WHEN figures_f64 IS NULL AND figures IS NULL THEN measurements ELSE '' END"
        tail = "CASE WHEN figures_f64 IS NULL THEN figures END, figures_skeleton, figures_f64"
    else:  # a db a reader found without migration 0010 (READ_OPTIONAL): nothing is packed
        m, tail = "CASE WHEN figures IS NULL THEN measurements ELSE '' END", "figures, NULL, NULL"
    return f"{head}, {m}, reasons, error, {tail}"


RESULT_COLUMNS, RESULT_COLUMNS_0009 = _select(True), _select(False)
_PLAIN = tuple((i, c) for i, c in enumerate(_COLUMNS) if c[0] != "status")
_STATUS = TrialStatus._value2member_map_
# json.loads without its wrappers: (value, end) of the JSON value at 0, StopIteration if none
_scan: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
    json.JSONDecoder()  # type: ignore[arg-type]
)
_JSON_SHAPES = {"params": dict, "targets": list, "measurements": dict, "reasons": list}


class ResultReader:
    """Rows (selected as RESULT_COLUMNS) to TrialResults; one per stream: it caches the
    parsed text of the small JSON columns."""

    def __init__(self) -> None:
        self._parsed: dict[tuple[str, str], Any] = {}
        self._skeletons: dict[str, Skeleton] = {}
        self._fine: set[tuple[type, ...]] = set()  # the column types of rows that passed as read

    def _json(self, rid: object, column: str, text: str, cache: bool) -> Any:
        if cache and (hit := self._parsed.get((column, text))) is not None:
            return hit
        try:
            value = json.loads(text)
        except ValueError as e:
            raise _corrupt("trials", rid, column, f"malformed JSON ({e})") from None
        shape = _JSON_SHAPES[column]
        if not isinstance(value, shape):
            got = type(value).__name__
            raise _corrupt("trials", rid, column, f"JSON {got}, expected a {shape.__name__}")
        if cache:
            value = tuple(value) if isinstance(value, list) else value
            self._parsed[(column, text)] = value
        return value

    def __call__(self, r: sqlite3.Row) -> TrialResult:
        v = list(r)
        rid = v[0]
        if (types := tuple(map(type, v))) not in self._fine:  # one test for the usual rows
            fine = True
            for i, (name, kinds) in _PLAIN:
                x = v[i]
                if type(x) is not kinds[0] and not (x is None and type(None) in kinds):
                    v[i], fine = _check("trials", rid, name, x, kinds), False
            if fine:
                self._fine.add(types)
        status = _STATUS.get(v[8]) if isinstance(v[8], str) else None
        if not isinstance(status, TrialStatus):
            _check("trials", rid, "status", v[8], (TrialStatus,))  # raises, naming the value
            raise AssertionError("unreachable")
        self._json(rid, "params", v[5], cache=True)
        if v[17] is not None:
            figures = self._packed(rid, v[16], v[17])
        elif v[15] is not None:
            figures = self._figures(rid, v[15])
        else:
            figures = figures_of(self._json(rid, "measurements", v[12], cache=False))
        return TrialResult(
            v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], status, v[9], v[10],
            self._json(rid, "targets", v[11], cache=True), figures,
            self._json(rid, "reasons", v[13], cache=True), v[14],
        )  # fmt: skip

    def _packed(self, rid: object, skeleton: str | None, doubles: bytes) -> Figures:
        try:
            if skeleton is None:
                raise ValueError("NULL beside packed figures")
            if (k := self._skeletons.get(skeleton)) is None:
                k = self._skeletons[skeleton] = Skeleton(skeleton)
            return Figures._make(k.unpack(doubles))
        except ValueError as e:
            raise _corrupt("trials", rid, "figures_skeleton/figures_f64", str(e)) from None

    @staticmethod
    def _figures(rid: object, text: str) -> Figures:
        try:
            value, end = _scan(text, 0)  # json.loads without its wrapper (hot: every row)
        except StopIteration:
            end = -1
        try:
            if end != len(text):
                value = json.loads(text)  # the error's message, or trailing white space
        except ValueError as e:
            raise _corrupt("trials", rid, "figures", f"malformed JSON ({e})") from None
        if type(value) is not list or len(value) != FIELDS or type(value[-1]) is not list:
            raise _corrupt("trials", rid, "figures", f"expected a list of {FIELDS} figures")
        return Figures._make(value)
