"""Shared fixtures for the integration tests (real Docker, marked `docker`).

Images are built at most once per session, and only when missing or stale (the recipe
hash label decides). Nothing here skips: an unreachable engine makes the tests error.
"""

from __future__ import annotations

import asyncio

import pytest

from eval.docker import Docker
from eval.images import BuildResult, ensure_images


@pytest.fixture(scope="session")
def built_images() -> dict[str, BuildResult]:
    """The images these tests need, present and current. Runs outside any event loop."""
    results = asyncio.run(ensure_images(["etcd", "helper"], Docker()))
    return {r.name: r for r in results}


@pytest.fixture(scope="session")
def etcd_image(built_images: dict[str, BuildResult]) -> str:
    return built_images["etcd"].ref
