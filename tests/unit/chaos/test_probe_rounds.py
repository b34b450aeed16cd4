"""Probe rounds (chaos/net/probe_rounds.py and chaos/helper/reach.py's --first/--rounds): the
argv, the parser, which round is accepted, the clock check, and the program itself on the
host."""

from __future__ import annotations

import itertools
import socket
import sys
import time

import pytest

from chaos_eval.chaos.net.probe_rounds import (
    EVERY_S,
    ROUNDS,
    Installation,
    Installed,
    Round,
    parse_rounds,
    rounds_argv,
    settled,
)
from chaos_eval.chaos.net.reachability import REACH_PATH
from chaos_eval.errors import FaultError, ParameterError
from tests.unit.chaos.test_partition_argv import N3
from tests.unit.helper_programs import load_helper_program

TARGETS = (("172.20.0.3", 2380), ("172.20.0.4", 2380))
RESTORE = ("iptables-restore", "--noflush", "-w", "5", "/tmp/r")


def test_rounds_argv() -> None:
    assert rounds_argv(TARGETS, RESTORE) == (
        "python3", "-S", REACH_PATH, "--first", "5", *RESTORE,
        "--rounds", str(ROUNDS), f"{EVERY_S:g}", "0.3", "172.20.0.3", "2380", "172.20.0.4", "2380",
    )
    assert rounds_argv(TARGETS, ("true",), rounds=1, every_s=0)[3:9] == (
        "--first", "1", "true", "--rounds", "1", "0")
    for bad in (dict(rounds=0), dict(rounds=101), dict(every_s=-1.0), dict(every_s=2.0)):
        with pytest.raises(ParameterError):
            rounds_argv(TARGETS, RESTORE, **bad)  # type: ignore[arg-type]
    for first in ((), ("",), ("a\0b",)):
        with pytest.raises(ParameterError):
            rounds_argv(TARGETS, first)
    with pytest.raises(ParameterError):
        rounds_argv([("not-an-ip", 2380)], RESTORE)


def test_parse_rounds() -> None:
    out = ("first 0 100.500000\nround 0 100.500100\n172.20.0.3 2380 open\n"
           "172.20.0.4 2380 closed ETIMEDOUT\nround 1 100.520000\n172.20.0.3 2380 closed EPERM\n"
           "172.20.0.4 2380 open\n")
    seen = parse_rounds(out, TARGETS)
    assert seen == Installed(0, 100.5, (
        Round(100.5001, ((True, ""), (False, "ETIMEDOUT"))),
        Round(100.52, ((False, "EPERM"), (True, ""))),
    ))
    assert parse_rounds("first 4 1.0\n", TARGETS) == Installed(4, 1.0)
    assert parse_rounds("", TARGETS) == Installed(None, None)  # said nothing: unknown
    both = "172.20.0.3 2380 open\n172.20.0.4 2380 open\n"
    for wrong in ("first x 1\n", "first 0 1\nround 1 2\n" + both,
                  "first 0 1\nround 0 2\n172.20.0.3 2380 open\n",
                  "first 0 1\nround 0 2\n172.20.0.4 2380 open\n172.20.0.3 2380 open\n",
                  "first 0 1\nround 0 x\n" + both):
        with pytest.raises(FaultError, match="reach"):
            parse_rounds(wrong, TARGETS)


def test_times_must_be_on_the_harness_clock() -> None:
    seen = Installed(0, 10.1, (Round(10.1, ()), Round(10.2, ())))
    assert seen.times_ok(10.0, 10.5)
    assert not seen.times_ok(10.15, 10.5) and not seen.times_ok(10.0, 10.19)
    assert not Installed(0, None).times_ok(0.0, 1e9)
    done = Installation(0, "", seen, 10.0, 10.5)
    assert done.applied and done.in_at == 10.1 and done.rounds == seen.rounds
    off = Installation(0, "", seen, 20.0, 20.5)  # the helper's clock is not ours
    assert off.applied and off.in_at == 20.5 and off.rounds == ()  # never too early
    assert not Installation(1, "", Installed(1, 10.1), 10.0, 10.5).applied
    assert not Installation(0, "", None, 10.0, 10.5).applied


