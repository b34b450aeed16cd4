"""Egress shaping without Docker: parameter validation, every argv, the parsers, the
verification plans, and the shaper's netlink encoding and per-packet decisions."""

from __future__ import annotations

import itertools
import json
import math
import struct

import pytest
from pydantic import ValidationError

from chaos_eval.chaos.latency import LatencyFault, LatencyParams
from chaos_eval.chaos.net import netem, ping, queue_rules
from chaos_eval.chaos.net import shape as ns
from chaos_eval.chaos.net import shaper_daemon as sd
from chaos_eval.chaos.net.shaped_fault import observer_for
from chaos_eval.chaos.net.shaping import Residue
from chaos_eval.chaos.packet_loss import PacketLossFault, PacketLossParams, loss_plan
from chaos_eval.engine.client import Docker
from chaos_eval.errors import ParameterError
from chaos_eval.fault import Fault, UndoOp, undo_plan_from_json, undo_plan_to_json
from chaos_eval.subject import Node, TrialContext
from tests.unit.helper_programs import load_helper_program

sh = load_helper_program("shaper")  # no side effects on import: no socket, no handler

CTX = TrialContext(campaign_id=7, trial_key="0123456789abcdef" * 4, seed=42)
NODES = tuple(Node(f"etcd{i}", "etcd", f"cid{i}", f"10.9.0.{i + 1}") for i in (1, 2, 3))


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize("dev", ["eth0", "lo", "veth1a2b.100", "a" * 15, "br-x_y"])
def test_device_names_accepted(dev: str) -> None:
    assert netem.checked_device(dev) == dev


@pytest.mark.parametrize("dev", ["", "a" * 16, "eth0;reboot", "eth 0", "../x", "eth0\n"])
def test_device_names_rejected(dev: str) -> None:
    with pytest.raises(ParameterError):
        netem.checked_device(dev)


@pytest.mark.parametrize("ms", [0, -1, 60_001, True, 1.5, "100"])
def test_delay_rejected(ms: object) -> None:
    with pytest.raises(ParameterError):
        ns.checked_delay_ms(ms)  # type: ignore[arg-type]


def test_delay_and_jitter_bounds() -> None:
    assert ns.checked_delay_ms(1) == 1 and ns.checked_delay_ms(60_000) == 60_000
    assert ns.checked_jitter_ms(0, 10) == 0 and ns.checked_jitter_ms(10, 10) == 10
    with pytest.raises(ParameterError):
        ns.checked_jitter_ms(11, 10)
    with pytest.raises(ParameterError):
        ns.checked_jitter_ms(-1, 10)


@pytest.mark.parametrize("pct", [-0.1, 100.01, math.nan, math.inf, True, "5"])
def test_percentages_rejected(pct: object) -> None:
    with pytest.raises(ParameterError):
        ns.checked_pct(pct, "loss")  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [0, 4239, 4250, 65535, True])
def test_queue_outside_reserved_range_rejected(n: int) -> None:
    with pytest.raises(ParameterError):
        ns.checked_queue(n)


@pytest.mark.parametrize("ip", ["10.0.0.1; rm", "::1", "127.0.0.1", "0.0.0.0", "", "10.0.0"])
def test_ping_refuses_non_node_addresses(ip: str) -> None:
    with pytest.raises(ParameterError):
        ping.ping_argv(ip, 5, 0.2, 2, quiet=True)


@pytest.mark.parametrize(
    "kw",
    [
        {"chain": "INPUT"},
        {"chain": "CHAOS_EVAL_x"},
        {"hook": "INPUT"},
        {"handle": "0:"},
        {"handle": "ffff1:"},
        {"queue": 7},
        {"short": "Bad-Name"},
    ],
)
def test_slot_validation(kw: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "kind": "k", "short": "k", "chain": "CHAOS_EVAL_K", "hook": "OUTPUT", "queue": 4244,
        "handle": "4c47:",
    }
    with pytest.raises(ParameterError):
        ns.Slot(**{**fields, **kw})  # type: ignore[arg-type]


