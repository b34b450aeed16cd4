"""Helper exec: one long-lived helper container per node of a trial, joined to the node's
network namespace (NET_ADMIN only) with its data volume mounted, into which helper commands
are exec'd instead of starting a one-shot container per command.

A one-shot helper costs a container create, start, wait, two log reads and a remove
(0.3-1 s on a loaded host); an exec into a running helper costs three API calls. The trial
starts its nodes' helpers (`start_node_helpers`) during the warm-up and removes them
(`remove_node_helpers`) before it tears the cluster down; while one is registered for a
node, `HelperContainers.run_helper` runs every command for that node's netns in it, when
the call fits it:

    same image; caps within the helper's (NET_ADMIN); no volume or the helper's volume

Anything else (a stopped node, a volume-only helper, another process such as resume's undo)
gets a one-shot helper as before. A node that was restarted since its helper started has a
new netns: the helper is replaced before the exec (the engine reports the node's StartedAt).
Each exec runs under the capture program (eval/engine/exec_capture.py): it writes the call's
files (carried in its argv), bounds the command's time (running out of it is a DockerError,
as a one-shot helper's would be) and hands back what it printed as a frame on the exec
stream that is taken only when whole, else through a result file read back: a fast
command's lost output can never pass for an empty answer. One exec is then one API round
trip (create, start to its end) instead of an upload, `timeout`, an exec, a state poll and
a download. Each helper also keeps one exec started ahead, waiting on its stdin
(eval/engine/helper_run.py): a command handed to it skips the exec's start (0.1-0.2 s here);
the next one starts once no command runs.

Node helpers carry the trial's labels with role NODE_HELPER_ROLE, so resume and `eval gc`
find them by label like everything else; a snapshot's list of the trial's daemon helpers
(role `helper`) does not count them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import docker
import docker.errors

from chaos_eval.engine.connection import EngineConnection
from chaos_eval.engine.containers import HelperResult, helper_archive, helper_kwargs
from chaos_eval.engine.exec_capture import (
    CAPTURE_PATH,
    CAPTURE_PROGRAM,
    KILL_GRACE_S,
    TIMEOUT_EXIT,
    capture_argv,
    inline_files,
    result_path,
    standby_request,
)
from chaos_eval.engine.helper_run import Call, Standby, Standbys, launch_standby, run_call
from chaos_eval.errors import DockerError

log = logging.getLogger(__name__)

NODE_HELPER_ROLE = "node-helper"
NODE_HELPER_CAPS = ("NET_ADMIN",)
KEEPALIVE_ARGV = ("sleep", "infinity")


@dataclass(frozen=True)
class NodeHelper:
    """A running node helper: its container, the node it serves and what it offers."""

    container: str
    target: str  # the node's container id
    target_started_at: str  # the node's StartedAt when the helper joined its netns
    volume: str | None
    image: str
    labels: Mapping[str, str]


def fits(helper: NodeHelper, *, volume: str | None, caps: Iterable[str], image: str) -> bool:
    """Whether a helper call with these needs can run in `helper`. Pure."""
    return (
        image == helper.image
        and set(caps) <= set(NODE_HELPER_CAPS)
        and (volume is None or volume == helper.volume)
    )


class NodeHelpers(EngineConnection):
    """The node helpers of every trial this process runs, by node container id."""

    def __init__(self, client: docker.DockerClient | None = None) -> None:
        super().__init__(client)
        self._node_helpers: dict[str, NodeHelper] = {}
        self._node_locks: dict[str, asyncio.Lock] = {}
        self._standbys = Standbys(
            lambda c: self._call("start standby", launch_standby, self.client.api, c))

    def _node_lock(self, key: str) -> asyncio.Lock:
        return self._node_locks.setdefault(key, asyncio.Lock())

    async def start_node_helpers(
        self,
        nodes: Sequence[tuple[str, str | None]],
        *,
        labels: Mapping[str, str],
        image: str,
    ) -> int:
        """Start one helper per (node container id, data volume or None), concurrently,
        and register it; return how many run. A node that is not running gets none (its
        commands run one-shot). Raises DockerError when a helper cannot be started."""
        results = await asyncio.gather(
            *(self._start_node_helper(t, v, labels, image) for t, v in nodes),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise DockerError(f"node helpers: {'; '.join(map(str, errors))}") from errors[0]
        return sum(1 for r in results if r is not None)

    async def _start_node_helper(
        self, target: str, volume: str | None, labels: Mapping[str, str], image: str
    ) -> NodeHelper | None:
        async with self._node_lock(target):
            old = self._node_helpers.pop(target, None)
            if old is not None:
                await self._remove_quietly(old.container)
            return await self._start_locked(target, volume, labels, image)

    async def _start_locked(
        self, target: str, volume: str | None, labels: Mapping[str, str], image: str
    ) -> NodeHelper | None:
        kwargs = helper_kwargs(image=image, argv=KEEPALIVE_ARGV, netns_of=target,
                               volume=volume, caps=NODE_HELPER_CAPS, labels=labels, name=None)

        def run() -> NodeHelper | None:
            api = self.client.api
            try:
                state = api.inspect_container(target).get("State") or {}
            except docker.errors.NotFound:
                return None
            if not state.get("Running"):
                return None
            c = self.client.containers.create(**kwargs)
            try:
                if not c.put_archive("/", helper_archive({CAPTURE_PATH: CAPTURE_PROGRAM})):
                    raise DockerError("node helper: could not copy the capture program in")
                c.start()
            except BaseException:
                with contextlib.suppress(docker.errors.DockerException):
                    c.remove(force=True)
                raise
            return NodeHelper(str(c.id), target, str(state.get("StartedAt", "")), volume,
                              image, dict(labels))

        helper: NodeHelper | None = await self._call("start node helper", run)
        if helper is not None:
            self._node_helpers[target] = helper
            self._standbys.prepare(helper.container)
        return helper

    async def remove_node_helpers(self, labels: Mapping[str, str]) -> int:
        """Remove every node helper carrying all of `labels` (found by label, so ones this
        process did not register too) and forget them; return how many were removed."""
        for target, helper in list(self._node_helpers.items()):
            if all(helper.labels.get(k) == v for k, v in labels.items()):
                del self._node_helpers[target]
                self._standbys.drop(helper.container)
        flt = {"label": [f"{k}={v}" for k, v in sorted(labels.items())]}
        found = await self._call("list node helpers", self.client.api.containers, all=True,
                                 filters=flt)
        await asyncio.gather(*(self._remove_quietly(c["Id"]) for c in found))
        return len(found)

    async def _remove_quietly(self, container: str) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            await self._call(f"remove node helper {container[:12]}",
                             self.client.api.remove_container, container, force=True)

    def node_helper_of(self, target: str) -> str | None:
        """The container id of `target`'s registered node helper, if it has one."""
        helper = self._node_helpers.get(target)
        return None if helper is None else helper.container

    async def _current_helper(
        self, target: str, *, volume: str | None, caps: Iterable[str], image: str
    ) -> NodeHelper | None:
        """The node's helper if the call fits it and its netns is the node's current one
        (replaced when the node was restarted); None: run the call one-shot."""
        helper = self._node_helpers.get(target)
        if helper is None or not fits(helper, volume=volume, caps=caps, image=image):
            return None
        async with self._node_lock(target):
            helper = self._node_helpers.get(target)
            if helper is None:
                return None
            try:
                attrs = await self._call("inspect", self.client.api.inspect_container, target)
            except docker.errors.NotFound:
                return None
            state = attrs.get("State") or {}
            if not state.get("Running"):
                return None  # no netns to join: one-shot, which fails as it always did
            if str(state.get("StartedAt", "")) == helper.target_started_at:
                return helper
            log.info("node %s restarted: replacing its helper", target[:12])
            del self._node_helpers[target]
            self._standbys.drop(helper.container)
            await self._remove_quietly(helper.container)
            return await self._start_locked(target, helper.volume, helper.labels, helper.image)

    async def node_exec(
        self,
        argv: Iterable[str],
        *,
        netns_of: str,
        volume: str | None,
        caps: Iterable[str],
        image: str,
        timeout_s: float,
        files: Mapping[str, bytes] | None,
    ) -> HelperResult | None:
        """Run argv in the node's helper (module docstring), handed to its standby when it
        has one; None when there is no helper for this call, or it was removed before the
        command could start (the caller runs it one-shot). DockerError when the exec fails
        or runs out of time."""
        with self._standbys.running():
            return await self._node_exec(argv, netns_of, volume, caps, image, timeout_s, files)

    async def _node_exec(self, argv: Iterable[str], netns_of: str, volume: str | None,
                         caps: Iterable[str], image: str, timeout_s: float,
                         files: Mapping[str, bytes] | None) -> HelperResult | None:
        try:
            helper = await self._current_helper(netns_of, volume=volume, caps=caps, image=image)
        except docker.errors.NotFound as e:  # e.g. the helper image is gone
            raise DockerError(f"node helper for {netns_of[:12]}: {e}") from e
        if helper is None:
            return None
        shown = list(argv)[:3]
        tag = secrets.token_hex(8)
        path = result_path(tag)
        inline = inline_files(files)
        archive = helper_archive(files) if files and inline is None else None
        cmd = capture_argv(path, argv, timeout_s=timeout_s, files=inline or "-")
        limit_s = timeout_s + KILL_GRACE_S + 5
        call = Call(tag, path, cmd, standby_request(path, argv, timeout_s=timeout_s,
                                                    files=inline or "-"), archive, limit_s, shown)
        handed: list[Standby] = []

        def run(standby: Standby | None) -> tuple[HelperResult, float] | None:
            handed.extend([standby] if standby else [])
            return run_call(self.client.api, helper.container, call, standby)

        # files go to fixed paths: one exec with files at a time per helper
        lock = self._node_lock("files:" + helper.container) if files else None
        standby = None
        try:
            async with lock or contextlib.nullcontext():
                standby = None if archive else await self._standbys.take(helper.container)
                done = await self._call("node helper exec", run, standby)
        except docker.errors.NotFound as e:  # the helper went away under us
            self._node_helpers.pop(netns_of, None)
            raise DockerError(f"node helper for {netns_of[:12]}: {e}") from e
        finally:
            if standby is not None and not handed:  # cancelled before it was handed over
                standby.close()
            if self._node_helpers.get(netns_of) is helper:
                self._standbys.prepare(helper.container)  # for the next command
        if done is None:
            log.info("node helper of %s is gone: running one-shot", netns_of[:12])
            self._node_helpers.pop(netns_of, None)
            self._standbys.drop(helper.container)
            return None
        res: HelperResult = done[0]
        if res.exit_code == TIMEOUT_EXIT and done[1] >= timeout_s:
            raise DockerError(f"helper {shown}: no exit within {timeout_s:g}s")
        return res

