"""TikvSubject against real Docker: PD x3 + TiKV x3 per test, torn down to nothing.

The pinned images cannot be built here. Where they are absent every test here SKIPS with
the exact message `chaos-eval run` gives (which images, and how to get them): the one
skip the suite allows. Docker itself being unreachable is a failure, not a skip.
"""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest

from chaos_eval.engine.client import Docker
from chaos_eval.engine.compose import Compose
from chaos_eval.images.build import ensure_images
from chaos_eval.images.recipes import external_ref, image_ref, missing_images_message
from chaos_eval.outcomes import OpOutcome
from chaos_eval.subject import LABEL_TRIAL, LeaderAware, Subject, TrialContext
from chaos_eval.subjects.tikv.subject import TikvSubject
from tests.integration.leftovers import leftovers

pytestmark = pytest.mark.docker

HEALTHY_WITHIN_S = 180.0


def _missing() -> list[str]:
    refs = [external_ref("pd"), external_ref("tikv")]
    present = asyncio.run(Docker().images_present(refs))  # DockerError if unreachable: fails
    return [r for r in refs if not present[r]]


@pytest.fixture(scope="module")
def tikv_images() -> tuple[str, str]:
    missing = _missing()
    if missing:
        pytest.skip(missing_images_message(missing))
    asyncio.run(ensure_images(["tikv-client", "helper"], Docker()))
    return external_ref("pd"), external_ref("tikv")


def _ctx() -> TrialContext:
    return TrialContext(900_000 + secrets.randbelow(99_999), secrets.token_hex(16), seed=1)


async def test_cluster_healthy_leaders_store_kill_and_teardown(
    tikv_images: tuple[str, str],
) -> None:
    pd_image, tikv_image = tikv_images
    docker, ctx = Docker(), _ctx()
    subject = TikvSubject(ctx, docker, Compose(), pd_image=pd_image, tikv_image=tikv_image,
                          helper_image=image_ref("helper"),
                          client_image=image_ref("tikv-client"), max_store_down_time_s=30)
    assert isinstance(subject, Subject) and isinstance(subject, LeaderAware)
    try:
        await subject.up()
        health = await subject.wait_healthy(HEALTHY_WITHIN_S)
        assert health.healthy, health.reasons
        nodes = await subject.nodes()
        assert [n.name for n in nodes] == ["pd1", "pd2", "pd3", "tikv1", "tikv2", "tikv3"]
        assert all(n.endpoints and n.endpoints[0].host == "127.0.0.1" for n in nodes)
        assert (await subject.gateway_url()).startswith("http://127.0.0.1:")
        pd_leader = await subject.leader("pd")
        assert pd_leader is not None and pd_leader.name == health.leader
        store_leader = await subject.leader("tikv")
        assert store_leader is not None and store_leader.role == "tikv"

        kv = subject.client(nodes[0], 5.0)
        try:
            assert await kv.put("chaos-eval/test/k", "v") == (OpOutcome.OK, "")
            res = await kv.get("chaos-eval/test/k")
            assert (res.outcome, res.value) == (OpOutcome.OK, "v")
        finally:
            await kv.aclose()

        victim = next(n for n in nodes if n.name != store_leader.name and n.role == "tikv")
        assert await docker.kill(victim.container_id)
        deadline = time.monotonic() + 60
        while (h := await subject.health()).healthy:
            assert time.monotonic() < deadline, "a killed store never showed in health"
            await asyncio.sleep(0.5)
        assert any(r.startswith(victim.name) or victim.name in r for r in h.reasons), h.reasons
        assert await docker.start(victim.container_id)
        health = await subject.wait_healthy(HEALTHY_WITHIN_S)
        assert health.healthy, health.reasons
    finally:
        await subject.teardown()
    assert leftovers(LABEL_TRIAL, ctx.trial_key) == []
