"""The times the engine records (State.FinishedAt...) read as nanoseconds of the kernel's
CLOCK_REALTIME (eval/engine/containers.py), which helper programs compare theirs with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from chaos_eval.engine.containers import engine_time_ns, parse_container


def test_engine_time_ns() -> None:
    assert engine_time_ns("2026-12-08T00:01:00.123456789Z") == 1796688060123456789
    assert engine_time_ns("2026-12-08T00:01:00.5Z") == 1796688060500000000
    assert engine_time_ns("2026-12-08T00:01:00Z") == 1796688060000000000
    assert engine_time_ns("2026-12-08T01:01:00.5+01:00") == 1796688060500000000
    for bad in ("0001-01-01T00:00:00Z", "", "yesterday", "2026-12-08T00:01:00.1234567891Z",
                "2026-12-08 00:01:00Z", "2026-13-08T00:01:00Z", "2026-12-08T00:01:00"):
        assert engine_time_ns(bad) is None, bad
    info = parse_container({"Id": "c", "State": {"FinishedAt": "2026-12-08T00:01:00Z"}})
    assert info.finished_at == "2026-12-08T00:01:00Z"
    assert parse_container({"Id": "c"}).finished_at == ""


@given(st.integers(0, 4_000_000_000 * 10**9))
def test_engine_time_ns_reads_what_the_engine_writes(ns: int) -> None:
    at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=ns // 10**9)
    frac = f"{ns % 10**9:09d}".rstrip("0")  # Go's RFC3339Nano drops trailing zeros
    text = at.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"
    assert engine_time_ns(text) == ns
