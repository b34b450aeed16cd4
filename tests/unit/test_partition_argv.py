from __future__ import annotations

import io
import socket
import tarfile

import pytest
from pydantic import ValidationError

from chaos.partition import PartitionFault, PartitionParams, plan_partition
from chaos.partition_rules import (
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
from chaos.reachability import (
    REACH_PATH,
    checked_ipv4,
    nc_argv,
    parse_reach,
    reach_argv,
    reachability,
)
from eval.containers import helper_archive
from eval.docker import Docker
from eval.errors import CleanupError, FaultError, ParameterError
from eval.fault import UndoOp, undo_plan_from_json, undo_plan_to_json
from eval.subject import Node, TrialContext
from eval.undo import run_undo
from tests.unit.helper_programs import load_helper_program
from tests.unit.iptables_fake import IptablesDocker


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
    the recorded steps stay exactly what they were (and what eval/undo.py can execute)."""
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
        REACH_PATH,
        "1",
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


# -- the fault against simulated filter tables: effect, removal, helper starts --------------


def _fake(nodes: tuple[Node, ...] = N3) -> IptablesDocker:
    return IptablesDocker({n.container_id: n.address for n in nodes})


def _fault(
    docker: IptablesDocker, shape: str, target: Node, nodes: tuple[Node, ...] = N3
) -> PartitionFault:
    params = PartitionParams.model_validate({"shape": shape})
    return PartitionFault(params, (target,), nodes, CTX, docker)  # type: ignore[arg-type]


async def test_one_helper_per_node_to_inject_verify_and_clean() -> None:
    six = tuple(_node(i) for i in range(1, 7))
    docker = _fake(six)
    docker.tables["cid2"].others.append("-A INPUT -s 10.0.0.1/32 -j ACCEPT")  # not ours
    fault = _fault(docker, "isolate", six[0], six)
    await fault.inject()
    assert docker.helpers() == 6  # was 5 a node: -N, two -A, two -I
    for t in docker.tables.values():
        assert t.chain and dict(t.jumps) == {"INPUT": 1, "OUTPUT": 1}
    docker.started.clear()
    active = await fault.verify_active()
    assert active.holds, active
    assert active.figures["blocked_pairs_confirmed"] == 10
    assert active.figures["open_pairs_confirmed"] == 20
    assert docker.helpers() == 6  # one per source node, not one per directed pair (30)
    docker.started.clear()
    await fault.cleanup_chaos()
    assert docker.helpers() == 6  # was 8 a node
    assert all(t.chain is None and not any(t.jumps.values()) for t in docker.tables.values())
    assert docker.tables["cid2"].others == ["-A INPUT -s 10.0.0.1/32 -j ACCEPT"]
    docker.started.clear()
    removed = await fault.verify_removed()
    assert removed.holds, removed
    assert docker.helpers("iptables") == 6 and docker.helpers("python3") == 6


async def test_cleanup_is_idempotent_and_safe_before_inject() -> None:
    docker = _fake()
    fault = _fault(docker, "bridge", N3[1])
    await fault.cleanup_chaos()  # nothing there: the removal refuses, the listing is empty
    assert docker.helpers() == 2 * 2  # bridge: only the halves carry rules
    await fault.inject()
    await fault.cleanup_chaos()
    await fault.cleanup_chaos()
    assert (await fault.verify_removed()).holds


async def test_inject_over_leftovers_leaves_one_jump_a_hook() -> None:
    """A chain left over (here with a doubled jump, as the one-rule-a-helper inject could
    leave) makes the transaction refuse; inject removes what is ours and applies again."""
    docker = _fake()
    t = docker.tables["cid1"]
    t.chain, t.jumps["INPUT"] = ["-s 172.20.0.9 -j DROP"], 2
    fault = _fault(docker, "isolate", N3[0])
    await fault.inject()
    t = docker.tables["cid1"]  # a transaction replaces the table as a whole
    assert dict(t.jumps) == {"INPUT": 1, "OUTPUT": 1}
    assert t.chain is not None and "-s 172.20.0.9 -j DROP" not in t.chain
    assert sum(c == "cid1" for c, _ in docker.started) == 4  # refuse, list, remove, apply
    assert (await fault.verify_active()).holds
    # the ledger's per-step undo plan removes what the one-transaction inject wrote
    assert await run_undo(docker, fault.undo_plan(), CTX.labels("helper")) == []  # type: ignore[arg-type]
    assert (await fault.verify_removed()).holds


async def test_cleanup_removes_half_done_and_refuses_foreign_shapes() -> None:
    docker = _fake()
    half = docker.tables["cid1"]
    half.chain, half.jumps["INPUT"] = ["-s 172.20.0.3 -j DROP"], 1  # OUTPUT jump never added
    docker.tables["cid2"].chain = []  # only the chain
    fault = _fault(docker, "isolate", N3[0])
    await fault.cleanup_chaos()
    assert (await fault.verify_removed()).holds
    docker.tables["cid3"].chain = []
    docker.tables["cid3"].others.append(f"-A FORWARD -j {CHAIN}")  # we never write that
    with pytest.raises(CleanupError, match="unexpected rules of ours"):
        await fault.cleanup_chaos()
    assert docker.tables["cid3"].others == [f"-A FORWARD -j {CHAIN}"]  # untouched


async def test_reachability_groups_pairs_by_source() -> None:
    docker = _fake()
    pairs = [(N3[1], N3[0]), (N3[0], N3[1]), (N3[1], N3[2])]
    probes = await reachability(docker, CTX.labels("helper"), pairs)  # type: ignore[arg-type]
    assert [(p.src, p.dst, p.open) for p in probes] == [
        ("etcd2", "etcd1", True),
        ("etcd1", "etcd2", True),
        ("etcd2", "etcd3", True),
    ]
    assert docker.helpers("python3") == 2
