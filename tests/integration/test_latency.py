"""Latency on a real three-member etcd cluster, proven from outside: the host's TCP
handshake with the target and pings from an untouched member slow down by about the
delay while active and come back after cleanup; nothing of ours is left in the target's
mangle table, on its eth0, or among the trial's containers.

Tolerance for "about the delay": the increase lies within [0.7 D, 1.5 D + 20 ms]."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

import pytest

from chaos_eval.chaos.latency import LatencyFault, LatencyParams
from chaos_eval.chaos.net.netem_support import netem_supported
from chaos_eval.chaos.net.shape import LATENCY_SLOT
from chaos_eval.chaos.net.shaper_daemon import pids_in_helper
from chaos_eval.cleanup.undo import run_undo
from chaos_eval.engine.helper_exec import NODE_HELPER_ROLE
from chaos_eval.errors import FaultError
from chaos_eval.fault import UndoOp
from chaos_eval.subject import Node
from tests.integration.etcd_local import LocalEtcd
from tests.integration.shaping_support import (
    netns_state,
    ping_from,
    tcp_connect_ms,
    trial_containers,
)

pytestmark = pytest.mark.docker
log = logging.getLogger("figures")


@pytest.fixture
def image(etcd: LocalEtcd) -> str:
    """chaos-eval/helper:local as built from its recipe: it carries chaos-eval-shaper."""
    return etcd.helper_image


@pytest.fixture
async def node_helpers(etcd: LocalEtcd, image: str) -> AsyncIterator[dict[str, str]]:
    """The trial's node helpers, as a trial starts them: node name -> helper container."""
    labels = etcd.ctx.labels(NODE_HELPER_ROLE)
    await etcd.docker.start_node_helpers(
        [(n.container_id, n.data_volume) for n in etcd.nodes], labels=labels, image=image)
    try:
        found = {n.name: etcd.docker.node_helper_of(n.container_id) for n in etcd.nodes}
        assert all(found.values())
        yield {k: v for k, v in found.items() if v}
    finally:
        await etcd.docker.remove_node_helpers(labels)


def latency(etcd: LocalEtcd, image: str, target: Node, **params: object) -> LatencyFault:
    return LatencyFault(
        LatencyParams.model_validate(params), (target,), etcd.nodes, etcd.ctx, etcd.docker,
        helper_image=image,
    )


def within(added: float, delay_ms: int) -> bool:
    return 0.7 * delay_ms <= added <= 1.5 * delay_ms + 20


async def assert_clean(etcd: LocalEtcd, image: str, node: Node, members: set[str]) -> None:
    rules, root = await netns_state(etcd.docker, etcd.ctx, node, image)
    assert "CHAOS_EVAL" not in rules and "chaos-eval" not in rules, rules
    assert root == "0:", root
    assert await trial_containers(etcd.docker, etcd.ctx) == members  # no helper left


@pytest.mark.parametrize("delay_ms", [100, 500])
async def test_latency_rises_and_returns(etcd: LocalEtcd, image: str, delay_ms: int) -> None:
    target, untouched = etcd.node("etcd1"), etcd.node("etcd3")
    members = await trial_containers(etcd.docker, etcd.ctx)
    fault = latency(etcd, image, target, delay_ms=delay_ms)  # backend auto
    await fault.measure_baseline()
    tcp_before = await tcp_connect_ms(target)
    ping_before = await ping_from(etcd.docker, etcd.ctx, untouched, target, image)

    t0 = time.monotonic()
    await fault.inject()
    inject_s = time.monotonic() - t0
    active = await fault.verify_active()
    assert active.holds, active
    tcp_during = await tcp_connect_ms(target)
    ping_during = await ping_from(etcd.docker, etcd.ctx, untouched, target, image)
    assert ping_during.median_ms is not None and ping_before.median_ms is not None
    assert within(tcp_during - tcp_before, delay_ms), (tcp_before, tcp_during)
    assert within(ping_during.median_ms - ping_before.median_ms, delay_ms), ping_during
    assert ping_during.lost == 0
    put = await etcd.put(target, "under-latency", "x", timeout_s=10)
    assert put.ok, put  # slower, not broken

    t1 = time.monotonic()
    await fault.cleanup_chaos()
    cleanup_s = time.monotonic() - t1
    removed = await fault.verify_removed()
    assert removed.holds, removed
    tcp_after = await tcp_connect_ms(target)
    assert tcp_after <= tcp_before + 5, (tcp_before, tcp_after)
    await assert_clean(etcd, image, target, members)
    t2 = time.monotonic()
    await fault.cleanup_chaos()  # twice is fine
    again_s = time.monotonic() - t2
    await assert_clean(etcd, image, target, members)
    log.info(
        "latency %dms via %s: ping RTT %.3f -> %.1f ms, TCP connect %.3f -> %.1f -> %.3f ms, "
        "verify_active RTT %s -> %s ms; inject %.2fs, cleanup %.2fs, 2nd cleanup %.2fs, "
        "put under latency %.0f ms",
        delay_ms, active.figures["backend"], ping_before.median_ms, ping_during.median_ms,
        tcp_before, tcp_during, tcp_after, active.figures["rtt_ms_baseline"],
        active.figures["rtt_ms_during"], inject_s, cleanup_s, again_s,
        1000 * (put.end - put.start),
    )


