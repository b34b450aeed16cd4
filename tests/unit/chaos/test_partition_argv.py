from __future__ import annotations

import io
import socket
import tarfile

import pytest
from pydantic import ValidationError

from chaos_eval.chaos.net import restore
from chaos_eval.chaos.net.addresses import checked_ipv4
from chaos_eval.chaos.net.partition_plan import plan_partition
from chaos_eval.chaos.net.partition_rules import (
    CHAIN,
    RULES_PATH,
    delete_chain_argv,
    drop_rules,
    flush_chain_argv,
    found,
    inject_rules,
    jump_argv,
    leftovers,
    list_rules_argv,
    removal_rules,
    restore_argv,
    rules_file,
    undo_argvs,
)
from chaos_eval.chaos.net.reachability import (
    REACH_PATH,
    nc_argv,
    parse_reach,
    reach_argv,
)
from chaos_eval.chaos.partition import PartitionFault, PartitionParams
from chaos_eval.engine.client import Docker
from chaos_eval.engine.containers import helper_archive
from chaos_eval.errors import FaultError, ParameterError
from chaos_eval.fault import UndoOp, undo_plan_from_json, undo_plan_to_json
from chaos_eval.subject import Node, TrialContext
from tests.unit.helper_programs import load_helper_program


def _node(i: int, address: str | None = None) -> Node:
    return Node(
        name=f"etcd{i}",
        role="etcd",
        container_id=f"cid{i}",
        address=address or f"172.20.0.{i + 1}",
        peer_ports=(2380,),
    )


N3 = (_node(1), _node(2), _node(3))
N5 = tuple(_node(i) for i in range(1, 6))
CTX = TrialContext(campaign_id=1, trial_key="k" * 16, seed=7)


def test_jump_argvs() -> None:
    tail = ("-m", "comment", "--comment", "chaos-eval", "-j", CHAIN)
    assert jump_argv("-I", "INPUT") == ("iptables", "-w", "5", "-I", "INPUT", "1", *tail)
    assert jump_argv("-D", "INPUT") == ("iptables", "-w", "5", "-D", "INPUT", *tail)
    with pytest.raises(FaultError):
        jump_argv("-I", "FORWARD")


def test_chain_argvs_touch_only_our_chain() -> None:
    assert flush_chain_argv()[-2:] == ("-F", CHAIN)
    assert delete_chain_argv()[-2:] == ("-X", CHAIN)
    assert list_rules_argv() == ("iptables", "-w", "5", "-S")
    for argv, _ in undo_argvs():
        # never a bare -F / -X (that would flush every chain), always naming ours
        assert CHAIN in argv
        assert not ({"-F", "-X"} & set(argv)) or argv[-1] == CHAIN


def test_drop_rules() -> None:
    assert drop_rules(("172.20.0.3", "172.20.0.2")) == (
        ("-A", CHAIN, "-s", "172.20.0.3", "-j", "DROP"),
        ("-A", CHAIN, "-s", "172.20.0.2", "-j", "DROP"),
        ("-A", CHAIN, "-d", "172.20.0.3", "-j", "DROP"),
        ("-A", CHAIN, "-d", "172.20.0.2", "-j", "DROP"),
    )
    with pytest.raises(FaultError):
        drop_rules(())


def test_inject_rules_are_one_transaction_jumps_last() -> None:
    tail = "-m comment --comment chaos-eval -j CHAOS_EVAL_PART"
    assert inject_rules(("172.20.0.3", "172.20.0.2")) == "\n".join(
        [
            "*filter",
            "-N CHAOS_EVAL_PART",  # refuses (and so does the whole file) if it is left over
            "-A CHAOS_EVAL_PART -s 172.20.0.3 -j DROP",
            "-A CHAOS_EVAL_PART -s 172.20.0.2 -j DROP",
            "-A CHAOS_EVAL_PART -d 172.20.0.3 -j DROP",
            "-A CHAOS_EVAL_PART -d 172.20.0.2 -j DROP",
            f"-I INPUT 1 {tail}",
            f"-I OUTPUT 1 {tail}",
            "COMMIT",
            "",
        ]
    )
    assert restore_argv() == ("iptables-restore", "--noflush", "-w", "5", RULES_PATH)


