"""Shared fixtures for the integration tests (real Docker, marked `docker`).

Images are built at most once per session, and only when missing or stale (the recipe
hash label decides). Nothing here skips: an unreachable engine makes the tests error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from chaos_eval.engine.client import Docker
from chaos_eval.images.build import BuildResult, ensure_images
from tests.integration.etcd_local import LocalEtcd, started_cluster


@pytest.fixture(scope="session")
def built_images() -> dict[str, BuildResult]:
    """The images these tests need, present and current. Runs outside any event loop."""
    results = asyncio.run(ensure_images(["etcd", "helper"], Docker()))
    return {r.name: r for r in results}


@pytest.fixture(scope="session")
def etcd_image(built_images: dict[str, BuildResult]) -> str:
    return built_images["etcd"].ref


@pytest.fixture
async def etcd() -> AsyncIterator[LocalEtcd]:
    """A real, healthy 3-member etcd cluster for one test, torn down whatever happens."""
    cluster = await started_cluster()  # ensures the etcd and helper images first
    try:
        yield cluster
    finally:
        await cluster.teardown()
