"""The connection to the Docker engine under the `Docker` facade (eval/engine/client.py):
docker-py, made on first use and run in worker threads, with docker-py and requests errors
translated into DockerError (NotFound passes through: callers turn it into None or False).

An engine that does not answer at all (its daemon stopped or restarting: the socket is gone
or refuses) is EngineUnreachable, and counted: `engine_losses` only grows, so a trial can
tell, from a mark taken when it started, whether the engine went away under it even where
the error itself was absorbed (a cleanup falling back to its undo plan).
"""

from __future__ import annotations

import asyncio
from typing import Any

import docker
import docker.errors
import requests.exceptions

from chaos_eval.errors import DockerError, EngineUnreachable
from chaos_eval.polling import poll_until

PING_TIMEOUT_S = 5.0


class EngineConnection:
    """The docker-py client, made on first use, and `_call`: one blocking docker-py call in a
    worker thread, its errors translated. The base of the `Docker` facade."""

    def __init__(self, client: docker.DockerClient | None = None) -> None:
        self._client = client
        self.engine_losses = 0  # calls that found no engine at all, ever (only grows)
        self.last_loss = ""  # what the last of them was doing, and the error

    def _lost(self, what: str, e: BaseException) -> EngineUnreachable:
        self.engine_losses += 1
        self.last_loss = f"{what}: {e}"
        return EngineUnreachable(f"the Docker engine is unreachable ({what}: {e})")

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            try:
                self._client = docker.from_env(timeout=120)
                self._client.ping()
            except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
                self._client = None
                raise self._lost("connect", e) from e
        return self._client

    async def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        def run() -> Any:
            try:
                return fn(*args, **kwargs)
            except docker.errors.NotFound:
                raise
            except requests.exceptions.ConnectionError as e:
                raise self._lost(what, e) from e
            except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
                raise DockerError(f"{what}: {e}") from e

        return await asyncio.to_thread(run)

    async def reachable(self) -> bool:
        """Whether the engine answers a ping now (within PING_TIMEOUT_S). Never raises."""
        def ping() -> bool:
            try:
                return bool(self.client.api.ping())
            except (DockerError, docker.errors.DockerException,
                    requests.exceptions.RequestException):
                return False

        try:
            return await asyncio.wait_for(asyncio.to_thread(ping), PING_TIMEOUT_S)
        except TimeoutError:
            return False

    async def wait_reachable(self, timeout_s: float) -> bool:
        """Poll until the engine answers (True) or `timeout_s` passes (False)."""
        ok, _ = await poll_until(self.reachable, bool, timeout_s, 0.5, backoff=1.5,
                                 max_interval_s=5.0)
        return ok
