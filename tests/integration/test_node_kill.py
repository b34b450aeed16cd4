"""Node kill on a real three-member etcd cluster: the member is gone (engine state, its
endpoint, a peer's connect to its peer port), the other two keep a quorum and accept
writes, and after cleanup it runs again, answers on its new port and rejoins with the
writes it missed. With node helpers (as a trial runs), a peer's watch beside the kill
observes the peer port, and its exec has ended once verify_active returns."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

import pytest

from chaos_eval.chaos.net.reachability import probe_pair
from chaos_eval.chaos.node_kill import NodeKillFault, NodeKillParams
from chaos_eval.chaos.probes import HttpOutcome, http_probe
from chaos_eval.engine.exec_capture import standby_argv
from chaos_eval.engine.helper_exec import NODE_HELPER_ROLE
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


@contextlib.asynccontextmanager
async def node_helpers(etcd: LocalEtcd) -> AsyncIterator[None]:
    labels = etcd.ctx.labels(NODE_HELPER_ROLE)
    await etcd.docker.start_node_helpers(
        [(n.container_id, n.data_volume) for n in etcd.nodes], labels=labels,
        image=etcd.helper_image)
    try:
        yield
    finally:
        await etcd.docker.remove_node_helpers(labels)


async def running_execs(etcd: LocalEtcd, helper: str) -> list[str]:
    """The helper's execs still running, but its standby (eval/engine/helper_run.py: an
    exec waiting on its stdin for the next command, there by design)."""
    standby = list(standby_argv())

    def run() -> list[str]:
        api = etcd.docker.client.api
        ids = api.inspect_container(helper).get("ExecIDs") or []
        found = [api.exec_inspect(i) for i in ids]
        return [e["ID"] for e in found if e.get("Running") and [
            e["ProcessConfig"]["entrypoint"], *e["ProcessConfig"]["arguments"]] != standby]

    return await asyncio.to_thread(run)


async def run_kill(etcd: LocalEtcd, spec: str, signal: str, *, watched: bool = False) -> None:
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
    seen = str(active.figures[f"{node.name}_peer_seen"])
    if watched:  # a watch ran to its end and was judged; whether it proved it is timing
        assert "attempts" in seen, seen
        first_peer = min(others, key=lambda n: n.name)  # the one the fault watches from
        helper = etcd.docker.node_helper_of(first_peer.container_id)
        assert helper is not None and await running_execs(etcd, helper) == []
    else:
        assert seen == "probed after the kill (no watch)", seen

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
        "node_kill %s(%s): inject %.2fs, peer %s, cleanup %.2fs, "
        "serving again after %.2fs, majority write stall %.2fs",
        signal,
        spec,
        inject_s,
        seen,
        cleanup_s,
        removed.figures["seconds"],
        stall,
    )


async def test_kill_follower_sigkill(etcd: LocalEtcd) -> None:
    await run_kill(etcd, "follower", "SIGKILL")


async def test_kill_leader_sigterm(etcd: LocalEtcd) -> None:
    await run_kill(etcd, "leader", "SIGTERM")


async def test_kill_follower_sigkill_watched(etcd: LocalEtcd) -> None:
    async with node_helpers(etcd):
        await run_kill(etcd, "follower", "SIGKILL", watched=True)


async def test_kill_leader_sigterm_watched(etcd: LocalEtcd) -> None:
    async with node_helpers(etcd):
        await run_kill(etcd, "leader", "SIGTERM", watched=True)


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