def test_removal_rules_touch_only_our_jumps_and_chain() -> None:
    tail = "-m comment --comment chaos-eval -j CHAOS_EVAL_PART"
    assert removal_rules() == "\n".join(
        [
            "*filter",
            f"-D INPUT {tail}",
            f"-D OUTPUT {tail}",
            "-F CHAOS_EVAL_PART",
            "-X CHAOS_EVAL_PART",
            "COMMIT",
            "",
        ]
    )
    doubled = removal_rules({"INPUT": 2, "OUTPUT": 0}, chain=True)
    assert doubled is not None and doubled.count("-D INPUT") == 2 and "-D OUTPUT" not in doubled
    assert removal_rules({"INPUT": 0, "OUTPUT": 0}, chain=False) is None  # nothing of ours
    for rules in (removal_rules(), doubled):
        assert rules is not None
        for line in rules.splitlines()[1:-1]:  # never a bare -F / -X: always naming ours
            assert line.split()[-1] == CHAIN


@pytest.mark.parametrize("token", ["a b", "a\nb", "", "x#y", '"q"', "'q'"])
def test_rules_file_refuses_tokens_that_would_split_a_line(token: str) -> None:
    with pytest.raises(FaultError, match="unsafe token"):
        rules_file([("-A", CHAIN, "-s", token, "-j", "DROP")])


def test_found_sorts_a_listing() -> None:
    tail = "-m comment --comment chaos-eval -j CHAOS_EVAL_PART"
    listing = "\n".join(
        [
            "-P INPUT ACCEPT",
            "-N CHAOS_EVAL_PART",
            "-N CHAOS_EVAL_NET",  # the latency fault's chain: not ours
            f"-A INPUT {tail}",
            f"-A INPUT {tail}",
            '-A OUTPUT -m comment --comment "chaos-eval" -j CHAOS_EVAL_PART',  # quoted
            "-A INPUT -s 10.0.0.1/32 -j ACCEPT",
            "-A OUTPUT -m comment --comment chaos-eval -j CHAOS_EVAL_OTHER",  # another fault's
            "-A CHAOS_EVAL_PART -s 172.20.0.2/32 -j DROP",
        ]
    )
    ours = found(listing)
    assert ours.chain and dict(ours.jumps) == {"INPUT": 2, "OUTPUT": 1} and not ours.foreign
    assert not ours.empty
    assert found("-P INPUT ACCEPT\n-A INPUT -s 10.0.0.1/32 -j ACCEPT\n").empty
    odd = found("-N CHAOS_EVAL_PART\n-A FORWARD -j CHAOS_EVAL_PART\n")
    assert odd.foreign == ("-A FORWARD -j CHAOS_EVAL_PART",)


@pytest.mark.parametrize(
    "bad", ["", "172.20.0.300", "0.0.0.0", "127.0.0.1", "::1", "fe80::1", "1.2.3.4/24", "a;b"]
)
def test_addresses_are_validated_before_argv(bad: str) -> None:
    with pytest.raises(ParameterError):
        checked_ipv4(bad)
    with pytest.raises(ParameterError):
        drop_rules((bad,))
    with pytest.raises(ParameterError):
        nc_argv(bad, 2380)
    with pytest.raises(ParameterError):
        reach_argv([(bad, 2380)])


def test_nc_argv() -> None:
    assert nc_argv("172.20.0.2", 2380) == ("nc", "-z", "-w", "1", "172.20.0.2", "2380")
    for port in (0, 65536, -1):
        with pytest.raises(ParameterError):
            nc_argv("172.20.0.2", port)


def test_undo_codes_cover_already_absent() -> None:
    codes = {argv[3]: ok for argv, ok in undo_argvs()}
    assert codes["-D"] == (0, 1, 2)  # 1: no such rule, 2: no such chain
    assert codes["-F"] == (0, 1)
    assert codes["-X"] == (0, 1)  # but not 4: a chain still referenced is a real failure


def test_plan_isolate() -> None:
    plan = plan_partition("isolate", (N3[0],), N3)
    assert plan.sides == (("etcd1",), ("etcd2", "etcd3"))
    assert plan.blocked == {("etcd1", "etcd2"), ("etcd1", "etcd3")}
    assert plan.is_blocked("etcd3", "etcd1")
    assert not plan.is_blocked("etcd2", "etcd3")
    assert plan.drops == {
        "etcd1": ("172.20.0.3", "172.20.0.4"),
        "etcd2": ("172.20.0.2",),
        "etcd3": ("172.20.0.2",),
    }


