"""The one subprocess runner: an argv list (never a shell string) run to completion, killed
with its whole process group when its timeout passes or its caller is cancelled.

Each child starts in a process group of its own, so the kill reaches what it spawned too
(`docker compose` runs its plugin as a child; debootstrap runs dpkg and friends). Its stdin
is /dev/null: a child of another process group that read the terminal would be stopped.
`dies_with_parent=True` runs the argv under `setpriv --pdeathsig KILL` (util-linux) where
setpriv exists, so a harness that is SIGKILLed takes that child with it (the kernel sends
the signal: no code of ours runs then).

Callers translate what goes wrong into their own errors: OSError when the program cannot be
started, TimeoutError (after the kill) when it overran; a non-zero exit is a result.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str  # with stderr in it when the run merged them
    stderr: str  # "" when merged


def dies_with_parent(argv: Sequence[str], setpriv: str | None) -> list[str]:
    """argv run so that the kernel kills it when the harness dies (PR_SET_PDEATHSIG, set by
    setpriv right before it execs argv); argv unchanged where there is no setpriv."""
    if setpriv is None:
        return list(argv)
    return [setpriv, "--pdeathsig", "KILL", "--", *argv]


@functools.cache
def setpriv_path() -> str | None:
    """Where setpriv is, or None (looked up once per process)."""
    found = shutil.which("setpriv")
    if found is None:
        log.info("no setpriv: a child process may outlive a SIGKILLed harness")
    return found


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL the child's process group (its pgid is its pid), and the child itself."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()  # the group is gone already when the child alone lingers as a zombie


async def run_process(
    argv: Sequence[str],
    *,
    timeout_s: float,
    env: Mapping[str, str] | None = None,
    merge_stderr: bool = False,
    die_with_parent: bool = False,
) -> ProcessResult:
    """Run argv to completion and return its exit code and decoded output.

    env: layered over os.environ. merge_stderr: stderr goes into stdout (one stream, in
    order). die_with_parent: see the module docstring. Raises OSError when the program
    cannot be started and TimeoutError when it did not exit within timeout_s; on that, and
    on cancellation, its process group is killed and reaped before this returns."""
    full = dies_with_parent(argv, setpriv_path()) if die_with_parent else list(argv)
    proc = await asyncio.create_subprocess_exec(
        *full,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT if merge_stderr else asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
        process_group=0,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except BaseException:  # TimeoutError, CancelledError: the child must not outlive this
        _kill_group(proc)
        await proc.wait()
        raise
    returncode = proc.returncode
    assert returncode is not None
    return ProcessResult(
        tuple(argv),
        returncode,
        out.decode("utf-8", "replace"),
        (err or b"").decode("utf-8", "replace"),
    )


def spawn_detached(argv: Sequence[str], log_path: Path) -> int:
    """Start argv in the background and return its pid without waiting: a session of its own
    (no terminal, so closing the shell does not hang it up), stdin /dev/null, stdout and
    stderr appended to log_path. It outlives the caller by design (`run campaign --detach`);
    it is stopped by `chaos-eval hold` or SIGTERM, which it handles. OSError when it cannot
    be started."""
    with log_path.open("ab") as log_file:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    return proc.pid
