"""The reach program's watch mode (chaos/helper/reach.py, run on the host here), and the
harness side of a watch (chaos/net/reach_watch.py): its argv, its parser and
the rule that decides which attempt proves a peer port dark after a recorded exit."""

from __future__ import annotations

import math
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaos_eval.chaos.net.reach_watch import (
    WATCH_DIR,
    Attempt,
    Watch,
    new_ready_path,
    parse_watch,
    proof_after,
    ready_path,
    watch_argv,
)
from chaos_eval.chaos.net.reachability import REACH_PATH
from chaos_eval.errors import FaultError, ParameterError
from tests.unit.helper_programs import load_helper_program

reach = load_helper_program("reach")


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(512)
    yield s
    s.close()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))  # bound, never listening: refused
    port: int = s.getsockname()[1]
    s.close()
    return port


# -- the program ------------------------------------------------------------------------------


def test_watch_sees_the_port_close_and_lingers(
    listener: socket.socket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reach, "WATCH_DIR", str(tmp_path / "w"))
    ready = tmp_path / "w" / "00ff00ff"
    port = listener.getsockname()[1]
    marked: list[bool] = []

    def close() -> None:
        marked.append(ready.exists())  # it was looking well before the port closed
        listener.close()

    closer = threading.Timer(0.15, close)
    closer.start()
    try:
        lines = reach.watch("127.0.0.1", port, 5.0, 0.3, 0.05, 0.005, str(ready))
    finally:
        closer.cancel()
    assert marked == [True] and not ready.exists()  # and removed its marker at the end
    attempts, ended = parse_watch("\n".join(lines))
    assert ended == "failed"
    outcomes = [a.outcome for a in attempts]
    assert outcomes[0] == "open" and "ECONNREFUSED" in outcomes
    first = outcomes.index("ECONNREFUSED")
    assert set(outcomes[:first]) == {"open"}
    assert len(outcomes) - first >= 2  # it went on for the linger
    failed_at = attempts[first].start_ns
    assert attempts[-1].start_ns - failed_at < 1e9  # 0.05 s of linger, not the 5 s deadline


def test_watch_ends_at_its_deadline_and_cuts_an_unfinished_window(
    monkeypatch: pytest.MonkeyPatch, listener: socket.socket
) -> None:
    port = listener.getsockname()[1]
    lines = reach.watch("127.0.0.1", port, 0.05, 0.3, 0.1, 0.005)
    attempts, ended = parse_watch("\n".join(lines))
    assert ended == "deadline" and attempts and {a.outcome for a in attempts} == {"open"}

    windows: list[float] = []

    def silent(targets: list[tuple[str, int]], window: float) -> list[str]:
        windows.append(window)  # an address that never answers: every window runs out
        return ["closed ETIMEDOUT"]

    monkeypatch.setattr(reach, "probe", silent)
    lines = reach.watch("10.0.0.9", 2380, 0.05, 0.3, 0.1, 0.0)
    assert lines[-1] == "end deadline"
    assert all(line.endswith(" cut") for line in lines[:-1])  # no window was whole
    assert all(w < 0.3 for w in windows)
    windows.clear()
    lines = reach.watch("10.0.0.9", 2380, 5.0, 0.01, 0.0, 0.0)  # whole windows: failures
    assert lines == [lines[0], "end failed"] and lines[0].endswith(" closed ETIMEDOUT")


