"""Node kill on a real three-member etcd cluster: the member is gone (engine state, its
endpoint, a peer's connect to its peer port), the other two keep a quorum and accept
writes, and after cleanup it runs again, answers on its new port and rejoins with the
writes it missed."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from chaos_eval.chaos.net.reachability import probe_pair
from chaos_eval.chaos.node_kill import NodeKillFault, NodeKillParams
from chaos_eval.chaos.probes import HttpOutcome, http_probe
from chaos_eval.fault import UndoOp
from chaos_eval.spec.targeting import select_targets
from chaos_eval.subject import Node
from tests.integration.etcd_local import LocalEtcd, Writer

pytestmark = pytest.mark.docker
log = logging.getLogger("figures")


def kill(etcd: LocalEtcd, targets: tuple[Node, ...], signal: str = "SIGKILL") -> NodeKillFault:
    params = NodeKillParams.model_validate({"signal": signal})
    return NodeKillFault(
        params, targets, etcd.nodes, etcd.ctx, etcd.docker, helper_image=etcd.helper_image
    )


async def run_kill(etcd: LocalEtcd, spec: str, signal: str) -> None:
    leader = await etcd.wait_healthy()
    targets = select_targets(spec, etcd.nodes, 3, leader, None)
    (node,) = targets
    others = tuple(n for n in etcd.nodes if n.name != node.name)
    fault = kill(etcd, targets, signal)
    assert [a.op for a in fault.undo_plan()] == [UndoOp.START_CONTAINER]

    writer = Writer(etcd, others[0], timeout_s=0.5)
    task = asyncio.create_task(writer.run())
    await writer.until_acknowledged(5)

    t0 = time.monotonic()
    await fault.inject()
    inject_s = time.monotonic() - t0
    active = await fault.verify_active()
    assert active.holds, active

    # independent observations
    info = await etcd.docker.inspect(node.container_id)
    assert info is not None and not info.running
    url = node.endpoint("client").url + "/v3/maintenance/status"
    assert (await http_probe(url, json_body={})).outcome is not HttpOutcome.ANSWERED
    labels = etcd.ctx.labels("helper")
    assert not (
        await probe_pair(etcd.docker, labels, others[1], node, image=etcd.helper_image)
    ).open
    # the two survivors keep a quorum and accept writes
    await writer.until_acknowledged(5, after=t0 + inject_s)
    writer.stop()
    await task
    stall = writer.longest_gap(t0)
    last = max(i for i, p in enumerate(writer.puts, 1) if p.ok)

    t1 = time.monotonic()
    await fault.cleanup_chaos()
    cleanup_s = time.monotonic() - t1
    removed = await fault.verify_removed()
    assert removed.holds, removed
    await etcd.refresh()  # new published port
    await etcd.wait_healthy(30)
    # it rejoined: a linearizable read through it sees the writes made while it was down
    assert await etcd.get(etcd.node(node.name), f"w{last}", serializable=False) == str(last)
    log.info(
        "node_kill %s(%s): inject %.2fs, cleanup %.2fs, "
        "serving again after %.2fs, majority write stall %.2fs",
        signal,
        spec,
        inject_s,
        cleanup_s,
        removed.figures["seconds"],
        stall,
    )


async def test_kill_follower_sigkill(etcd: LocalEtcd) -> None:
    await run_kill(etcd, "follower", "SIGKILL")


async def test_kill_leader_sigterm(etcd: LocalEtcd) -> None:
    await run_kill(etcd, "leader", "SIGTERM")


async def test_cleanup_twice_and_after_outside_restart(etcd: LocalEtcd) -> None:
    node = etcd.node("etcd1")
    fault = kill(etcd, (node,))
    await fault.cleanup_chaos()  # before inject: it runs, nothing to do
    await fault.inject()
    assert (await fault.verify_active()).holds
    assert await etcd.docker.start(node.container_id)  # someone else started it already
    await fault.cleanup_chaos()
    await fault.cleanup_chaos()
    removed = await fault.verify_removed()
    assert removed.holds, removed
