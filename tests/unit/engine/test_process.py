"""chaos_eval.engine.process: the one subprocess runner (output, merged streams, env, and a
process group killed on timeout and on cancellation, grandchildren included)."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from chaos_eval.engine.process import dies_with_parent, run_process

# A child that starts a grandchild (in the child's process group), writes the grandchild's
# pid, then sleeps: killing only the child would leave the grandchild running.
SPAWNER = (
    "import subprocess, sys, time\n"
    "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    "open(sys.argv[1], 'w').write(str(g.pid))\n"
    "time.sleep(60)\n"
)


def _alive(pid: int) -> bool:
    """Running (a zombie awaiting its reaper counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def _wait_for_pid(path: Path) -> int:
    deadline = time.monotonic() + 20
    while not (path.exists() and path.read_text()):
        assert time.monotonic() < deadline, "the grandchild never started"
        await asyncio.sleep(0.05)
    return int(path.read_text())


async def _gone(pid: int) -> None:
    deadline = time.monotonic() + 10
    while _alive(pid):
        assert time.monotonic() < deadline, f"process {pid} outlived its runner"
        await asyncio.sleep(0.05)


async def test_output_exit_code_and_env() -> None:
    script = "import os, sys; print(os.environ['CE_X']); print('e', file=sys.stderr); sys.exit(4)"
    res = await run_process([sys.executable, "-c", script], timeout_s=20, env={"CE_X": "7"})
    assert (res.returncode, res.stdout, res.stderr) == (4, "7\n", "e\n")
    assert res.argv == (sys.executable, "-c", script)


async def test_merged_streams_and_no_stdin() -> None:
    script = "import sys; print('out', flush=True); print('err', file=sys.stderr, flush=True);" \
        "print(repr(sys.stdin.read()))"
    res = await run_process([sys.executable, "-c", script], timeout_s=20, merge_stderr=True)
    assert res.stdout.split() == ["out", "err", "''"] and res.stderr == ""


async def test_a_missing_program_is_an_oserror() -> None:
    with pytest.raises(OSError):
        await run_process(["/nonexistent/chaos-eval-program"], timeout_s=5)


async def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "g.pid"
    run = asyncio.create_task(
        run_process([sys.executable, "-c", SPAWNER, str(pidfile)], timeout_s=3)
    )
    grandchild = await _wait_for_pid(pidfile)
    with pytest.raises(TimeoutError):
        await run
    await _gone(grandchild)


async def test_cancellation_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "g.pid"
    run = asyncio.create_task(
        run_process([sys.executable, "-c", SPAWNER, str(pidfile)], timeout_s=60)
    )
    grandchild = await _wait_for_pid(pidfile)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    await _gone(grandchild)


def test_dies_with_parent_wraps_argv_in_setpriv_when_there_is_one() -> None:
    argv = ["debootstrap", "bookworm", "/x"]
    assert dies_with_parent(argv, "/usr/bin/setpriv") == [
        "/usr/bin/setpriv", "--pdeathsig", "KILL", "--", *argv]
    assert dies_with_parent(argv, None) == argv