def test_shape_validation() -> None:
    with pytest.raises(ParameterError):
        ns.Shape()  # does nothing
    with pytest.raises(ParameterError):
        ns.Shape(delay_ms=10, jitter_ms=11)
    with pytest.raises(ParameterError):
        ns.Shape(loss_pct=101)
    with pytest.raises(ParameterError):
        ns.Shape(delay_ms=10, distribution="pareto")  # type: ignore[arg-type]
    assert ns.Shape(loss_pct=0.5).delay_ms == 0


def test_slots_do_not_collide() -> None:
    lat, loss = ns.LATENCY_SLOT, ns.LOSS_SLOT
    assert len({lat.chain, loss.chain}) == len({lat.queue, loss.queue}) == 2
    assert len({lat.handle, loss.handle}) == len({lat.hook, loss.hook}) == 2


# -- argv -------------------------------------------------------------------------------------


def test_netem_argv() -> None:
    lat = ns.LATENCY_SLOT
    assert netem.netem_argv(lat, ns.Shape(delay_ms=100)) == (
        "tc", "qdisc", "replace", "dev", "eth0", "root", "handle", "4c45:", "netem",
        "delay", "100ms",
    )
    assert netem.netem_argv(lat, ns.Shape(delay_ms=100, jitter_ms=10, distribution="normal"))[-5:] \
        == ("delay", "100ms", "10ms", "distribution", "normal")
    assert netem.netem_argv(lat, ns.Shape(delay_ms=100, distribution="normal"))[-2:] == (
        "delay", "100ms",
    )  # a distribution needs a jitter to shape
    loss = netem.netem_argv(ns.LOSS_SLOT, ns.Shape(loss_pct=0.5, loss_corr_pct=25))
    assert loss[7:] == ("4c46:", "netem", "loss", "0.5%", "25%")
    assert netem.netem_argv(ns.LOSS_SLOT, ns.Shape(loss_pct=1e-05))[-1] == "0%"  # no exponent


def test_tc_delete_show_and_probe() -> None:
    assert netem.netem_delete_argv(ns.LATENCY_SLOT) == (
        "tc", "qdisc", "del", "dev", "eth0", "root", "handle", "4c45:",
    )
    assert netem.qdisc_show_argv("eth1") == ("tc", "-j", "qdisc", "show", "dev", "eth1")
    assert netem.netem_probe_argv()[:5] == ("tc", "qdisc", "add", "dev", "lo")


def test_iptables_argv() -> None:
    lat, loss = ns.LATENCY_SLOT, ns.LOSS_SLOT
    head = ("iptables", "-w", "5", "-t", "mangle")
    assert queue_rules.new_chain_argv(lat) == (*head, "-N", "CHAOS_EVAL_LAT")
    assert queue_rules.flush_chain_argv(lat) == (*head, "-F", "CHAOS_EVAL_LAT")
    assert queue_rules.delete_chain_argv(lat) == (*head, "-X", "CHAOS_EVAL_LAT")
    assert queue_rules.queue_rule_argv(loss) == (
        *head, "-A", "CHAOS_EVAL_LOSS", "!", "-o", "lo", "-j", "NFQUEUE", "--queue-num", "4243",
        "--queue-bypass",
    )
    jump = ("-m", "comment", "--comment", "chaos-eval", "-j", "CHAOS_EVAL_LAT")
    assert queue_rules.jump_insert_argv(lat) == (*head, "-I", "OUTPUT", "1", *jump)
    assert queue_rules.jump_check_argv(lat) == (*head, "-C", "OUTPUT", *jump)
    assert queue_rules.jump_delete_argv(lat) == (*head, "-D", "OUTPUT", *jump)
    assert queue_rules.jump_delete_argv(loss)[5:7] == ("-D", "POSTROUTING")
    assert queue_rules.list_rules_argv() == (*head, "-S")