def test_watch_main_validates_every_argument(
    listener: socket.socket, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    assert reach.WATCH_DIR == WATCH_DIR  # the program and the harness agree
    monkeypatch.setattr(reach, "WATCH_DIR", str(tmp_path))
    port = str(listener.getsockname()[1])
    good = ["watch", "0.05", "0.3", "0.1", "0.005", f"{tmp_path}/abcdef01", "127.0.0.1", port]
    assert reach.main(good) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "end deadline"
    assert list(tmp_path.iterdir()) == []
    for i, bad in [(1, "0"), (1, "nan"), (1, "-1"), (1, "inf"), (2, "0"), (2, "31"), (3, "-0.1"),
                   (4, "2"), (4, "x"), (5, "/etc/passwd"), (5, f"{tmp_path}/abc"),
                   (5, f"{tmp_path}/../abcdef01"), (5, f"{tmp_path}/ABCDEF01"),
                   (6, "host"), (6, "10.1"), (6, "::1"), (7, "0"), (7, "65536"), (7, "x")]:
        argv = list(good)
        argv[i] = bad
        assert reach.main(argv) == 2, argv
    assert reach.main(good[:-1]) == 2 and reach.main([*good, "1"]) == 2
    assert reach.main(["watch"]) == 2
    shut = str(_closed_port())
    assert reach.main(["1", "127.0.0.1", shut]) == 0  # the probe mode is unchanged
    assert capsys.readouterr().out.splitlines()[-1] == f"127.0.0.1 {shut} closed ECONNREFUSED"


# -- the harness: argv, parser, rule -----------------------------------------------------------


def test_watch_argv_checks_everything() -> None:
    ready = ready_path("0123abcd")
    assert ready == f"{WATCH_DIR}/0123abcd" and new_ready_path() != new_ready_path()
    assert watch_argv("172.20.0.3", 2380, ready) == (
        "python3", REACH_PATH, "watch", "2", "0.3", "0.1", "0.005", ready, "172.20.0.3", "2380")
    for kw in ({"deadline_s": 0.0}, {"deadline_s": math.nan}, {"window_s": math.inf},
               {"linger_s": -1.0}, {"interval_s": 2.0}, {"window_s": 0.01}):
        with pytest.raises(ParameterError):
            watch_argv("172.20.0.3", 2380, ready, **kw)
    for ip, port in (("127.0.0.1", 2380), ("host", 2380), ("172.20.0.3", 0),
                     ("172.20.0.3", True), ("::1", 2380)):
        with pytest.raises(ParameterError):
            watch_argv(ip, port, ready)  # type: ignore[arg-type]
    for bad in ("abc", "0123ABCD", "../0123abcd", "0123abcd/x"):
        with pytest.raises(ParameterError):
            ready_path(bad)
    for bad in ("/tmp/x", f"{WATCH_DIR}/x", f"{WATCH_DIR}/0123abcd/", "", f"/{ready}"):
        with pytest.raises(ParameterError):
            watch_argv("172.20.0.3", 2380, bad)


def test_parse_watch_takes_only_whole_output() -> None:
    out = "10 open\n20 cut\n30 closed ECONNREFUSED\n30 closed ETIMEDOUT\nend failed\n"
    attempts, ended = parse_watch(out)
    assert ended == "failed"
    assert attempts == (Attempt(10, "open"), Attempt(20, "cut"), Attempt(30, "ECONNREFUSED"),
                        Attempt(30, "ETIMEDOUT"))
    assert [a.failed for a in attempts] == [False, False, True, True]
    assert parse_watch("end deadline") == ((), "deadline")
    for bad in ("", "10 open\n", "10 open\nend\n", "10 open\nend maybe\n", "x open\nend failed",
                "10 closed\nend failed", "10 shut\nend failed", "20 open\n10 open\nend failed",
                "end failed\nend failed", "-5 open\nend failed", "10 open 1\nend failed"):
        with pytest.raises(FaultError, match="watch"):
            parse_watch(bad)


def test_a_failure_before_the_recorded_exit_never_counts() -> None:
    exit_ns = 1_000
    refused = Attempt(exit_ns - 1, "ECONNREFUSED")
    assert proof_after((Attempt(0, "open"), refused), exit_ns) is None
    assert proof_after((Attempt(exit_ns, "ECONNREFUSED"),), exit_ns) is None  # strictly after
    later = Attempt(exit_ns + 1, "ECONNREFUSED")
    assert proof_after((refused, later), exit_ns) == later
    assert proof_after((refused, later), None) is None  # no recorded exit: no proof
    assert proof_after((Attempt(exit_ns + 1, "cut"),), exit_ns) is None
    # something connected after the exit: the watch proves nothing
    assert proof_after((later, Attempt(exit_ns + 2, "open")), exit_ns) is None
    watch = Watch("etcd2", "etcd1", 2380, (refused, later), "failed")
    probe = watch.proof(exit_ns)
    assert probe is not None and not probe.open and probe.reason == "ECONNREFUSED"
    assert str(probe) == "etcd2->etcd1:2380 blocked"
    assert "0.0 ms after the recorded exit" in watch.account(exit_ns)
    assert watch.proof(exit_ns + 5) is None and "probed after" in watch.account(exit_ns + 5)


OUTCOMES = st.sampled_from(["open", "cut", "ECONNREFUSED", "ETIMEDOUT", "EHOSTUNREACH"])
ATTEMPTS = st.lists(st.tuples(st.integers(0, 10_000), OUTCOMES), max_size=30).map(
    lambda xs: tuple(Attempt(t, o) for t, o in sorted(xs)))


@given(ATTEMPTS, st.integers(-1, 10_001))
def test_proof_after_is_a_failure_started_after_the_exit(
    attempts: tuple[Attempt, ...], exit_ns: int
) -> None:
    found = proof_after(attempts, exit_ns)
    after = [a for a in attempts if a.start_ns > exit_ns]
    if found is None:
        assert not any(a.failed for a in after) or any(a.outcome == "open" for a in after)
        return
    assert found.failed and found.start_ns > exit_ns
    assert found == next(a for a in after if a.failed)
    assert not any(a.outcome == "open" for a in after)
    # whatever happened before the exit, only what started after it decides
    before = tuple(a for a in attempts if a.start_ns <= exit_ns)
    assert proof_after(before, exit_ns) is None