async def test_cleanup_after_half_done_inject(etcd: LocalEtcd, image: str) -> None:
    """The shaper started and bound, the rules never added: what an inject interrupted
    between its two steps leaves. Cleanup removes the shaper and proves it."""
    target = etcd.node("etcd2")
    members = await trial_containers(etcd.docker, etcd.ctx)
    fault = latency(etcd, image, target, delay_ms=200, backend="nfqueue")
    await fault.measure_baseline()
    await fault.shaping._start_shaper(target, add_rules=False)
    assert await trial_containers(etcd.docker, etcd.ctx) != members  # the shaper runs
    await fault.cleanup_chaos()
    assert (await fault.verify_removed()).holds
    await assert_clean(etcd, image, target, members)


async def test_dead_shaper_never_blackholes_and_another_process_cleans(
    etcd: LocalEtcd, image: str
) -> None:
    """Rules in place, shaper killed: --queue-bypass lets packets through at baseline.
    A fresh fault object (another process: it never chose a backend) removes the rest."""
    target, untouched = etcd.node("etcd1"), etcd.node("etcd3")
    members = await trial_containers(etcd.docker, etcd.ctx)
    fault = latency(etcd, image, target, delay_ms=300, backend="nfqueue")
    await fault.inject()
    assert (await fault.verify_active()).holds
    await etcd.docker.kill(fault.shaping.shaper_name(target))  # SIGKILL
    stats = await ping_from(etcd.docker, etcd.ctx, untouched, target, image)
    assert stats.lost == 0 and stats.median_ms is not None and stats.median_ms < 5, stats
    assert (await etcd.put(target, "bypass", "x", timeout_s=2)).ok
    rules, _ = await netns_state(etcd.docker, etcd.ctx, target, image)
    assert LATENCY_SLOT.chain in rules  # the rules are still there, and harmless

    other = latency(etcd, image, target, delay_ms=300, backend="nfqueue")
    await other.cleanup_chaos()
    assert (await other.verify_removed()).holds
    await assert_clean(etcd, image, target, members)


async def test_ledger_undo_plan_removes_everything(etcd: LocalEtcd, image: str) -> None:
    """The undo plan written to the ledger before inject is enough on its own (resume/gc)."""
    target = etcd.node("etcd2")
    members = await trial_containers(etcd.docker, etcd.ctx)
    fault = latency(etcd, image, target, delay_ms=150, jitter_ms=20, backend="nfqueue")
    plan = fault.undo_plan()
    await fault.inject()
    assert (await fault.verify_active()).holds
    problems = await run_undo(etcd.docker, plan, etcd.ctx.labels("helper"))
    assert problems == []
    assert (await fault.verify_removed()).holds
    await assert_clean(etcd, image, target, members)


async def test_foreign_root_qdisc_is_never_replaced(etcd: LocalEtcd, image: str) -> None:
    """Someone else's root qdisc on eth0: backend netem refuses, and cleanup leaves it."""
    target = etcd.node("etcd3")
    labels = etcd.ctx.labels("helper")
    foreign = ("tc", "qdisc", "add", "dev", "eth0", "root", "handle", "1:", "htb")
    res = await etcd.docker.run_helper(foreign, labels=labels, netns_of=target.container_id,
                                       image=image)
    assert res.ok, res.stderr
    fault = latency(etcd, image, target, delay_ms=100, backend="netem")
    with pytest.raises(FaultError, match="not ours: refusing"):
        await fault.inject()
    await fault.cleanup_chaos()
    rules, root = await netns_state(etcd.docker, etcd.ctx, target, image)
    assert root == "1:" and "CHAOS_EVAL" not in rules  # theirs is still there, ours is not
    res = await etcd.docker.run_helper(
        ("tc", "qdisc", "del", "dev", "eth0", "root", "handle", "1:"), labels=labels,
        netns_of=target.container_id, image=image,
    )
    assert res.ok, res.stderr