def test_plan_split_five() -> None:
    plan = plan_partition("split", (N5[3], N5[0]), N5)
    assert plan.sides == (("etcd1", "etcd4"), ("etcd2", "etcd3", "etcd5"))
    assert len(plan.blocked) == 6
    assert not plan.is_blocked("etcd1", "etcd4")


def test_plan_bridge() -> None:
    plan = plan_partition("bridge", (N3[1],), N3)
    assert plan.sides == (("etcd1",), ("etcd2",), ("etcd3",))
    assert plan.blocked == {("etcd1", "etcd3")}
    assert set(plan.drops) == {"etcd1", "etcd3"}  # the bridge itself gets no rules
    plan5 = plan_partition("bridge", (N5[0],), N5)
    assert plan5.sides == (("etcd2", "etcd3"), ("etcd1",), ("etcd4", "etcd5"))
    assert len(plan5.blocked) == 4


@pytest.mark.parametrize(
    ("shape", "targets", "match"),
    [
        ("isolate", (), "no targets"),
        ("isolate", N3, "whole cluster"),
        ("split", N3, "whole cluster"),
        ("bridge", N3[:2], "exactly one"),
        ("isolate", (_node(9),), "not cluster members"),
    ],
)
def test_plan_rejects_impossible_shapes(shape: str, targets: tuple[Node, ...], match: str) -> None:
    with pytest.raises(FaultError, match=match):
        plan_partition(shape, targets, N3)  # type: ignore[arg-type]


def test_bridge_needs_three_nodes() -> None:
    with pytest.raises(FaultError, match="at least 3"):
        plan_partition("bridge", (N3[0],), N3[:2])


def test_leftovers() -> None:
    listing = "\n".join(
        [
            "-P INPUT ACCEPT",
            "-P OUTPUT ACCEPT",
            "-N CHAOS_EVAL_PART",
            "-N CHAOS_EVAL_PARTX",
            "-A INPUT -m comment --comment chaos-eval -j CHAOS_EVAL_PART",
            "-A CHAOS_EVAL_PART -s 172.20.0.2/32 -j DROP",
            "-A INPUT -s 10.0.0.1/32 -j ACCEPT",
        ]
    )
    assert leftovers(listing) == (
        "-N CHAOS_EVAL_PART",
        "-A INPUT -m comment --comment chaos-eval -j CHAOS_EVAL_PART",
        "-A CHAOS_EVAL_PART -s 172.20.0.2/32 -j DROP",
    )
    assert leftovers("-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n") == ()


def test_undo_plan_is_the_ledger_form_older_runs_wrote() -> None:
    """A resumed run repairs partitions a dead run left behind from its ledger row alone, so
    the recorded steps stay exactly what they were (and what eval/cleanup/undo.py can execute)."""
    tail = ["-m", "comment", "--comment", "chaos-eval", "-j", CHAIN]
    fault = PartitionFault(PartitionParams(), (N3[0],), N3, CTX, Docker())
    plan = undo_plan_from_json(undo_plan_to_json(fault.undo_plan()))
    assert plan == fault.undo_plan()
    assert [(a.container, list(a.argv), a.ok_exit_codes) for a in plan[:4]] == [
        ("cid1", ["iptables", "-w", "5", "-D", "INPUT", *tail], (0, 1, 2)),
        ("cid1", ["iptables", "-w", "5", "-D", "OUTPUT", *tail], (0, 1, 2)),
        ("cid1", ["iptables", "-w", "5", "-F", CHAIN], (0, 1)),
        ("cid1", ["iptables", "-w", "5", "-X", CHAIN], (0, 1)),
    ]


def test_fault_undo_plan_and_describe() -> None:
    fault = PartitionFault(PartitionParams(shape="bridge"), (N3[1],), N3, CTX, Docker())
    assert fault.kind == "partition"
    assert fault.describe() == "partition shape=bridge: etcd1 | etcd2 | etcd3"
    plan = fault.undo_plan()
    assert {a.container for a in plan} == {"cid1", "cid3"}
    assert all(a.op is UndoOp.HELPER_RUN for a in plan)
    assert len(plan) == 2 * len(undo_argvs())


