"""write_json writes json.dump(indent=2, ensure_ascii=False)'s text, byte for byte."""

from __future__ import annotations

import io
import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chaos_eval.render.json_text import write_json

scalars = (
    st.none() | st.booleans() | st.integers() | st.text()
    | st.floats(allow_nan=True, allow_infinity=True)
)
keys = st.text() | st.integers() | st.booleans() | st.none() | st.floats(allow_nan=False)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.tuples(inner, inner)
    | st.dictionaries(keys, inner, max_size=5),
    max_leaves=40,
)


def _text(data: Any, indent: int = 2) -> str:
    buf = io.StringIO()
    write_json(data, buf, indent)
    return buf.getvalue()


@settings(max_examples=400, deadline=None)
@given(values)
def test_same_text_as_json_dump(data: Any) -> None:
    assert _text(data) == json.dumps(data, indent=2, ensure_ascii=False)


def test_an_analysis_shape_and_non_ascii() -> None:
    data = {
        "campaign": {"id": 1, "name": "nächtlich ✓", "totals": {"passed": 3}, "x": []},
        "cells": [{"per_trial": [{"id": 1, "rerun": "chaos-eval rerun 1 'k'"}] * 3,
                   "median_ci95": [0.1, None], "nan": math.nan, "empty": {}}],
        1.5: True, None: [[], [{}], [1, [2, [3]]]],
    }
    assert _text(data) == json.dumps(data, indent=2, ensure_ascii=False)
    assert _text(data, 4) == json.dumps(data, indent=4, ensure_ascii=False)
