"""Packet loss on a real three-member etcd cluster, proven from outside by pings from a
member the fault did not observe from; and latency + packet_loss on one node, removed one
at a time, each removal leaving the other fault fully in effect.

Tolerance: at 30 % requested, 300 probes must lose between 15 % and 45 %; after cleanup at
most one probe in 100 may be lost."""

from __future__ import annotations

import logging
import time

import pytest

from chaos_eval.chaos.latency import LatencyFault, LatencyParams
from chaos_eval.chaos.net.shape import LATENCY_SLOT, LOSS_SLOT
from chaos_eval.chaos.packet_loss import PacketLossFault, PacketLossParams
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


async def test_loss_observed_and_removed(etcd: LocalEtcd, image: str) -> None:
    target, untouched = etcd.node("etcd1"), etcd.node("etcd3")
    members = await trial_containers(etcd.docker, etcd.ctx)
    fault = PacketLossFault(
        PacketLossParams(loss_pct=30), (target,), etcd.nodes, etcd.ctx, etcd.docker,
        helper_image=image,
    )
    await fault.measure_baseline()
    t0 = time.monotonic()
    await fault.inject()
    inject_s = time.monotonic() - t0
    active = await fault.verify_active()
    assert active.holds, active
    seen = await ping_from(etcd.docker, etcd.ctx, untouched, target, image, 300, 0.01)
    assert 15 <= seen.loss_pct <= 45, seen
    put = await etcd.put(target, "under-loss", "x", timeout_s=10)

    t1 = time.monotonic()
    await fault.cleanup_chaos()
    cleanup_s = time.monotonic() - t1
    removed = await fault.verify_removed()
    assert removed.holds, removed
    after = await ping_from(etcd.docker, etcd.ctx, untouched, target, image, 100, 0.01)
    assert after.lost <= 1, after
    rules, root = await netns_state(etcd.docker, etcd.ctx, target, image)
    assert "CHAOS_EVAL" not in rules and root == "0:", (rules, root)
    assert await trial_containers(etcd.docker, etcd.ctx) == members
    await fault.cleanup_chaos()  # twice is fine
    log.info(
        "packet_loss 30%% via %s: verify_active lost %s/%s (%.1f%%, needed %s); independent "
        "ping %d/%d lost (%.1f%%); after cleanup %.1f%%; inject %.2fs, cleanup %.2fs; "
        "put under loss %s in %.0f ms",
        active.figures["backend"], active.figures["lost"], active.figures["probes"],
        active.figures["loss_pct_observed"], active.figures["lost_needed"], seen.lost,
        seen.transmitted, seen.loss_pct, after.loss_pct, inject_s, cleanup_s,
        "ok" if put.ok else put.error, 1000 * (put.end - put.start),
    )


async def test_latency_and_loss_compose_and_are_removed_independently(
    etcd: LocalEtcd, image: str
) -> None:
    target, untouched = etcd.node("etcd2"), etcd.node("etcd3")
    members = await trial_containers(etcd.docker, etcd.ctx)
    lat = LatencyFault(
        LatencyParams(delay_ms=200), (target,), etcd.nodes, etcd.ctx, etcd.docker,
        helper_image=image,
    )
    loss = PacketLossFault(
        PacketLossParams(loss_pct=30), (target,), etcd.nodes, etcd.ctx, etcd.docker,
        helper_image=image,
    )
    await lat.measure_baseline()
    await loss.measure_baseline()
    tcp_before = await tcp_connect_ms(target)
    await lat.inject()
    await loss.inject()
    assert (await lat.verify_active()).holds
    assert (await loss.verify_active()).holds
    both = await ping_from(etcd.docker, etcd.ctx, untouched, target, image, 200, 0.02)
    assert both.median_ms is not None and 140 <= both.median_ms <= 320, both
    assert 15 <= both.loss_pct <= 45, both

    await lat.cleanup_chaos()  # the loss stays, with its chain, queue and shaper
    rules, _ = await netns_state(etcd.docker, etcd.ctx, target, image)
    assert LATENCY_SLOT.chain not in rules and LOSS_SLOT.chain in rules, rules
    only_loss = await ping_from(etcd.docker, etcd.ctx, untouched, target, image, 200, 0.02)
    assert only_loss.median_ms is not None and only_loss.median_ms < 5, only_loss
    assert 15 <= only_loss.loss_pct <= 45, only_loss
    assert (await loss.verify_active()).holds

    await loss.cleanup_chaos()
    assert (await lat.verify_removed()).holds
    assert (await loss.verify_removed()).holds
    clean = await ping_from(etcd.docker, etcd.ctx, untouched, target, image, 100, 0.01)
    assert clean.lost <= 1 and clean.median_ms is not None and clean.median_ms < 5, clean
    assert await tcp_connect_ms(target) <= tcp_before + 5
    rules, root = await netns_state(etcd.docker, etcd.ctx, target, image)
    assert "CHAOS_EVAL" not in rules and root == "0:", (rules, root)
    assert await trial_containers(etcd.docker, etcd.ctx) == members
    log.info(
        "latency 200ms + loss 30%% on one node: RTT %.1f ms loss %.1f%%; latency removed: "
        "RTT %.2f ms loss %.1f%%; both removed: RTT %.2f ms loss %.1f%%",
        both.median_ms, both.loss_pct, only_loss.median_ms, only_loss.loss_pct,
        clean.median_ms, clean.loss_pct,
    )
