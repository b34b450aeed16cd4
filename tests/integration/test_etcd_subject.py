"""EtcdSubject against real Docker: a fresh three-member cluster per test, built from the
locally built image, torn down to nothing labelled with the trial."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable

import docker as docker_sdk
import pytest

from chaos_eval.engine.client import Docker
from chaos_eval.engine.compose import Compose
from chaos_eval.errors import ImageError
from chaos_eval.images.build import BuildResult, ensure_images
from chaos_eval.images.recipes import LABEL_RECIPE, recipe, recipe_hash
from chaos_eval.outcomes import OpOutcome
from chaos_eval.subject import LABEL_TRIAL, Health, LeaderAware, Subject, TrialContext
from chaos_eval.subjects.etcd.subject import EtcdSubject

pytestmark = pytest.mark.docker
log = logging.getLogger("figures")

HEALTHY_WITHIN_S = 60.0


def _ctx() -> TrialContext:
    # a campaign id and trial key nobody else on this machine uses
    return TrialContext(900_000 + secrets.randbelow(99_999), secrets.token_hex(16), seed=1)


def _labelled_leftovers(trial_key: str) -> list[str]:
    """Everything still carrying the trial label, read straight from docker-py."""
    client = docker_sdk.from_env()
    flt = {"label": f"{LABEL_TRIAL}={trial_key}"}
    try:
        return (
            [f"container {c.name}" for c in client.containers.list(all=True, filters=flt)]
            + [f"network {n.name}" for n in client.networks.list(filters=flt)]
            + [f"volume {v.name}" for v in client.volumes.list(filters=flt)]
        )
    finally:
        client.close()


def _holder_ls(ctx: TrialContext, path: str) -> list[str]:
    """`ls path` inside the project's holder container (docker-py, test-side only)."""
    client = docker_sdk.from_env()
    try:
        flt = {"label": [f"{LABEL_TRIAL}={ctx.trial_key}", "chaos-eval.role=holder"]}
        (holder,) = client.containers.list(filters=flt)
        code, out = holder.exec_run(["ls", path])
        assert code == 0, out
        return str(out.decode()).split()
    finally:
        client.close()


