"""The Compose CLI, as argv lists built by pure functions and run in one place (`Compose`).

Compose v2 (`docker compose`) is preferred when the plugin works; otherwise Compose v1
(`docker-compose`). Only flags both understand are used, so compose files stay at format
"2.4" and behave the same under either. CHAOS_EVAL_COMPOSE (e.g. "docker-compose")
overrides detection. Compose files ship with the package (`compose/` in the repository);
CHAOS_EVAL_COMPOSE_DIR points at a user's own.

A failing command raises ComposeCommandError (a ComposeError) carrying the argv, the exit
code and the tail of stderr; one that failed because no engine answered at all (the daemon
stopped or restarting) raises EngineUnreachable instead, so a trial can say so.

Each command runs through eval/engine/process.py with `die_with_parent`: under `setpriv
--pdeathsig KILL` (util-linux) where setpriv exists, so a harness that is SIGKILLed mid-`up`
takes its compose child with it instead of leaving it creating containers while a resumed
run repairs that trial's project.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from chaos_eval.engine.process import run_process
from chaos_eval.errors import ComposeError, EngineUnreachable
from chaos_eval.resources import shipped

log = logging.getLogger(__name__)

V2: tuple[str, ...] = ("docker", "compose")
V1: tuple[str, ...] = ("docker-compose",)
STDERR_TAIL_LINES = 20
# what the docker CLI (and so Compose v2, and v1 through docker-py) says when no engine answers
NO_ENGINE = ("Cannot connect to the Docker daemon", "Is the docker daemon running?")


class ComposeCommandError(ComposeError):
    """A compose command exited non-zero or overran its timeout."""

    def __init__(self, argv: Sequence[str], returncode: int | None, stderr_tail: str) -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        how = "timed out" if returncode is None else f"exited {returncode}"
        super().__init__(f"{' '.join(self.argv[:6])} ... {how}: {stderr_tail}".rstrip(": "))


# -- pure argv builders ---------------------------------------------------------------------


def project_name(raw: str) -> str:
    """Normalise a project name the way both Compose versions do (lowercase, [-_a-z0-9]),
    so the `com.docker.compose.project` label we filter on is what Compose writes."""
    return re.sub(r"[^-_a-z0-9]", "", raw.lower())


def up_argv(base: Sequence[str], project: str, file: Path) -> list[str]:
    """Create and start every service, detached; never build (images are local)."""
    return [*base, "-p", project, "-f", str(file), "up", "-d", "--no-build"]


def down_argv(base: Sequence[str], project: str, file: Path, timeout_s: int = 5) -> list[str]:
    """Stop and remove the project's containers, networks and named volumes."""
    return [
        *base,
        "-p",
        project,
        "-f",
        str(file),
        "down",
        "-v",
        "--remove-orphans",
        "-t",
        str(timeout_s),
    ]


def config_argv(base: Sequence[str], project: str, file: Path) -> list[str]:
    """The project's effective configuration: the file with its variables filled in."""
    return [*base, "-p", project, "-f", str(file), "config"]


def version_argv(base: Sequence[str]) -> list[str]:
    return [*base, "version"]


def tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# -- detection ------------------------------------------------------------------------------


def _works(base: tuple[str, ...]) -> bool:
    if shutil.which(base[0]) is None:
        return False
    try:
        done = subprocess.run(version_argv(base), capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


@functools.cache
def compose_base() -> tuple[str, ...]:
    """The compose command prefix: CHAOS_EVAL_COMPOSE, else `docker compose` if the plugin
    works, else `docker-compose`. Detected once per process (a failure is not cached)."""
    override = os.environ.get("CHAOS_EVAL_COMPOSE")
    if override:
        return tuple(shlex.split(override))
    for base in (V2, V1):
        if _works(base):
            log.debug("compose: using %s", " ".join(base))
            return base
    raise ComposeError("neither `docker compose` nor `docker-compose` works on this machine")


def compose_dir() -> Path:
    """CHAOS_EVAL_COMPOSE_DIR (a user's own compose files), else the ones chaos-eval ships."""
    override = os.environ.get("CHAOS_EVAL_COMPOSE_DIR")
    if override:
        return Path(override)
    return shipped("compose")


def compose_file(name: str) -> Path:
    """The compose file `<name>.yml`; ComposeError when it is not there."""
    path = compose_dir() / f"{name}.yml"
    if not path.is_file():
        raise ComposeError(f"compose file {path} not found (set CHAOS_EVAL_COMPOSE_DIR)")
    return path


# -- running --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComposeResult:
    argv: tuple[str, ...]
    stdout: str
    stderr: str


class Compose:
    """Runs compose commands with asyncio subprocesses; one instance can serve many trials.

    `env` passed to each call is layered over os.environ for ${VAR} interpolation.
    """

    def __init__(self, base: Sequence[str] | None = None, *, timeout_s: float = 120.0) -> None:
        self._base = tuple(base) if base is not None else None
        self.timeout_s = timeout_s

    async def base(self) -> tuple[str, ...]:
        if self._base is None:
            self._base = await asyncio.to_thread(compose_base)
        return self._base

    async def up(self, project: str, file: Path, env: Mapping[str, str]) -> ComposeResult:
        return await self.run(up_argv(await self.base(), project, file), env)

    async def down(
        self, project: str, file: Path, env: Mapping[str, str], *, stop_timeout_s: int = 5
    ) -> ComposeResult:
        """`stop_timeout_s` is how long each container gets after SIGTERM (0: kill now)."""
        argv = down_argv(await self.base(), project, file, stop_timeout_s)
        return await self.run(argv, env)

    async def config(self, project: str, file: Path, env: Mapping[str, str]) -> str:
        """`compose config` of the project: its effective configuration, as YAML text."""
        return (await self.run(config_argv(await self.base(), project, file), env)).stdout

    async def run(
        self, argv: Sequence[str], env: Mapping[str, str], timeout_s: float | None = None
    ) -> ComposeResult:
        """Run one compose argv to completion; ComposeCommandError on failure or timeout.
        The process is killed if the timeout passes or the caller is cancelled."""
        limit = self.timeout_s if timeout_s is None else timeout_s
        log.debug("compose: %s", argv)
        try:
            done = await run_process(argv, timeout_s=limit, env=env, die_with_parent=True)
        except TimeoutError:  # (an OSError too: caught first)
            raise ComposeCommandError(argv, None, f"no exit within {limit:.0f}s") from None
        except OSError as e:
            raise ComposeCommandError(argv, -1, str(e)) from e
        if done.returncode != 0:
            if any(marker in done.stderr for marker in NO_ENGINE):
                raise EngineUnreachable(
                    f"the Docker engine is unreachable ({' '.join(argv[:6])} ... exited "
                    f"{done.returncode}: {tail(done.stderr, 2)})")
            raise ComposeCommandError(argv, done.returncode, tail(done.stderr))
        return ComposeResult(tuple(argv), done.stdout, done.stderr)