def test_settled_takes_each_source_s_first_round_after_the_last_rules() -> None:
    a, b, c = N3
    early = Round(9.99, ((True, ""), (True, "")))  # before the fault was whole: never taken
    late = Round(10.0, ((False, "ETIMEDOUT"), (True, "")))
    later = Round(10.02, ((True, ""), (True, "")))
    got = settled({"etcd1": ((b, c), (early, late, later)), "etcd2": ((a, c), (early,))}, 10.0)
    assert set(got) == {("etcd1", "etcd2"), ("etcd1", "etcd3")}  # etcd2: no round in time
    p = got[("etcd1", "etcd2")]
    assert (p.src, p.dst, p.port, p.open, p.exit_code, p.reason) == (
        "etcd1", "etcd2", 2380, False, 1, "ETIMEDOUT")
    assert got[("etcd1", "etcd3")].open


# -- the program ------------------------------------------------------------------------------


@pytest.fixture
def ports() -> tuple[int, int, socket.socket, socket.socket]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: refused
    return listener.getsockname()[1], closed.getsockname()[1], listener, closed


def test_program_runs_first_then_rounds(
    ports: tuple[int, int, socket.socket, socket.socket], capsys: pytest.CaptureFixture[str],
) -> None:
    reach = load_helper_program("reach")
    port, shut, *socks = ports
    t0 = time.monotonic()
    try:
        code = reach.main(["--first", "3", sys.executable, "-c", "pass", "--rounds", "3",
                           "0.05", "1", "127.0.0.1", str(port), "127.0.0.1", str(shut)])
    finally:
        for s in socks:
            s.close()
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    first = lines[0].split()
    assert first[:2] == ["first", "0"] and t0 <= float(first[2]) <= time.monotonic()
    starts = []
    for k in range(3):
        head, *body = lines[1 + 3 * k: 4 + 3 * k]
        assert head.split()[:2] == ["round", str(k)]
        starts.append(float(head.split()[2]))
        assert body == [f"127.0.0.1 {port} open", f"127.0.0.1 {shut} closed ECONNREFUSED"]
    assert float(first[2]) <= starts[0]
    assert all(b - a >= 0.045 for a, b in itertools.pairwise(starts))


def test_program_stops_when_first_fails(capsys: pytest.CaptureFixture[str]) -> None:
    reach = load_helper_program("reach")
    code = reach.main(["--first", "3", sys.executable, "-c", "raise SystemExit(3)",
                       "--rounds", "2", "0", "1", "127.0.0.1", "9"])
    assert code == 3
    assert capsys.readouterr().out.split()[:2] == ["first", "3"]  # and no round
    assert reach.main(["--first", "1", "/nonexistent/program", "1", "127.0.0.1", "9"]) == 127


def test_program_times_out_unanswered_connects_in_every_round() -> None:
    """A listener whose accept queue is full drops further SYNs (Linux): those connects get
    no handshake within the window and read ETIMEDOUT, round after round."""
    reach = load_helper_program("reach")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = [socket.create_connection(("127.0.0.1", port), timeout=1)]
    try:
        t0 = time.monotonic()
        out = reach.probe_rounds([("127.0.0.1", port)], 0.1, 2, 0.05)
        took = time.monotonic() - t0
    finally:
        for s in (*fillers, listener):
            s.close()
    assert [s for _, s in out] == [["closed ETIMEDOUT"]] * 2
    assert out[1][0] - out[0][0] >= 0.05
    assert 0.15 <= took < 1.0  # the second round's window ends 0.05 + 0.1 s in


def test_program_refuses_bad_options() -> None:
    reach = load_helper_program("reach")
    for bad in (["--first", "0", "1", "127.0.0.1", "9"], ["--first", "3", "true", "1"],
                ["--rounds", "0", "0", "1", "127.0.0.1", "9"],
                ["--rounds", "2", "x", "1", "127.0.0.1", "9"],
                ["--rounds", "2", "11", "1", "127.0.0.1", "9"]):
        assert reach.main(bad) == 2, bad