def test_fault_rejects_bad_address_and_missing_peer_port() -> None:
    bad = (_node(1, "not-an-ip"), _node(2), _node(3))
    with pytest.raises(ParameterError):
        PartitionFault(PartitionParams(), (bad[1],), bad, CTX, Docker())
    portless = (*N3[:2], Node("etcd3", "etcd", "cid3", "172.20.0.4"))
    with pytest.raises(FaultError, match="peer port"):
        PartitionFault(PartitionParams(), (N3[0],), portless, CTX, Docker())


def test_params() -> None:
    assert PartitionParams().shape == "isolate"
    assert PartitionParams.model_validate({"shape": "bridge"}).shape == "bridge"
    for bad in ({"shape": "ring"}, {"shape": "isolate", "extra": 1}, {"shape": 3}):
        with pytest.raises(ValidationError):
            PartitionParams.model_validate(bad)
    with pytest.raises(ValidationError):
        setattr(PartitionParams(), "shape", "split")  # noqa: B010 - frozen model


# -- the probe program and its argv ----------------------------------------------------------


def test_reach_argv_and_parse() -> None:
    targets = (("172.20.0.3", 2380), ("172.20.0.4", 6379))
    assert reach_argv(targets) == (
        "python3",
        "-S",
        REACH_PATH,
        "0.3",
        "172.20.0.3",
        "2380",
        "172.20.0.4",
        "6379",
    )
    for bad in ([], [("172.20.0.3", 0)]):
        with pytest.raises(ParameterError):
            reach_argv(bad)
    out = "172.20.0.3 2380 open\n172.20.0.4 6379 closed ETIMEDOUT\n"
    assert parse_reach(out, targets) == ((True, ""), (False, "ETIMEDOUT"))
    for wrong in ("172.20.0.3 2380 open\n", out.replace("6379", "6380"), out.replace("open", "?")):
        with pytest.raises(FaultError, match="reach"):
            parse_reach(wrong, targets)


def test_reach_program_probes_all_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    """The program the helper runs, on the host: one listening port, one closed one."""
    reach = load_helper_program("reach")  # importing it has no side effects
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: refused
    try:
        port, shut = listener.getsockname()[1], closed.getsockname()[1]
        code = reach.main(["1", "127.0.0.1", str(port), "127.0.0.1", str(shut)])
    finally:
        listener.close()
        closed.close()
    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        f"127.0.0.1 {port} open",
        f"127.0.0.1 {shut} closed ECONNREFUSED",
    ]
    for bad in (["1"], ["0", "127.0.0.1", "1"], ["1", "host", "1"], ["1", "10.0.0.1", "x"]):
        assert reach.main(bad) == 2


def test_reach_program_polls_once_more_when_it_wakes_past_its_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A handshake that completed counts as open even when the process is scheduled only
    after its deadline: the last, non-waiting poll sees it before anything is ETIMEDOUT."""
    reach = load_helper_program("reach")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    ticks = iter((0.0,))

    def late() -> float:  # the deadline is taken at 0; every later look is long past it
        return next(ticks, 1000.0)

    monkeypatch.setattr(reach.time, "monotonic", late)
    try:
        port = listener.getsockname()[1]
        assert reach.probe([("127.0.0.1", port), ("127.0.0.1", port)], 0.3) == ["open", "open"]
    finally:
        listener.close()


def test_helper_archive() -> None:
    data = helper_archive({RULES_PATH: b"*filter\nCOMMIT\n", REACH_PATH: b"print()\n"})
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {RULES_PATH.lstrip("/"), REACH_PATH.lstrip("/")}
        m = members[RULES_PATH.lstrip("/")]
        assert m.isfile() and m.mode == 0o644 and m.uid == 0
        f = tar.extractfile(m)
        assert f is not None and f.read() == b"*filter\nCOMMIT\n"
    for bad in ("tmp/x", "/tmp/../etc/x", "/tmp/./x", "/tmp/x/", "/"):
        with pytest.raises(ValueError):
            helper_archive({bad: b""})


def test_restore_transactions_name_their_table() -> None:
    """chaos/net/restore.py: one transaction per table; only the tables the harness uses."""
    assert restore.rules_file([("-N", "X")], "mangle") == "*mangle\n-N X\nCOMMIT\n"
    assert restore.rules_file([]) == "*filter\nCOMMIT\n"
    with pytest.raises(FaultError, match="table"):
        restore.rules_file([("-N", "X")], "nat")
    assert restore.restore_argv("/tmp/r") == ("iptables-restore", "--noflush", "-w", "5", "/tmp/r")