def test_inject_rules_is_the_three_steps_in_one_transaction() -> None:
    """The restore file holds exactly what the step-by-step argvs add, jump last."""
    for slot in (ns.LATENCY_SLOT, ns.LOSS_SLOT):
        steps = [queue_rules.new_chain_argv(slot), queue_rules.queue_rule_argv(slot),
                 queue_rules.jump_insert_argv(slot)]
        lines = queue_rules.inject_rules(slot).splitlines()
        assert lines[0] == "*mangle" and lines[-1] == "COMMIT"
        assert [tuple(line.split()) for line in lines[1:-1]] == [argv[5:] for argv in steps]


def test_shaper_argv_and_name() -> None:
    argv = sd.shaper_argv(ns.LOSS_SLOT, ns.Shape(loss_pct=30, loss_corr_pct=12.5), seed=-1)
    assert argv == (
        "chaos-eval-shaper", "--queue", "4243", "--delay-ms", "0", "--jitter-ms", "0",
        "--distribution", "uniform", "--loss-pct", "30", "--loss-corr-pct", "12.5",
        "--seed", "4294967295",
    )
    assert sh.parse_args(list(argv[1:])).loss_corr_pct == 12.5  # the shaper reads what we write
    assert sd.helper_name("ce7-0123", ns.LATENCY_SLOT, "etcd 1/x") == "ce7-0123-shaper-lat-etcd-1-x"


def test_ping_argv() -> None:
    assert ping.ping_argv("10.0.0.2", 40, 0.05, 2, quiet=True) == (
        "ping", "-n", "-c", "40", "-i", "0.05", "-W", "2", "-q", "10.0.0.2",
    )
    with pytest.raises(ParameterError):
        ping.ping_argv("10.0.0.2", 0, 0.05, 2, quiet=True)


# -- parsers ----------------------------------------------------------------------------------


def test_parse_root_qdisc() -> None:
    default = '[{"kind":"noqueue","handle":"0:","root":true,"refcnt":2,"options":{}}]'
    root = netem.parse_root_qdisc(default)
    assert root == netem.RootQdisc("noqueue", "0:") and root.is_default
    ours = json.dumps([
        {"kind": "netem", "handle": "4c45:", "root": True},
        {"kind": "pfifo", "handle": "8001:", "parent": "4c45:1"},
    ])
    assert netem.parse_root_qdisc(ours) == netem.RootQdisc("netem", "4c45:")
    assert netem.parse_root_qdisc("[]") is None and netem.parse_root_qdisc("") is None
    with pytest.raises(ValueError):
        netem.parse_root_qdisc("qdisc noqueue 0: root")


def test_chain_residue_sees_only_its_slot() -> None:
    rules = "\n".join([
        "-P OUTPUT ACCEPT",
        "-N CHAOS_EVAL_LAT",
        "-N CHAOS_EVAL_LOSS",
        "-N CHAOS_EVAL_LATX",
        '-A OUTPUT -m comment --comment "chaos-eval" -j CHAOS_EVAL_LAT',
        "-A POSTROUTING -m comment --comment chaos-eval -j CHAOS_EVAL_LOSS",
        "-A CHAOS_EVAL_LAT ! -o lo -j NFQUEUE --queue-num 4242 --queue-bypass",
    ])
    assert queue_rules.chain_residue(rules, ns.LATENCY_SLOT) == (
        "-N CHAOS_EVAL_LAT",
        '-A OUTPUT -m comment --comment "chaos-eval" -j CHAOS_EVAL_LAT',
        "-A CHAOS_EVAL_LAT ! -o lo -j NFQUEUE --queue-num 4242 --queue-bypass",
    )
    assert queue_rules.chain_residue("-P OUTPUT ACCEPT\n", ns.LOSS_SLOT) == ()


def test_shaper_event() -> None:
    logs = 'noise\n{"event": "bound", "queue": 4242}\nTraceback...\n'
    assert sd.shaper_event(logs) == {"event": "bound", "queue": 4242}
    assert sd.shaper_event('{"event": "bound"}\n{"event": "stopped", "received": 3}\n') == {
        "event": "stopped", "received": 3,
    }
    assert sd.shaper_event("") is None and sd.shaper_event("{not json\n[1]\n") is None


