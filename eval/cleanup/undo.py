"""Execute ledger undo plans: the same code path for a live cleanup, resume and `eval gc`.

An undo plan may come from any db, so nothing in it is trusted: each action is checked
before it runs (`check_action`: its op's shape, and an argv only if it is one the harness's
own builders make, eval/spec/registry.py UNDO_ARGV), and acts only on a container or volume
that carries THIS campaign's label (inspected first); anything else is refused, with the
reason returned as a problem.

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
from chaos_eval.spec import registry
from chaos_eval.subject import LABEL_CAMPAIGN

log = logging.getLogger(__name__)
_RUNS = (UndoOp.HELPER_RUN, UndoOp.VOLUME_RUN)


def check_action(a: UndoAction) -> str | None:
    """None when the action has the shape the harness itself gives it, else why not. Pure."""
    if a.op in _RUNS:
        if not registry.undo_argv_known(a.op.value, a.argv):
            return f"{a.op.value}: argv {list(a.argv)!r:.200} is not one the harness builds"
        if (a.op == UndoOp.VOLUME_RUN) != (a.volume is not None):
            return f"{a.op.value}: a volume is needed by volume_run and only by it"
        return None
    if a.argv or a.volume is not None:
        return f"{a.op.value} takes no argv and no volume"
    return None


async def run_undo(
    docker: Docker, actions: Iterable[UndoAction], labels: Mapping[str, str]
) -> list[str]:
    """Run each action (helpers labelled `labels`, whose campaign label is also the one
    every touched resource must carry); one message per action not completed or refused."""
    problems: list[str] = []
    campaign = labels.get(LABEL_CAMPAIGN, "")
    for action in actions:
        problem = check_action(action)
        if problem is None and not campaign:
            problem = "no campaign label to check resources against"
        if problem is None:
            try:
                problem = await _run_one(docker, action, labels, campaign)
            except DockerError as e:
                problem = f"{action.op.value} {action.container}: {e}"
        if problem:
            log.warning("undo: %s", problem)
            problems.append(problem)
    return problems


def _foreign(kind: str, name: str, found: Mapping[str, str], campaign: str) -> str | None:
    if found.get(LABEL_CAMPAIGN) == campaign:
        return None
    return (f"refused: {kind} {name} does not carry this campaign's label "
            f"({LABEL_CAMPAIGN}={campaign}); not touched")


async def _run_one(
    docker: Docker, a: UndoAction, labels: Mapping[str, str], campaign: str
) -> str | None:
    if a.op == UndoOp.VOLUME_RUN and a.volume is not None:
        vol = await docker.volume_info(a.volume)
        if vol is None:
            return None  # gone, and its files with it (mounting it by name would create it)
        refused = _foreign("volume", a.volume, vol.labels, campaign)
        if refused:
            return refused
        res = await docker.run_helper(a.argv, labels=labels, volume=a.volume, caps=())
        return None if res.exit_code in a.ok_exit_codes else f"{a.argv}: {res.stderr.strip()}"
    info = await docker.inspect(a.container)
    if info is None:
        return None  # the container is gone, and everything inside its namespaces with it
    refused = _foreign("container", a.container, info.labels, campaign)
    if refused:
        return refused
    if a.op == UndoOp.REMOVE_CONTAINER:
        await docker.remove(a.container)
        return None
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
