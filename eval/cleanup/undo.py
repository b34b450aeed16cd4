"""Execute ledger undo plans: the same code path for a live cleanup, resume and `eval gc`.

Every action is idempotent. A HELPER_RUN whose container no longer exists or is not running
counts as done: its network namespace, and with it every qdisc and iptables rule inside it,
is gone. A VOLUME_RUN whose volume no longer exists counts as done too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from chaos_eval.engine.client import Docker
from chaos_eval.errors import DockerError
from chaos_eval.fault import UndoAction, UndoOp

log = logging.getLogger(__name__)


async def run_undo(
    docker: Docker, actions: Iterable[UndoAction], labels: Mapping[str, str]
) -> list[str]:
    """Run each action; return one message per action that could not be completed."""
    problems: list[str] = []
    for action in actions:
        try:
            problem = await _run_one(docker, action, labels)
        except DockerError as e:
            problem = f"{action.op.value} {action.container}: {e}"
        if problem:
            log.warning("undo: %s", problem)
            problems.append(problem)
    return problems


async def _run_one(docker: Docker, a: UndoAction, labels: Mapping[str, str]) -> str | None:
    if a.op == UndoOp.REMOVE_CONTAINER:
        await docker.remove(a.container)
        return None
    if a.op == UndoOp.VOLUME_RUN:
        assert a.volume, "VOLUME_RUN needs a volume"
        if await docker.volume_info(a.volume) is None:
            return None  # gone, and its files with it (mounting it by name would create it)
        res = await docker.run_helper(a.argv, labels=labels, volume=a.volume, caps=())
        return None if res.exit_code in a.ok_exit_codes else f"{a.argv}: {res.stderr.strip()}"
    info = await docker.inspect(a.container)
    if info is None:
        return None  # the container is gone, and everything inside its namespaces with it
    if a.op == UndoOp.UNPAUSE_CONTAINER:
        if info.paused:
            await docker.unpause(a.container)
        return None
    if a.op == UndoOp.START_CONTAINER:
        if info.paused:
            await docker.unpause(a.container)
        elif not info.running:
            await docker.start(a.container)
        return None
    if a.op == UndoOp.HELPER_RUN:
        if not info.running:
            return None  # a stopped container's netns is gone, and its rules with it
        # A paused container keeps its netns and a helper can join it: do not unpause it
        # here, which would cut short a pause fault running alongside.
        res = await docker.run_helper(a.argv, labels=labels, netns_of=a.container)
        if res.exit_code in a.ok_exit_codes:
            return None
        return f"{' '.join(a.argv)} in {info.name}: exit {res.exit_code}: {res.stderr.strip()}"
    return f"unknown undo op {a.op}"  # pragma: no cover - enum is closed
