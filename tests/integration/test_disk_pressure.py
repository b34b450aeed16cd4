"""disk_pressure on a real three-member etcd cluster: the target's tmpfs fills to the level
asked for (df read by the test from its own helper), the other members' filesystems do not
move, etcd meets a real ENOSPC, and cleanup removes exactly the trial's files and brings the
member back with its data. A volume that is not a bounded filesystem of its own is refused
before anything is written."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace

import pytest

from chaos_eval.chaos.disk_pressure import DiskPressureFault, DiskPressureParams
from chaos_eval.chaos.diskfill import fill_names
from chaos_eval.cleanup.removal_proof import DockerSnapshotter
from chaos_eval.cleanup.snapshot import compare, free_tolerance
from chaos_eval.cleanup.undo import run_undo
from chaos_eval.engine.client import Docker
from chaos_eval.errors import FaultError
from chaos_eval.images.build import BuildResult
from chaos_eval.subject import LABEL_TRIAL, Endpoint, Node
from chaos_eval.subjects.etcd.disk import ALARM_PATH, alarm_body
from tests.integration.etcd_local import LocalEtcd, Writer, new_ctx

pytestmark = pytest.mark.docker
log = logging.getLogger("figures")


def disk(etcd: LocalEtcd, target: Node, **params: object) -> DiskPressureFault:
    ctx = replace(etcd.ctx, subject=etcd.subject)  # as a trial's: etcd's DiskFullAware hook
    return DiskPressureFault(DiskPressureParams.model_validate(params), (target,), etcd.nodes,
                             ctx, etcd.docker, helper_image=etcd.helper_image)


async def df(etcd: LocalEtcd, node: Node) -> tuple[int, int, list[str]]:
    """(size, free bytes, names at the volume's top) seen by the test's own helper."""
    assert node.data_volume
    res = await etcd.docker.run_helper(
        ("df", "-B1", "--output=size,avail", "/target"), labels=etcd.ctx.labels("helper"),
        volume=node.data_volume, caps=(), image=etcd.helper_image,
    )
    assert res.ok, res.stderr
    size, avail = (int(x) for x in res.stdout.splitlines()[1].split())
    ls = await etcd.docker.run_helper(
        ("ls", "-A", "/target"), labels=etcd.ctx.labels("helper"), volume=node.data_volume,
        caps=(), image=etcd.helper_image,
    )
    assert ls.ok, ls.stderr
    return size, avail, ls.stdout.split()


async def wait_put(etcd: LocalEtcd, node: Node, timeout_s: float = 30.0) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if (await etcd.put(node, "probe", "x", 1.0)).ok:
            return time.monotonic() - t0
        await asyncio.sleep(0.2)  # poll interval
    raise AssertionError(f"no write accepted via {node.name} within {timeout_s}s")


async def test_fill_to_full_meets_real_enospc_and_cleanup_restores(etcd: LocalEtcd) -> None:
    a, b, c = etcd.node("etcd1"), etcd.node("etcd2"), etcd.node("etcd3")
    for i in range(20):  # data that must survive
        assert (await etcd.put(b, f"keep/{i}", str(i))).ok
    snapper = DockerSnapshotter(etcd.docker, etcd.ctx, etcd.helper_image)
    snap_before = await snapper.take(etcd.nodes)
    before = {n.name: await df(etcd, n) for n in (a, b, c)}

    fault = disk(etcd, a, fill_percent=100)
    await fault.measure_baseline()
    writers = [Writer(etcd, n, 0.5) for n in (a, b)]
    tasks = [asyncio.create_task(w.run()) for w in writers]
    t0 = time.monotonic()
    await fault.inject()
    inject_s = time.monotonic() - t0
    active = await fault.verify_active()
    assert active.holds, active

    size, avail, names = await df(etcd, a)
    assert avail <= 1 << 20, (size, avail)  # full, as df sees it from outside
    assert fill_names(etcd.ctx.trial_key)[0] in names
    for n in (b, c):  # the others' filesystems did not move (beyond etcd's own writes)
        _, free, others = await df(etcd, n)
        assert abs(free - before[n.name][1]) <= free_tolerance(before[n.name][0]), n.name
        assert not [x for x in others if x.startswith(".chaos-eval-fill-")]

    # etcd under real ENOSPC: the member exits, or at least refuses writes; the majority
    # keeps accepting writes through its own gateway.
    deadline = time.monotonic() + 20
    info = await etcd.docker.inspect(a.container_id)
    refused = False
    while time.monotonic() < deadline:
        info = await etcd.docker.inspect(a.container_id)
        if info is None or not info.running:
            break
        put = await etcd.put(a, "via-a", "x", 1.0)
        if not put.ok:
            refused = True
            break
        await asyncio.sleep(0.2)  # poll interval
    assert info is not None
    exited = not info.running
    assert exited or refused, "etcd kept accepting writes on a full disk"
    logs = await etcd.docker.logs(a.container_id)
    enospc = [ln for ln in logs.splitlines() if "no space left on device" in ln]
    majority_s = await wait_put(etcd, b)
    for w in writers:
        w.stop()
    await asyncio.gather(*tasks)

    t1 = time.monotonic()
    await fault.cleanup_chaos()
    cleanup_s = time.monotonic() - t1
    removed = await fault.verify_removed()
    assert removed.holds, removed
    await etcd.refresh()
    a = etcd.node("etcd1")
    _, avail_after, names = await df(etcd, a)
    assert not [x for x in names if x.startswith(".chaos-eval-fill-")], names
    assert avail_after >= before["etcd1"][1] - free_tolerance(before["etcd1"][0])
    await etcd.wait_healthy(60)
    await etcd.refresh()
    a = etcd.node("etcd1")
    for i in range(20):  # its own copy of the data is intact (a local, serializable read)
        assert await etcd.get(a, f"keep/{i}", serializable=True) == str(i)
    assert await etcd.get(a, "probe", serializable=False) == "x"  # caught up on the rest

    await fault.cleanup_chaos()  # twice is fine
    again = await fault.verify_removed()
    assert again.holds, again
    diff = compare(snap_before, await snapper.take(etcd.nodes))
    assert diff == (), diff
    log.info(
        "disk_pressure 100%% on etcd1: inject %.2fs (fill %.2fs, %d bytes), member %s "
        "(exit %s, ENOSPC logged: %s; refused a write while running: %s), majority write "
        "after %.2fs, cleanup %.2fs, verify_removed %.2fs; active figures %s",
        inject_s, active.figures["fill_s"], active.figures["fill_bytes"],
        "exited" if exited else "running", info.exit_code, enospc[-1:] or "no", refused,
        majority_s, cleanup_s, removed.figures["seconds"], dict(active.figures),
    )


async def test_partial_fill_to_a_percent_leaves_etcd_running(etcd: LocalEtcd) -> None:
    a = etcd.node("etcd2")
    size, avail, _ = await df(etcd, a)
    fault = disk(etcd, a, fill_percent=90)
    await fault.inject()
    active = await fault.verify_active()
    assert active.holds, active
    _, now, _ = await df(etcd, a)
    assert now <= size * 0.1 + (1 << 20) and now > 0
    assert 89.0 <= 100 * (size - now) / size <= 90.5
    await fault.cleanup_chaos()
    removed = await fault.verify_removed()
    assert removed.holds, removed
    log.info("disk_pressure 90%% on etcd2: %d -> %d free bytes, fill %.2fs, member %s",
             avail, now, active.figures["fill_s"], active.figures["member_container"])


async def test_cleanup_after_a_half_done_inject_and_by_the_ledger(etcd: LocalEtcd) -> None:
    a = etcd.node("etcd3")
    fault = disk(etcd, a, fill_bytes=64 << 20)
    await fault.measure_baseline()
    assert await fault.fill_step(a, 8 << 20)  # one file made, then the inject "stops"
    _, _, names = await df(etcd, a)
    assert fill_names(etcd.ctx.trial_key)[0] in names
    await fault.cleanup_chaos()
    removed = await fault.verify_removed()
    assert removed.holds, removed
    assert not [x for x in (await df(etcd, a))[2] if x.startswith(".chaos-eval-fill-")]

    # the ledger's undo plan alone removes a half-done fill too (what resume and gc run)
    fresh = disk(etcd, a, fill_bytes=64 << 20)
    await fresh.measure_baseline()
    assert await fresh.fill_step(a, 4 << 20)
    assert await fresh.fill_step(a, 4 << 20)
    plan = fresh.undo_plan()
    assert await run_undo(etcd.docker, plan, etcd.ctx.labels("helper")) == []
    assert not [x for x in (await df(etcd, a))[2] if x.startswith(".chaos-eval-fill-")]
    assert await run_undo(etcd.docker, plan, etcd.ctx.labels("helper")) == []  # idempotent


async def test_cleanup_disarms_a_nospace_alarm_raised_for_the_target(etcd: LocalEtcd) -> None:
    a, b = etcd.node("etcd1"), etcd.node("etcd2")
    fault = disk(etcd, a, fill_bytes=4 << 20)
    await fault.measure_baseline()
    st = await etcd.status(a)
    assert st is not None
    member = int(st["header"]["member_id"])
    await fault.inject()
    # etcd 3.4 does not arm NOSPACE on ENOSPC; arm it as its quota would, to prove disarm
    await etcd._post(b, ALARM_PATH, alarm_body("ACTIVATE", member, "NOSPACE"), 2.0)
    armed = await etcd._post(b, ALARM_PATH, alarm_body("GET"), 2.0)
    assert armed.get("alarms"), armed
    assert not (await etcd.put(b, "during-alarm", "x", 2.0)).ok  # the cluster refuses writes
    await fault.cleanup_chaos()
    left = await etcd._post(b, ALARM_PATH, alarm_body("GET"), 2.0)
    assert not left.get("alarms"), left
    removed = await fault.verify_removed()
    assert removed.holds, removed
    await wait_put(etcd, b)


async def test_refuses_a_volume_on_the_host_disk(built_images: dict[str, BuildResult]) -> None:
    docker = Docker()
    ctx = new_ctx()
    labels = ctx.labels("data")
    vol = f"ce-plain-{ctx.trial_key[:12]}"
    client = docker.client
    try:
        await asyncio.to_thread(client.volumes.create, name=vol, driver="local", labels=labels)
        container = await asyncio.to_thread(
            client.containers.run, built_images["etcd"].ref, ["sleep", "infinity"],
            detach=True, labels=ctx.labels("etcd"), network_mode="none",
            volumes={vol: {"bind": "/data", "mode": "rw"}},
        )
        node = Node("plain", "etcd", container.id, "172.31.0.2",
                    (Endpoint("client", "127.0.0.1", 1),), (2380,), vol, "/data")
        fault = DiskPressureFault(DiskPressureParams(fill_bytes=1 << 20), (node,), (node,), ctx,
                                  docker, helper_image=built_images["helper"].ref)
        with pytest.raises(FaultError, match="directory on the host's disk"):
            await fault.inject()
        res = await docker.run_helper(("ls", "-A", "/target"), labels=ctx.labels("helper"),
                                      volume=vol, caps=(), image=built_images["helper"].ref)
        assert res.ok and res.stdout.strip() == "", res  # nothing was written
        await fault.cleanup_chaos()  # harmless: removes nothing, starts nothing new
    finally:
        await docker.remove_labelled(await docker.labelled(LABEL_TRIAL, ctx.trial_key))