async def test_netem_backend(etcd: LocalEtcd, image: str) -> None:
    """Runs where the kernel has sch_netem; a real probe decides, never an assumption."""
    if not await netem_supported(etcd.docker, etcd.ctx.labels("helper"), image):
        pytest.skip("kernel lacks sch_netem")
    target = etcd.node("etcd1")
    members = await trial_containers(etcd.docker, etcd.ctx)
    fault = latency(etcd, image, target, delay_ms=100, backend="netem")
    await fault.measure_baseline()
    tcp_before = await tcp_connect_ms(target)
    await fault.inject()
    active = await fault.verify_active()
    assert active.holds and active.figures["backend"] == "netem", active
    _, root = await netns_state(etcd.docker, etcd.ctx, target, image)
    assert root == LATENCY_SLOT.handle
    assert within(await tcp_connect_ms(target) - tcp_before, 100)
    await fault.cleanup_chaos()
    assert (await fault.verify_removed()).holds
    await assert_clean(etcd, image, target, members)


async def test_shaper_in_the_node_helper_rises_returns_and_leaves_nothing(
    etcd: LocalEtcd, image: str, node_helpers: dict[str, str]
) -> None:
    """With node helpers (as in a trial) the shaper runs as a process of the target's helper,
    not a container; cleanup stops it, and the proof of removal looks for it there."""
    target = etcd.node("etcd1")
    members = await trial_containers(etcd.docker, etcd.ctx)  # the node helpers included
    fault = latency(etcd, image, target, delay_ms=200, backend="nfqueue")
    await fault.inject()
    assert fault.shaping.in_helper == {"etcd1"}
    assert await trial_containers(etcd.docker, etcd.ctx) == members  # no container of its own
    live = await pids_in_helper(etcd.docker, LATENCY_SLOT, target.container_id, image)
    assert live is not None and len(live) == 1, live
    rules, _ = await netns_state(etcd.docker, etcd.ctx, target, image)
    assert LATENCY_SLOT.chain in rules
    active = await fault.verify_active()
    assert active.holds, active
    # a residue seen while it runs names the process: the proof would refuse it
    assert not (await fault.shaping.residue(target)).clean
    await fault.cleanup_chaos()
    assert await pids_in_helper(etcd.docker, LATENCY_SLOT, target.container_id, image) == ()
    removed = await fault.verify_removed()
    assert removed.holds, removed
    await assert_clean(etcd, image, target, members)
    await fault.cleanup_chaos()  # twice is fine
    await assert_clean(etcd, image, target, members)


async def test_another_process_stops_a_shaper_in_the_node_helper(
    etcd: LocalEtcd, image: str, node_helpers: dict[str, str]
) -> None:
    """A fresh fault object (it never chose a backend) finds the shaper in the node helper."""
    target = etcd.node("etcd2")
    members = await trial_containers(etcd.docker, etcd.ctx)
    fault = latency(etcd, image, target, delay_ms=200, backend="nfqueue")
    await fault.inject()
    assert (await fault.verify_active()).holds
    other = latency(etcd, image, target, delay_ms=200, backend="nfqueue")
    other.baseline = fault.baseline
    await other.cleanup_chaos()
    assert await pids_in_helper(etcd.docker, LATENCY_SLOT, target.container_id, image) == ()
    assert (await other.verify_removed()).holds
    await assert_clean(etcd, image, target, members)


async def test_ledger_undo_plan_ends_a_shaper_in_the_node_helper(
    etcd: LocalEtcd, image: str, node_helpers: dict[str, str]
) -> None:
    """The undo plan (written before inject) names the target's node helper: run on its own,
    as resume or gc would after a kill -9, it removes the rules and, with the helper, the
    shaper inside it; later commands for that node run one-shot."""
    target = etcd.node("etcd3")
    members = await trial_containers(etcd.docker, etcd.ctx)
    fault = latency(etcd, image, target, delay_ms=150, backend="nfqueue")
    plan = fault.undo_plan()
    helper = node_helpers["etcd3"]
    assert plan[-1].op is UndoOp.REMOVE_CONTAINER and plan[-1].container == helper
    await fault.inject()
    assert fault.shaping.in_helper == {"etcd3"}
    assert (await fault.verify_active()).holds
    problems = await run_undo(etcd.docker, plan, etcd.ctx.labels("helper"))
    assert problems == []
    assert await etcd.docker.inspect(helper) is None
    assert (await fault.verify_removed()).holds
    await assert_clean(etcd, image, target, members - {helper})
