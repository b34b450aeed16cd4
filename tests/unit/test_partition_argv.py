from __future__ import annotations

import pytest
from pydantic import ValidationError

from chaos.partition import (
    CHAIN,
    PartitionFault,
    PartitionParams,
    delete_chain_argv,
    drop_rules_argv,
    flush_chain_argv,
    inject_argvs,
    jump_argv,
    leftovers,
    list_rules_argv,
    new_chain_argv,
    plan_partition,
    undo_argvs,
)
from chaos.probes import checked_ipv4, nc_argv
from eval.docker import Docker
from eval.errors import FaultError, ParameterError
from eval.fault import UndoOp
from eval.subject import Node, TrialContext


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
    assert jump_argv("-C", "OUTPUT") == ("iptables", "-w", "5", "-C", "OUTPUT", *tail)
    assert jump_argv("-D", "INPUT") == ("iptables", "-w", "5", "-D", "INPUT", *tail)
    with pytest.raises(FaultError):
        jump_argv("-I", "FORWARD")


def test_chain_argvs_touch_only_our_chain() -> None:
    assert new_chain_argv()[-2:] == ("-N", CHAIN)
    assert flush_chain_argv()[-2:] == ("-F", CHAIN)
    assert delete_chain_argv()[-2:] == ("-X", CHAIN)
    assert list_rules_argv() == ("iptables", "-w", "5", "-S")
    for argv, _ in undo_argvs():
        # never a bare -F / -X (that would flush every chain), always naming ours
        assert CHAIN in argv
        assert not ({"-F", "-X"} & set(argv)) or argv[-1] == CHAIN


def test_drop_rules() -> None:
    src, dst = drop_rules_argv(("172.20.0.3", "172.20.0.2"))
    assert src == ("iptables", "-w", "5", "-A", CHAIN, "-s", "172.20.0.3,172.20.0.2", "-j", "DROP")
    assert dst == ("iptables", "-w", "5", "-A", CHAIN, "-d", "172.20.0.3,172.20.0.2", "-j", "DROP")
    argvs = inject_argvs(("172.20.0.2",))
    assert [a[3] for a in argvs] == ["-A", "-A", "-I", "-I"]  # jumps last: all at once
    with pytest.raises(FaultError):
        drop_rules_argv(())


@pytest.mark.parametrize(
    "bad", ["", "172.20.0.300", "0.0.0.0", "127.0.0.1", "::1", "fe80::1", "1.2.3.4/24", "a;b"]
)
def test_addresses_are_validated_before_argv(bad: str) -> None:
    with pytest.raises(ParameterError):
        checked_ipv4(bad)
    with pytest.raises(ParameterError):
        drop_rules_argv((bad,))
    with pytest.raises(ParameterError):
        nc_argv(bad, 2380)


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
