"""One command in a running helper container, blocking (the engine calls these in worker
threads): as a fresh exec of the capture program, or handed to a standby.

A fresh exec starts a process in the container: here ~0.1 s, 0.15-0.2 s when others start at
once, most of what a short helper command costs. A standby is that exec started AHEAD with
its stdin attached: the capture program waiting for its call (eval/engine/exec_capture.py,
`standby_argv` and `standby_request`). Running a command in it costs one write on the exec's
connection and the command's own time. Either way the answer is read the same way: the
frame on the exec's stdout when it is whole, else the result file once the exec has ended.

A standby takes a call only while its exec still runs and is younger than
STANDBY_MAX_AGE_S (it ends by itself after STANDBY_IDLE_S). If it cannot take it, or
writing the call fails, nothing ran (a standby runs only a whole call), and the caller runs
the command fresh. Closing a standby's connection ends its stdin: it exits, having run
nothing. Each standby serves one call.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import struct
import tarfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import docker.errors

from chaos_eval.engine.containers import HelperResult
from chaos_eval.engine.exec_capture import STANDBY_IDLE_S, parse_frame, parse_result, standby_argv
from chaos_eval.errors import DockerError

log = logging.getLogger(__name__)

STANDBY_MAX_AGE_S = STANDBY_IDLE_S - 300


@dataclass
class Standby:
    """A standby exec: its id, its connection (docker-py's socket, stdin and output), when
    it was started (monotonic)."""

    exec_id: str
    sock: Any
    started: float

    def close(self) -> None:
        raw = getattr(self.sock, "_sock", None)
        for s in (self.sock, raw):
            if s is not None:
                with contextlib.suppress(OSError):
                    s.close()


class Standbys:
    """At most one standby per helper container, each started in the background (by
    `launch`, a coroutine that runs `launch_standby`) while no command runs: starting an
    exec takes a core for a while here, and commands that run together (a fault's nodes,
    one exec each) should not share it with one. Commands announce themselves with
    `running()`."""

    def __init__(self, launch: Callable[[str], Awaitable[Standby]]) -> None:
        self._launch = launch
        self._tasks: dict[str, asyncio.Future[Standby | None]] = {}
        self._wanted: set[str] = set()  # to start once no command runs
        self._busy = 0  # commands running

    def prepare(self, container: str) -> None:
        """Have a standby started in `container` (now, or once no command runs), unless it
        has one, started or starting."""
        if container not in self._tasks:
            self._wanted.add(container)
            self._start_wanted()

    def _start_wanted(self) -> None:
        if self._busy:
            return
        for container in sorted(self._wanted - set(self._tasks)):
            self._tasks[container] = asyncio.ensure_future(self._start(container))
        self._wanted.clear()

    async def _start(self, container: str) -> Standby | None:
        try:
            return await self._launch(container)
        except Exception as e:  # e.g. the helper was removed meanwhile: commands run fresh
            log.info("standby for %s did not start: %s", container[:12], e)
            return None

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Around a command: standbys wanted meanwhile start once no command runs."""
        self._busy += 1
        try:
            yield
        finally:
            self._busy -= 1
            self._start_wanted()

    async def take(self, container: str) -> Standby | None:
        """The container's standby, waiting for it if it is still starting (it started
        before this call: it is ready sooner than a fresh exec would be); None if it has
        none or it did not start. The caller owns it (hand_over closes it)."""
        self._wanted.discard(container)
        task = self._tasks.pop(container, None)
        if task is None:
            return None
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            _close_when_done(task)
            raise

    def drop(self, container: str) -> None:
        """Forget the container's standby and close it (once it has started)."""
        self._wanted.discard(container)
        task = self._tasks.pop(container, None)
        if task is not None:
            _close_when_done(task)


def _close_when_done(task: asyncio.Future[Standby | None]) -> None:
    def close(t: asyncio.Future[Standby | None]) -> None:
        if not t.cancelled() and (standby := t.result()) is not None:
            standby.close()

    task.add_done_callback(close)


@dataclass(frozen=True)
class Call:
    """One command for a helper, in both forms: `cmd` (capture_argv, for a fresh exec, with
    `archive` extracted first when its files were too big to carry) and `request`
    (standby_request); the result lands at `path`, framed with `tag`."""

    tag: str
    path: str
    cmd: tuple[str, ...]
    request: bytes
    archive: bytes | None
    limit_s: float  # when to stop waiting for the exec (its own limit, the grace, a margin)
    shown: list[str]  # the argv's head, for messages


def run_call(
    api: Any, container: str, call: Call, standby: Standby | None
) -> tuple[HelperResult, float] | None:
    """Run `call` in `container`: handed to `standby` when there is one that takes it (never
    with an archive: its files go into argv or request), else as a fresh exec. (result,
    seconds it took); None when the container is gone and nothing ran. DockerError when the
    answer cannot be read."""
    t0 = time.monotonic()
    out = None
    exec_id = ""
    if standby is not None and call.archive is None:
        out = hand_over(api, standby, call.request, call.limit_s)
        exec_id = standby.exec_id
    elif standby is not None:
        standby.close()
    if out is None:
        fresh = run_fresh(api, container, call.cmd, call.archive, call.shown)
        if fresh is None:
            return None  # the helper is gone (e.g. an undo plan removed it)
        exec_id, out = fresh
    blob = parse_frame(out, call.tag)  # None unless whole: then the file is the answer
    if blob is None:
        blob = read_result(api, exec_id, container, call.path, call.shown, t0 + call.limit_s)
    try:
        code, stdout, stderr = parse_result(blob)
    except ValueError as e:
        raise DockerError(f"node helper {call.shown}: {e}") from e
    res = HelperResult(code, stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"))
    return res, time.monotonic() - t0


def launch_standby(api: Any, container: str) -> Standby:
    """Start a standby in `container`. docker-py errors propagate."""
    ex = api.exec_create(container, list(standby_argv()), stdin=True, stdout=True, stderr=True)
    sock = api.exec_start(ex["Id"], socket=True)
    return Standby(ex["Id"], sock, time.monotonic())


def hand_over(api: Any, standby: Standby, call: bytes, limit_s: float) -> bytes | None:
    """Give `call` (a `standby_request`) to the standby and return its stdout once the exec
    ends (or `limit_s` passes: what came so far). None when it could not take the call:
    nothing ran. Closes the standby either way."""
    try:
        usable = time.monotonic() - standby.started < STANDBY_MAX_AGE_S and bool(
            api.exec_inspect(standby.exec_id).get("Running"))
        raw = standby.sock._sock
        if not usable:
            standby.close()
            return None
        raw.sendall(call)
    except (OSError, AttributeError, docker.errors.DockerException):
        standby.close()  # a call cut short is never run: the standby sees its stdin end
        return None
    got: list[bytes] = []
    deadline = time.monotonic() + limit_s
    try:
        while (left := deadline - time.monotonic()) > 0:
            raw.settimeout(left)
            chunk = raw.recv(65536)
            if not chunk:
                break
            got.append(chunk)
    except OSError:
        pass  # timed out or cut: what came so far (the result file tells the rest)
    finally:
        standby.close()
    return stdout_of(b"".join(got))


def stdout_of(stream: bytes) -> bytes:
    """The stdout frames of an exec's multiplexed stream (8-byte headers: stream 1 stdout,
    2 stderr; then the big-endian length), up to the first frame that is not whole. Pure."""
    out, at = [], 0
    while at + 8 <= len(stream):
        kind, size = stream[at], struct.unpack(">I", stream[at + 4:at + 8])[0]
        if at + 8 + size > len(stream):
            break
        if kind == 1:
            out.append(stream[at + 8:at + 8 + size])
        at += 8 + size
    return b"".join(out)


def run_fresh(
    api: Any, container: str, cmd: Sequence[str], archive: bytes | None, shown: list[str]
) -> tuple[str, bytes | None] | None:
    """Exec `cmd` in `container` (after extracting `archive`, if any) and wait for its end:
    (exec id, its stdout). None when the container is gone: nothing ran."""
    try:
        if archive is not None and not api.put_archive(container, "/", archive):
            raise DockerError(f"node helper {shown}: could not copy its files in")
        ex = api.exec_create(container, list(cmd), stdout=True, stderr=True)
    except docker.errors.NotFound:
        return None
    out, _ = api.exec_start(ex["Id"], demux=True)  # returns at its end
    return ex["Id"], out


def read_result(
    api: Any, exec_id: str, container: str, path: str, shown: list[str], limit: float
) -> bytes:
    """The result file of an exec whose stream did not hold its whole frame, once the exec
    has ended (or `limit`, monotonic, has passed). DockerError when there is none."""
    wait = 0.005
    while api.exec_inspect(exec_id).get("Running") and time.monotonic() < limit:
        time.sleep(wait)
        wait = min(wait * 2, 0.1)
    try:
        stream, _ = api.get_archive(container, path)
    except docker.errors.NotFound as e:
        raise DockerError(f"node helper {shown}: no result ({e})") from e
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.extractfile(tar.getmembers()[0])
        return member.read() if member is not None else b""