PING_OK = """PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.
64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=1.18 ms
64 bytes from 10.0.0.2: icmp_seq=2 ttl=64 time=101 ms
64 bytes from 10.0.0.2: icmp_seq=2 ttl=64 time=150 ms (DUP!)
64 bytes from 10.0.0.2: icmp_seq=3 ttl=64 time=100.5 ms

--- 10.0.0.2 ping statistics ---
4 packets transmitted, 3 received, +1 duplicates, 25% packet loss, time 811ms
rtt min/avg/max/mdev = 1.18/88.2/150/40.1 ms
"""


def test_parse_ping() -> None:
    stats = ping.parse_ping(PING_OK)
    assert stats is not None
    assert (stats.transmitted, stats.received, stats.lost) == (4, 3, 1)
    assert stats.rtts_ms == (1.18, 101.0, 100.5) and stats.median_ms == 100.5
    assert stats.loss_pct == 25.0
    dead = ping.parse_ping("5 packets transmitted, 0 received, +5 errors, 100% packet loss\n")
    assert dead == ping.PingStats(5, 0) and dead.median_ms is None and dead.loss_pct == 100
    assert ping.parse_ping("ping: connect: Network is unreachable\n") is None


# -- verification plans -----------------------------------------------------------------------


def test_observer_prefers_untouched_nodes() -> None:
    a, b, c = NODES
    assert observer_for(a, NODES, (a,)) == (b, 1)
    assert observer_for(b, NODES, (a, b)) == (c, 1)
    assert observer_for(a, NODES, NODES) == (b, 2)
    assert observer_for(a, (a,), (a,)) is None


def test_loss_plan() -> None:
    n, q, need = loss_plan(30, 0, 1)
    assert (n, q) == (100, pytest.approx(0.3)) and need == 16  # 30 - 3 * 4.58
    assert loss_plan(1, 0, 1)[0] == 1000 and loss_plan(1, 0, 1)[2] == 1
    assert loss_plan(100, 0, 1)[2] == 100
    assert loss_plan(30, 0, 2)[1] == pytest.approx(0.51)
    assert loss_plan(30, 50, 1)[2] < need  # bursts widen the band


def test_residue_text() -> None:
    assert Residue("etcd1", (), None, None).clean
    left = Residue("etcd1", ("-N CHAOS_EVAL_LAT",), "4c45:", "x-shaper")
    assert not left.clean and "qdisc 4c45:" in str(left) and "container x-shaper" in str(left)


# -- the faults' pure parts -------------------------------------------------------------------


def test_latency_params() -> None:
    p = LatencyParams.model_validate({"delay_ms": 100, "jitter_ms": 10})
    assert (p.backend, p.distribution) == ("auto", "uniform")
    for bad in ({"delay_ms": 0}, {"delay_ms": 60_001}, {"delay_ms": 10, "jitter_ms": 11},
                {"delay_ms": 10, "backend": "tc"}, {"delay_ms": 10, "extra": 1}, {}):
        with pytest.raises(ValidationError):
            LatencyParams.model_validate(bad)
    with pytest.raises(ValidationError):
        p.delay_ms = 5  # type: ignore[misc]  # frozen


def test_packet_loss_params() -> None:
    p = PacketLossParams.model_validate({"loss_pct": 30})
    assert (p.correlation_pct, p.backend) == (0, "auto")
    for bad in ({"loss_pct": 0}, {"loss_pct": 100.5}, {"loss_pct": float("inf")},
                {"loss_pct": 5, "correlation_pct": 101}, {"loss_pct": 5, "x": 1}):
        with pytest.raises(ValidationError):
            PacketLossParams.model_validate(bad)


