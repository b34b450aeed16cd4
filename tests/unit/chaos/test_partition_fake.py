"""The partition fault end to end against simulated filter tables (tests/unit/iptables_fake.py):
its effect, its removal, what it does over leftovers or foreign rules, and how many helpers
it starts. The real tables are exercised in tests/integration/test_partition.py."""

from __future__ import annotations

import pytest

from chaos_eval.chaos import partition
from chaos_eval.chaos.net.partition_rules import CHAIN
from chaos_eval.chaos.net.reachability import reachability
from chaos_eval.chaos.partition import PartitionFault, PartitionParams
from chaos_eval.cleanup.undo import run_undo
from chaos_eval.errors import CleanupError
from chaos_eval.subject import Node
from tests.unit.chaos.test_partition_argv import CTX, N3, _node
from tests.unit.iptables_fake import IptablesDocker, Table


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
    # inject ran three execs at a time: the first three were over (their rounds all begun)
    # before the last rules went in, so those sources are probed afresh, one helper each;
    # the last three's rounds count (one per source node, never one per pair)
    assert docker.helpers() == 3
    assert active.figures["pairs_seen_at_inject"] == 3 * 5
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
    docker.campaign = CTX.campaign_label  # the containers are this campaign's
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


async def test_inject_probes_count_only_after_every_node_s_rules() -> None:
    """Three nodes: each exec applies the rules and probes; verify_active needs no helper."""
    docker = _fake()
    fault = _fault(docker, "isolate", N3[0])
    await fault.inject()
    assert docker.helpers("python3") == 3 and docker.helpers() == 3
    docker.started.clear()
    active = await fault.verify_active()
    assert active.holds, active
    assert active.figures["pairs_seen_at_inject"] == 6 and docker.helpers() == 0
    docker.started.clear()
    again = await fault.verify_active()  # inject's rounds are used once: now afresh
    assert again.holds and again.figures["pairs_seen_at_inject"] == 0
    assert docker.helpers("python3") == 3


async def test_rounds_begun_before_the_last_rules_are_not_taken() -> None:
    """One node's rules go in late (past the others' rounds): only its own rounds (begun
    after it) count; the other sources are probed afresh."""
    docker = _fake()
    docker.delay["cid3"] = 0.2  # longer than the others' rounds last
    fault = _fault(docker, "isolate", N3[0])
    await fault.inject()
    docker.started.clear()
    active = await fault.verify_active()
    assert active.holds, active
    assert active.figures["pairs_seen_at_inject"] == 2  # etcd3 -> etcd1, etcd2
    assert float(active.figures["rules_in_spread_s"]) >= 0.2
    assert sorted(c for c, _ in docker.started) == ["cid1", "cid2"]


async def test_times_off_the_harness_clock_are_not_taken() -> None:
    docker = _fake()
    docker.clock_offset = 1000.0  # a helper that does not read our clock
    fault = _fault(docker, "split", N3[0])
    await fault.inject()
    docker.started.clear()
    active = await fault.verify_active()
    assert active.holds and active.figures["pairs_seen_at_inject"] == 0
    assert docker.helpers("python3") == 3


async def test_an_answer_nobody_understands_is_applied_again() -> None:
    """The exec's report is garbled: whether the rules went in is unknown, so inject lists
    the table, removes what is ours and applies the rules again on their own."""
    docker = _fake()
    docker.first_output = "first ? ?\n"
    fault = _fault(docker, "isolate", N3[0])
    await fault.inject()
    assert docker.helpers() == 3 * 4  # rounds, list, remove, restore a node
    assert all(dict(t.jumps) == {"INPUT": 1, "OUTPUT": 1} for t in docker.tables.values())
    docker.started.clear()
    active = await fault.verify_active()
    assert active.holds and active.figures["pairs_seen_at_inject"] == 0
    assert docker.helpers("python3") == 3


async def test_a_node_restarted_after_inject_is_probed_afresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A member whose address changed since inject (restarted: a fresh netns without our
    rules) makes inject's rounds worthless: everything is probed afresh, and seen wrong."""
    monkeypatch.setattr(partition, "VERIFY_ACTIVE_TIMEOUT_S", 0.2)
    docker = _fake()
    fault = _fault(docker, "isolate", N3[0])
    await fault.inject()
    docker.addresses["cid2"] = "172.20.0.9"
    docker.tables["cid2"] = Table()
    docker.started.clear()
    active = await fault.verify_active()
    assert not active.holds and active.figures["pairs_seen_at_inject"] == 0
    assert docker.helpers("python3") >= 3