async def _until(what: str, check: Callable[[], Awaitable[bool]], timeout_s: float) -> None:
    """Poll an async predicate to a deadline."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, f"{what} not within {timeout_s}s"
        await asyncio.sleep(0.2)


async def test_building_twice_does_not_rebuild(built_images: dict[str, BuildResult]) -> None:
    docker = Docker()
    first = built_images["etcd"]
    again = (await ensure_images(["etcd"], docker))[0]
    assert not again.built
    assert again.hash == first.hash == recipe_hash(recipe("etcd"))
    labels = await docker.image_labels(again.ref)
    assert labels is not None and labels[LABEL_RECIPE] == again.hash


async def test_cluster_lifecycle_kill_restart_and_teardown(etcd_image: str) -> None:
    docker, ctx = Docker(), _ctx()
    subject = EtcdSubject(ctx, docker, Compose(), image=etcd_image)
    assert isinstance(subject, Subject) and isinstance(subject, LeaderAware)
    try:
        t0 = time.monotonic()
        await subject.up()
        health = await subject.wait_healthy(HEALTHY_WITHIN_S)
        log.info("etcd up->healthy %.1fs", time.monotonic() - t0)
        assert health.healthy, health.reasons
        assert health.leader in ("etcd1", "etcd2", "etcd3")

        nodes = await subject.nodes()
        assert [n.name for n in nodes] == ["etcd1", "etcd2", "etcd3"]
        ports = [n.endpoint("client").port for n in nodes]
        assert len(set(ports)) == 3
        assert all(n.endpoint("client").host == "127.0.0.1" for n in nodes)
        assert all(n.address and n.data_volume and n.data_path == "/data" for n in nodes)
        assert len({n.address for n in nodes}) == 3

        state = await subject.state()
        assert state.members == ("etcd1", "etcd2", "etcd3")
        assert state.leader == health.leader
        assert state.term is not None and state.term >= 1
        assert state.index is not None and state.index > 0
        ids_before = {n: json.loads(state.extra[n])["member_id"] for n in state.members}

        victim = await subject.leader()
        assert victim is not None and victim.name == state.leader
        kv = subject.client(victim, timeout_s=3.0)
        try:
            assert await kv.put("/test/survives-kill", "yes") == (OpOutcome.OK, "")

            assert await docker.kill(victim.container_id)

            async def victim_down() -> bool:
                return not (await subject.health()).healthy

            await _until("cluster reports the kill", victim_down, 10)
            # while the member is down its tmpfs stays mounted (the holder keeps it)
            wal = await asyncio.to_thread(_holder_ls, ctx, f"/hold/{victim.name}/etcd/member/wal")
            assert any(f.endswith(".wal") for f in wal), wal
            outcome, err = await kv.put("/test/while-down", "x")
            assert (outcome, err) == (OpOutcome.FAIL, "refused")

            assert await docker.start(victim.container_id)
            t1 = time.monotonic()
            health = await subject.wait_healthy(HEALTHY_WITHIN_S)
            log.info("etcd restart->healthy %.1fs", time.monotonic() - t1)
            assert health.healthy, health.reasons

            # the same member, with its data, read locally from it (no quorum involved)
            back = next(n for n in await subject.nodes() if n.name == victim.name)
            fresh = subject.client(back, timeout_s=3.0)
            try:
                res = await fresh.get("/test/survives-kill", linearizable=False)
                assert (res.outcome, res.value) == (OpOutcome.OK, "yes")
            finally:
                await fresh.aclose()
            # the client made before the kill follows the member to its new port
            res = await kv.get("/test/survives-kill", linearizable=False)
            assert (res.outcome, res.value) == (OpOutcome.OK, "yes")

            # the final read's batch read, paged two keys a page at the first page's
            # revision: a missing key is absent, a key in the span not asked for is ignored
            for i in (1, 2, 4, 5, 6):
                assert await kv.put(f"/test/batch/{i}", f"v{i}") == (OpOutcome.OK, "")
            kv.page_limit = 2
            asked = [f"/test/batch/{i}" for i in (1, 2, 3, 5, 6)]
            batch = await kv.get_many(asked)
            assert batch.outcome == OpOutcome.OK, batch.error
            assert dict(batch.values) == dict(zip(asked, ["v1", "v2", None, "v5", "v6"],
                                                  strict=True))
        finally:
            await kv.aclose()

        after = await subject.state()
        assert after.members == state.members
        assert {n: json.loads(after.extra[n])["member_id"] for n in after.members} == ids_before
    finally:
        t2 = time.monotonic()
        await subject.teardown()
        log.info("etcd teardown %.1fs", time.monotonic() - t2)

    assert _labelled_leftovers(ctx.trial_key) == []
    await subject.teardown()  # idempotent
    assert _labelled_leftovers(ctx.trial_key) == []


async def test_up_without_image_is_an_image_error_and_teardown_is_safe() -> None:
    ctx = _ctx()
    subject = EtcdSubject(ctx, Docker(), Compose(), image="chaos-eval/absent:never")
    with pytest.raises(ImageError, match="not present"):
        await subject.up()
    await subject.teardown()
    assert _labelled_leftovers(ctx.trial_key) == []


async def test_health_names_what_is_wrong_with_a_dead_member(etcd_image: str) -> None:
    docker, ctx = Docker(), _ctx()
    subject = EtcdSubject(ctx, docker, Compose(), image=etcd_image)
    try:
        await subject.up()
        assert (await subject.wait_healthy(HEALTHY_WITHIN_S)).healthy
        nodes = await subject.nodes()
        for n in nodes[:2]:  # quorum lost
            await docker.kill(n.container_id)
        health: Health = await subject.wait_healthy(3.0)
        assert not health.healthy
        assert any(r.startswith("etcd1: ") for r in health.reasons)
        assert any(r.startswith("etcd2: ") for r in health.reasons)
        state = await subject.state()  # never raises with members unreachable
        assert "error" in json.loads(state.extra["etcd1"])
    finally:
        await subject.teardown()
    assert _labelled_leftovers(ctx.trial_key) == []
