"""Node helpers on a real etcd cluster: commands for a node are exec'd into its one
long-lived helper (no container per command), the helper follows the node across a restart
(a stale netns would have no eth0), and the trial's helpers are found and removed by label."""

from __future__ import annotations

import json

import pytest

from chaos_eval.engine.helper_exec import NODE_HELPER_ROLE
from chaos_eval.subject import LABEL_ROLE
from tests.integration.etcd_local import LocalEtcd

pytestmark = pytest.mark.docker

ADDR_ARGV = ("ip", "-j", "-4", "addr", "show", "dev", "eth0")


def eth0_ips(stdout: str) -> set[str]:
    return {a["local"] for link in json.loads(stdout) for a in link.get("addr_info", [])}


async def test_commands_run_in_one_helper_per_node_that_follows_restarts(etcd: LocalEtcd) -> None:
    docker = etcd.docker
    node_labels = etcd.ctx.labels(NODE_HELPER_ROLE)
    started = await docker.start_node_helpers(
        [(n.container_id, n.data_volume) for n in etcd.nodes],
        labels=node_labels, image=etcd.helper_image,
    )
    assert started == 3
    helpers = await docker.find_containers(node_labels)
    assert len(helpers) == 3 and all(h.running for h in helpers)
    helper_labels = etcd.ctx.labels("helper")
    node = etcd.nodes[0]

    # each command is an exec: the set of containers of the trial does not change
    before = {c.id for c in await docker.find_containers({LABEL_ROLE: NODE_HELPER_ROLE})}
    for _ in range(3):
        res = await docker.run_helper(ADDR_ARGV, labels=helper_labels, netns_of=node.container_id,
                                      image=etcd.helper_image)
        assert res.ok, res
        assert eth0_ips(res.stdout) == {node.address}
    one_shot = await docker.find_containers(helper_labels)
    assert one_shot == ()
    after = {c.id for c in await docker.find_containers({LABEL_ROLE: NODE_HELPER_ROLE})}
    assert before == after

    # the data volume is mounted where a one-shot volume helper would mount it
    res = await docker.run_helper(("df", "-B1", "/target"), labels=helper_labels,
                                  netns_of=node.container_id, volume=node.data_volume,
                                  image=etcd.helper_image)
    assert res.ok and "/target" in res.stdout, res

    # a command that outlives its limit is a DockerError, as a one-shot helper's would be
    with pytest.raises(Exception, match="no exit within"):
        await docker.run_helper(("sleep", "5"), labels=helper_labels,
                                netns_of=node.container_id, image=etcd.helper_image,
                                timeout_s=0.5)

    # restart the node: it gets a new netns; the next command runs in it, not the old one
    old = {h.id for h in await docker.find_containers(node_labels)}
    assert await docker.kill(node.container_id)
    assert await docker.start(node.container_id)
    await etcd.refresh()
    node = next(n for n in etcd.nodes if n.name == node.name)
    res = await docker.run_helper(ADDR_ARGV, labels=helper_labels, netns_of=node.container_id,
                                  image=etcd.helper_image)
    assert res.ok, res
    assert eth0_ips(res.stdout) == {node.address}
    new = {h.id for h in await docker.find_containers(node_labels)}
    assert len(new) == 3 and len(new - old) == 1

    # removed by label, with nothing of the trial's helpers left
    assert await docker.remove_node_helpers(node_labels) == 3
    assert await docker.find_containers(node_labels) == ()
    # and with none registered, a command runs one-shot again
    res = await docker.run_helper(ADDR_ARGV, labels=helper_labels, netns_of=node.container_id,
                                  image=etcd.helper_image)
    assert res.ok and eth0_ips(res.stdout) == {node.address}
