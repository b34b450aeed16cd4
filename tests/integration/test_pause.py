"""Pause on a real three-member etcd cluster: the member's endpoint, which answered, times
out while frozen (a TCP connect alone would still succeed), the other two keep a quorum,
and after cleanup it answers again and rejoins."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from chaos_eval.chaos.net.reachability import probe_pair
from chaos_eval.chaos.pause import PauseFault, PauseParams
from chaos_eval.chaos.probes import HttpOutcome, http_probe
from chaos_eval.fault import UndoOp
from chaos_eval.spec.targeting import select_targets
from chaos_eval.subject import Node
from tests.integration.etcd_local import LocalEtcd, Writer

pytestmark = pytest.mark.docker
log = logging.getLogger("figures")


def pause(etcd: LocalEtcd, targets: tuple[Node, ...]) -> PauseFault:
    return PauseFault(PauseParams(), targets, etcd.nodes, etcd.ctx, etcd.docker)


async def status_outcome(node: Node) -> HttpOutcome:
    url = node.endpoint("client").url + "/v3/maintenance/status"
    return (await http_probe(url, json_body={}, timeout_s=1.0)).outcome


async def test_pause_leader_freezes_then_answers(etcd: LocalEtcd) -> None:
    leader = await etcd.wait_healthy()
    target = select_targets("leader", etcd.nodes, 1, leader, None)
    (node,) = target
    others = tuple(n for n in etcd.nodes if n.name != leader)
    fault = pause(etcd, target)
    assert [a.op for a in fault.undo_plan()] == [UndoOp.UNPAUSE_CONTAINER]
    assert await status_outcome(node) is HttpOutcome.ANSWERED

    writer = Writer(etcd, others[0], timeout_s=0.5)
    task = asyncio.create_task(writer.run())
    await writer.until_acknowledged(5)

    t0 = time.monotonic()
    await fault.inject()
    inject_s = time.monotonic() - t0
    active = await fault.verify_active()
    assert active.holds, active

    # observed independently: the request times out, yet the kernel still completes a TCP
    # handshake on the frozen member's peer port (which is why nc is no proof of a pause)
    assert await status_outcome(node) is HttpOutcome.TIMEOUT
    labels = etcd.ctx.labels("helper")
    handshake = await probe_pair(etcd.docker, labels, others[0], node, image=etcd.helper_image)
    assert handshake.open
    # the other two elect a leader and keep accepting writes
    await writer.until_acknowledged(5, after=t0 + inject_s)
    writer.stop()
    await task
    stall = writer.longest_gap(t0)

    t1 = time.monotonic()
    await fault.cleanup_chaos()
    cleanup_s = time.monotonic() - t1
    removed = await fault.verify_removed()
    assert removed.holds, removed
    assert await status_outcome(node) is HttpOutcome.ANSWERED
    await etcd.wait_healthy(30)
    assert await etcd.get(node, "w1", serializable=False) == "1"
    log.info(
        "pause(leader): inject %.2fs, cleanup %.2fs, answering again after %.2fs, "
        "majority write stall %.2fs",
        inject_s,
        cleanup_s,
        removed.figures["seconds"],
        stall,
    )


async def test_cleanup_twice_and_after_restart(etcd: LocalEtcd) -> None:
    node = etcd.node("etcd3")
    fault = pause(etcd, (node,))
    await fault.cleanup_chaos()  # before inject: nothing is paused, nothing to do
    await fault.inject()
    assert (await fault.verify_active()).holds
    await fault.cleanup_chaos()
    await fault.cleanup_chaos()
    assert (await fault.verify_removed()).holds

    # paused again, then someone unpauses and restarts it behind our back
    fault = pause(etcd, (node,))
    await fault.inject()
    assert (await fault.verify_active()).holds
    assert await etcd.docker.unpause(node.container_id)
    assert await etcd.docker.kill(node.container_id)
    assert await etcd.docker.start(node.container_id)
    await fault.cleanup_chaos()
    removed = await fault.verify_removed()  # follows the new published port
    assert removed.holds, removed
    await etcd.refresh()
    await etcd.wait_healthy(30)