def test_faults_are_faults_with_complete_undo_plans() -> None:
    docker = Docker()  # never contacted: everything below is pure
    lat = LatencyFault(LatencyParams(delay_ms=100, jitter_ms=5), NODES[:2], NODES, CTX, docker)
    loss = PacketLossFault(PacketLossParams(loss_pct=30), NODES[:1], NODES, CTX, docker)
    assert isinstance(lat, Fault) and isinstance(loss, Fault)
    assert lat.kind == "latency" and loss.kind == "packet_loss"
    assert lat.describe() == "latency +100ms ±5ms uniform (backend auto) on etcd1, etcd2"
    assert loss.describe() == "packet_loss 30% (backend auto) on etcd1"
    plan = lat.undo_plan()
    assert undo_plan_from_json(undo_plan_to_json(plan)) == plan
    assert [a.op for a in plan].count(UndoOp.REMOVE_CONTAINER) == 2
    first = [(a.op, a.container, a.argv, a.ok_exit_codes) for a in plan[:5]]
    ipt = ("iptables", "-w", "5", "-t", "mangle")
    jump = ("-m", "comment", "--comment", "chaos-eval", "-j", "CHAOS_EVAL_LAT")
    run = UndoOp.HELPER_RUN
    assert first == [
        (run, "cid1", (*ipt, "-D", "OUTPUT", *jump), (0, 1, 2)),
        (run, "cid1", (*ipt, "-F", "CHAOS_EVAL_LAT"), (0, 1)),
        (run, "cid1", (*ipt, "-X", "CHAOS_EVAL_LAT"), (0, 1)),
        (run, "cid1", ("tc", "qdisc", "del", "dev", "eth0", "root", "handle", "4c45:"), (0, 2)),
        (UndoOp.REMOVE_CONTAINER, f"{CTX.project}-shaper-lat-etcd1", (), (0,)),
    ]
    assert all(a.op is UndoOp.REMOVE_CONTAINER or a.container.startswith("cid") for a in plan)
    assert all(4 not in a.ok_exit_codes for a in plan)  # -X of a chain in use is NOT done


# -- the shaper's protocol bytes --------------------------------------------------------------


def test_nla_pads_to_four_bytes() -> None:
    payload = b"\x01\x02\x03\x04\x05"
    assert sh.nla(2, payload) == struct.pack("=HH", 9, 2) + payload + b"\0\0\0"
    assert len(sh.nla(1, b"")) == 4


def test_bind_message_layout() -> None:
    msg = sh.bind_message(4242, seq=9)
    length, mtype, flags, seq, pid = struct.unpack_from("=IHHII", msg)
    assert (length, mtype, flags, seq, pid) == (len(msg), (3 << 8) | 2, 0x5, 9, 0)
    family, version, res_id = struct.unpack_from("!BBH", msg, 16)
    assert (family, version, res_id) == (2, 0, 4242)
    attrs = sh.parse_attrs(msg[20:])
    assert attrs[1] == struct.pack("!BxH", 1, 2)  # BIND, AF_INET
    assert attrs[2] == struct.pack("!IB", 0, 1)  # copy_range 0, COPY_META
    assert attrs[5] == attrs[4] == struct.pack("!I", 1)  # FAIL_OPEN
    assert struct.unpack("!I", attrs[3])[0] == sh.QUEUE_MAXLEN


def test_verdict_message_layout() -> None:
    msg = sh.verdict_message(4243, packet_id=0x01020304, verdict=sh.NF_DROP)
    [(mtype, _seq, payload)] = list(sh.split_messages(msg))
    assert mtype == (3 << 8) | 1 and struct.unpack_from("!H", payload, 2)[0] == 4243
    assert sh.parse_attrs(payload[4:])[2] == struct.pack("!II", 0, 0x01020304)


def _packet(packet_id: int, seq: int = 0) -> bytes:
    hdr = sh.nla(1 | 0x4000, struct.pack("!IHB", packet_id, 0x0800, 3))  # NET_BYTEORDER flag
    extra = sh.nla(3, b"\x00\x00\x00\x05")
    return sh.nfq_message(0, 4242, hdr + extra, seq=seq, flags=0, family=2)


