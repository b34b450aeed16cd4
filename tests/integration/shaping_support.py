"""Observation tools for the latency / packet_loss integration tests, independent of the
faults' own verify_* code: TCP connect times measured by the test process itself (the host
reaches the members' bridge addresses), pings from a member the fault did not pick as its
observer, and raw reads of the target's mangle table and root qdisc."""

from __future__ import annotations

import asyncio
import socket
import statistics
import time

from chaos_eval.chaos.net.netem import parse_root_qdisc, qdisc_show_argv
from chaos_eval.chaos.net.ping import PingStats, parse_ping, ping_argv
from chaos_eval.engine.client import Docker
from chaos_eval.subject import LABEL_TRIAL, Node, TrialContext


def _connect_ms(ip: str, port: int, timeout_s: float) -> float:
    t0 = time.perf_counter()
    with socket.create_connection((ip, port), timeout=timeout_s):
        return 1000 * (time.perf_counter() - t0)


async def tcp_connect_ms(node: Node, port: int = 2379, n: int = 7, timeout_s: float = 5.0) \
        -> float:
    """Median time for the host to complete a TCP handshake with `node` on its private
    address: the SYN/ACK leaves through the node's egress, so it carries the delay."""
    samples = [await asyncio.to_thread(_connect_ms, node.address, port, timeout_s)
               for _ in range(n)]
    return statistics.median(samples)


async def ping_from(
    docker: Docker, ctx: TrialContext, observer: Node, target: Node, image: str,
    count: int = 10, interval_s: float = 0.05,
) -> PingStats:
    res = await docker.run_helper(
        ping_argv(target.address, count, interval_s, 3, quiet=False),
        labels=ctx.labels("helper"), netns_of=observer.container_id, caps=(), image=image,
        timeout_s=count * interval_s + 60,
    )
    stats = parse_ping(res.stdout)
    assert stats is not None, (res.exit_code, res.stdout, res.stderr)
    return stats


async def netns_state(docker: Docker, ctx: TrialContext, node: Node, image: str) \
        -> tuple[str, str]:
    """(`iptables -t mangle -S`, root qdisc handle) inside `node`'s network namespace."""
    labels = ctx.labels("helper")
    rules = await docker.run_helper(
        ("iptables", "-w", "5", "-t", "mangle", "-S"), labels=labels,
        netns_of=node.container_id, image=image,
    )
    assert rules.ok, rules.stderr
    tc = await docker.run_helper(qdisc_show_argv(), labels=labels, netns_of=node.container_id,
                                 image=image)
    assert tc.ok, tc.stderr
    root = parse_root_qdisc(tc.stdout)
    return rules.stdout, root.handle if root else ""


async def trial_containers(docker: Docker, ctx: TrialContext) -> set[str]:
    """Ids of every container, running or not, carrying this trial's label."""
    return set((await docker.labelled(LABEL_TRIAL, ctx.trial_key)).containers)
