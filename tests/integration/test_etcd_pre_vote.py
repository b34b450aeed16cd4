"""etcd's `pre_vote` subject param, observed on real clusters: isolate a follower for a few
election timeouts, then heal. Without PreVote (etcd 3.4's default) the cut-off member keeps
raising its term, and on its return the leader steps down to that term: an election nobody
needed. With PreVote it asks before it raises its term, so the cluster's term and leader
stay as they were. (The cut-off member's own status cannot show its rising term: etcd 3.4
reports the term of the last applied entry, so the proof is the cluster's after the heal.)"""

from __future__ import annotations

import asyncio
import logging

import pytest

from chaos_eval.chaos.partition import PartitionFault, PartitionParams
from tests.integration.etcd_local import LocalEtcd, started_cluster

pytestmark = pytest.mark.docker
log = logging.getLogger("figures")

CUT_OFF_S = 4.0  # four election timeouts (compose/etcd.yml: --election-timeout=1000)


async def terms(etcd: LocalEtcd) -> dict[str, int]:
    out = {}
    for n in etcd.nodes:
        st = await etcd.status(n)
        assert st is not None, f"{n.name} did not answer status"
        out[n.name] = int(st["raftTerm"])
    return out


@pytest.mark.parametrize("pre_vote", [False, True], ids=["without", "with"])
async def test_a_healed_follower_disrupts_the_leader_only_without_pre_vote(
        pre_vote: bool) -> None:
    etcd = await started_cluster(pre_vote=pre_vote)
    try:
        leader = await etcd.wait_healthy()
        follower = next(n for n in etcd.nodes if n.name != leader)
        before = await terms(etcd)
        fault = PartitionFault(PartitionParams(shape="isolate"), (follower,), etcd.nodes,
                               etcd.ctx, etcd.docker, helper_image=etcd.helper_image)
        await fault.inject()
        try:
            assert (await fault.verify_active()).holds
            await asyncio.sleep(CUT_OFF_S)  # the phase under test: cut off, electing or not
        finally:
            await fault.cleanup_chaos()
        assert (await fault.verify_removed()).holds
        after_leader = await etcd.wait_healthy(30)
        after = await terms(etcd)
    finally:
        await etcd.teardown()
    log.info("pre_vote=%s: terms before %s, %s cut off for %.0fs, after heal %s (leader %s "
             "-> %s)", pre_vote, before, follower.name, CUT_OFF_S, after, leader, after_leader)
    start = max(before.values())
    if pre_vote:
        assert set(after.values()) == {start}, "PreVote: the healed member forced an election"
        assert after_leader == leader
    else:
        assert min(after.values()) > start, "without PreVote the leader steps down on the heal"
