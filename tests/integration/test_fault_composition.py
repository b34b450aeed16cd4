"""Faults composed on one node, and the per-node snapshot as a witness of removal.

Latency and a partition on the same member at once: each owns its own chain, hook and
queue, so removing the partition leaves the latency in force (observed by the host's own
TCP handshakes, which a partition never drops: the host is not a peer) while the peers
connect again; removing the latency then brings the RTT back. Snapshots of every node
before and after are equal. And a deliberately partial cleanup (the shaper removed, its
chain left) is caught by the snapshot comparison.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from chaos_eval.chaos.latency import LatencyFault, LatencyParams
from chaos_eval.chaos.net.reachability import ordered_pairs, reachability
from chaos_eval.chaos.net.shape import LATENCY_SLOT
from chaos_eval.chaos.partition import PartitionFault, PartitionParams
from chaos_eval.cleanup.removal_proof import DockerSnapshotter, RemovalCheck
from chaos_eval.cleanup.snapshot import compare
from chaos_eval.fault import Evidence
from tests.integration.etcd_local import LocalEtcd
from tests.integration.shaping_support import tcp_connect_ms

pytestmark = pytest.mark.docker
log = logging.getLogger("figures")
DELAY_MS = 200


def added(ms: float, base: float) -> bool:
    """The host's handshake carries the delay (tolerance as in test_latency)."""
    return 0.7 * DELAY_MS <= ms - base <= 1.5 * DELAY_MS + 20


async def open_pairs(etcd: LocalEtcd) -> dict[tuple[str, str], bool]:
    await etcd.refresh()
    probes = await reachability(etcd.docker, etcd.ctx.labels("helper"),
                                ordered_pairs(etcd.nodes), image=etcd.helper_image)
    return {(p.src, p.dst): p.open for p in probes}


async def test_latency_and_partition_on_one_node_leave_independently(etcd: LocalEtcd) -> None:
    target = etcd.node("etcd1")
    snapper = DockerSnapshotter(etcd.docker, etcd.ctx, etcd.helper_image)
    before = await snapper.take(etcd.nodes)
    lat = LatencyFault(LatencyParams(delay_ms=DELAY_MS), (target,), etcd.nodes, etcd.ctx,
                       etcd.docker, helper_image=etcd.helper_image)
    part = PartitionFault(PartitionParams(shape="isolate"), (target,), etcd.nodes, etcd.ctx,
                          etcd.docker, helper_image=etcd.helper_image)
    await lat.measure_baseline()
    tcp_base = await tcp_connect_ms(target)

    await lat.inject()
    assert (await lat.verify_active()).holds
    await part.inject()
    p_active = await part.verify_active()
    assert p_active.holds, p_active
    tcp_both = await tcp_connect_ms(target)
    assert added(tcp_both, tcp_base), (tcp_base, tcp_both)  # both in force at once

    await part.cleanup_chaos()  # the partition leaves first ...
    p_removed = await part.verify_removed()
    assert p_removed.holds, p_removed
    assert all((await open_pairs(etcd)).values())  # ... peers connect again ...
    tcp_lat = await tcp_connect_ms(target)
    assert added(tcp_lat, tcp_base), (tcp_base, tcp_lat)  # ... and the latency stays
    still = await lat.verify_active()
    assert still.holds, still  # seen from a peer too, now that peers reach it

    await lat.cleanup_chaos()
    l_removed = await lat.verify_removed()
    assert l_removed.holds, l_removed
    tcp_after = await tcp_connect_ms(target)
    assert tcp_after <= tcp_base + 5, (tcp_base, tcp_after)

    after = await snapper.take(etcd.nodes)
    assert compare(before, after) == (), compare(before, after)
    await etcd.wait_healthy(30)
    log.info(
        "latency %dms + isolate on etcd1: host TCP connect %.2f -> %.1f (both) -> %.1f "
        "(latency only) -> %.2f ms; peer RTT with latency only %s ms; snapshots %.1fs, %.1fs",
        DELAY_MS, tcp_base, tcp_both, tcp_lat, tcp_after, still.figures["rtt_ms_during"],
        before.seconds, after.seconds,
    )


async def test_snapshot_catches_a_chain_left_by_a_partial_cleanup(etcd: LocalEtcd) -> None:
    target = etcd.node("etcd2")
    snapper = DockerSnapshotter(etcd.docker, etcd.ctx, etcd.helper_image)
    check = RemovalCheck(snapper, etcd.nodes, 60.0, before=await snapper.take(etcd.nodes))
    lat = LatencyFault(LatencyParams(delay_ms=DELAY_MS, backend="nfqueue"), (target,),
                       etcd.nodes, etcd.ctx, etcd.docker, helper_image=etcd.helper_image)
    await lat.inject()
    assert (await lat.verify_active()).holds

    # a cleanup that forgets half its work: the shaper goes, its chain and jump stay
    assert await etcd.docker.remove(lat.shaping.shaper_name(target))
    proof: dict[str, Any] = {}
    ev = await check.confirm(Evidence(True, "the fault's own check passed"), proof)
    assert not ev.holds
    diff = proof["snapshot_diff"]
    assert any(d.startswith("etcd2: rule left: mangle:") and LATENCY_SLOT.chain in d
               for d in diff), diff
    assert all(d.startswith("etcd2: rule left:") for d in diff), diff  # nothing else blamed
    assert "snapshot differs" in ev.summary

    await lat.cleanup_chaos()  # the real cleanup removes the rest
    assert (await lat.verify_removed()).holds
    proof = {}
    assert (await check.confirm(Evidence(True, "clean"), proof)).holds
    assert proof["snapshot_diff"] == []
    log.info("partial cleanup caught by the snapshot: %s", diff)