def test_split_and_decode_packets() -> None:
    buf = _packet(7, seq=1) + _packet(8, seq=2)
    msgs = list(sh.split_messages(buf))
    assert [m[1] for m in msgs] == [1, 2]
    assert [sh.packet_id_of(m[2]) for m in msgs] == [7, 8]
    with pytest.raises(ValueError):
        list(sh.split_messages(buf[:-3]))
    with pytest.raises(ValueError):
        sh.packet_id_of(struct.pack("!BBH", 2, 0, 4242))


def test_error_code() -> None:
    assert sh.error_code(struct.pack("=i", -1) + b"\0" * 16) == 1  # EPERM
    assert sh.error_code(struct.pack("=i", 0) + b"\0" * 16) == 0  # ack


def test_json_line_is_json() -> None:
    line = sh.json_line({"event": "bound", "q": 1, "x": 2.5, "ok": True, "n": None,
                         "s": 'a"b\\c\n'})
    assert json.loads(line) == {"event": "bound", "q": 1, "x": 2.5, "ok": True, "n": None,
                                "s": 'a"b\\c\n'}


def test_shaper_args_validated() -> None:
    with pytest.raises(SystemExit):
        sh.parse_args(["--queue", "1", "--delay-ms", "10", "--jitter-ms", "11"])
    with pytest.raises(SystemExit):
        sh.parse_args(["--queue", "1", "--loss-pct", "101"])


# -- the shaper's decisions -------------------------------------------------------------------


def _decider(**kw: float | str) -> object:
    base: dict[str, float | str] = {"delay_ms": 0, "jitter_ms": 0, "distribution": "uniform",
                                    "loss_pct": 0, "loss_corr_pct": 0, "seed": 1}
    return sh.Decider(**{**base, **kw})


def test_decider_loss_extremes_and_delay() -> None:
    never = _decider(delay_ms=100)
    assert all(never.decide() == pytest.approx(0.1) for _ in range(1000))  # type: ignore[attr-defined]
    always = _decider(loss_pct=100)
    assert all(always.decide() is None for _ in range(1000))  # type: ignore[attr-defined]


def test_decider_jitter() -> None:
    uni = _decider(delay_ms=100, jitter_ms=20)
    draws = [uni.decide() for _ in range(5000)]  # type: ignore[attr-defined]
    assert min(draws) >= 0.08 and max(draws) <= 0.12
    assert sum(draws) / len(draws) == pytest.approx(0.1, abs=0.002)
    normal = _decider(delay_ms=100, jitter_ms=20, distribution="normal")
    draws = [normal.decide() for _ in range(5000)]  # type: ignore[attr-defined]
    mean = sum(draws) / len(draws)
    sd = math.sqrt(sum((d - mean) ** 2 for d in draws) / len(draws))
    assert mean == pytest.approx(0.1, abs=0.002) and sd == pytest.approx(0.02, abs=0.002)


@pytest.mark.parametrize("corr", [0.0, 50.0, 90.0])
def test_decider_correlated_loss_keeps_the_rate(corr: float) -> None:
    d = _decider(loss_pct=30, loss_corr_pct=corr, seed=5)
    fates = [d.drop() for _ in range(200_000)]  # type: ignore[attr-defined]
    rate = sum(fates) / len(fates)
    assert rate == pytest.approx(0.30, abs=0.02)
    pairs = list(itertools.pairwise(fates))
    p_after_drop = sum(b for a, b in pairs if a) / sum(a for a, _ in pairs)
    assert p_after_drop == pytest.approx(0.30 + corr / 100 * 0.70, abs=0.02)


def test_decider_is_seeded() -> None:
    a, b = _decider(loss_pct=50, seed=3), _decider(loss_pct=50, seed=3)
    assert [a.drop() for _ in range(100)] == [b.drop() for _ in range(100)]  # type: ignore[attr-defined]
