"""The connection to the Docker engine under the `Docker` facade (eval/engine/client.py):
docker-py, made on first use and run in worker threads, with docker-py and requests errors
translated into DockerError (NotFound passes through: callers turn it into None or False).
"""

from __future__ import annotations

import asyncio
from typing import Any

import docker
import docker.errors
import requests.exceptions

from chaos_eval.errors import DockerError


class EngineConnection:
    """The docker-py client, made on first use, and `_call`: one blocking docker-py call in a
    worker thread, its errors translated. The base of the `Docker` facade."""

    def __init__(self, client: docker.DockerClient | None = None) -> None:
        self._client = client

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            try:
                self._client = docker.from_env(timeout=120)
                self._client.ping()
            except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
                raise DockerError(f"cannot reach the Docker engine: {e}") from e
        return self._client

    async def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        def run() -> Any:
            try:
                return fn(*args, **kwargs)
            except docker.errors.NotFound:
                raise
            except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
                raise DockerError(f"{what}: {e}") from e

        return await asyncio.to_thread(run)
