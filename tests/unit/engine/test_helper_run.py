"""A command in a running helper (eval/engine/helper_run.py), against a stand-in for
docker-py's API whose execs run the real capture program on the host: handed to a standby
(its call on stdin) or as a fresh exec, with the same answer; a standby that cannot take the
call leaves it to a fresh exec, having run nothing; a lost frame is read from the result file;
standbys start in the background only while no command runs."""

from __future__ import annotations

import asyncio
import io
import socket
import struct
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from chaos_eval.engine import helper_run
from chaos_eval.engine.exec_capture import (
    CAPTURE_PROGRAM,
    capture_argv,
    standby_request,
)
from chaos_eval.engine.helper_run import (
    Call,
    Standby,
    Standbys,
    hand_over,
    run_call,
    stdout_of,
)

TAG = "00ff00ff"


def frames(*parts: tuple[int, bytes]) -> bytes:
    return b"".join(bytes([kind, 0, 0, 0]) + struct.pack(">I", len(d)) + d for kind, d in parts)


def test_stdout_of_a_multiplexed_stream() -> None:
    stream = frames((1, b"ab"), (2, b"err"), (1, b"c"))
    assert stdout_of(stream) == b"abc"
    assert stdout_of(stream[:-1]) == b"ab"  # a frame cut short is not taken
    assert stdout_of(b"") == b""


class FakeApi:
    """exec_create / exec_start / exec_inspect / get_archive over local processes running
    the capture program with `python -S`, its paths under `root`."""

    def __init__(self, root: Path, *, frame_lost: bool = False) -> None:
        self.root, self.frame_lost = root, frame_lost
        self.prog = root / "capture.py"
        self.prog.write_bytes(CAPTURE_PROGRAM)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.created: list[list[str]] = []

    def exec_create(self, container: str, cmd: list[str], **kw: Any) -> dict[str, str]:
        self.created.append(cmd)
        exec_id = f"e{len(self.created)}"
        proc = subprocess.Popen([sys.executable, "-S", str(self.prog), *cmd[3:]],
                                stdin=subprocess.PIPE if kw.get("stdin") else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.procs[exec_id] = proc
        return {"Id": exec_id}

    def exec_start(self, exec_id: str, *, socket: bool = False, demux: bool = False) -> Any:
        proc = self.procs[exec_id]
        if socket:
            return SocketStandIn(proc, self.frame_lost)
        out, err = proc.communicate()
        return (b"" if self.frame_lost else out), err

    def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        return {"Running": self.procs[exec_id].poll() is None}

    def get_archive(self, container: str, path: str) -> tuple[list[bytes], dict[str, Any]]:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(path, arcname=Path(path).name)
        return [buf.getvalue()], {}


class SocketStandIn:
    """docker-py's hijacked exec socket: `_sock` takes the stdin write and gives back the
    multiplexed stream once the process has ended."""

    def __init__(self, proc: subprocess.Popen[bytes], frame_lost: bool) -> None:
        self._sock = RawStandIn(proc, frame_lost)

    def close(self) -> None:
        self._sock.close()


class RawStandIn:
    def __init__(self, proc: subprocess.Popen[bytes], frame_lost: bool) -> None:
        self.proc, self.frame_lost, self.sent, self.closed = proc, frame_lost, b"", False
        self.pending: bytes | None = None

    def sendall(self, data: bytes) -> None:
        self.sent += data

    def settimeout(self, t: float) -> None:
        pass

    def recv(self, n: int) -> bytes:
        if self.pending is None:
            out, err = self.proc.communicate(self.sent)
            self.pending = frames((1, b"" if self.frame_lost else out), (2, err))
        chunk, self.pending = self.pending[:n], self.pending[n:]
        return chunk

    def close(self) -> None:
        if not self.closed and self.proc.poll() is None:
            self.proc.communicate(self.sent)  # end of stdin: a standby with no call exits
        self.closed = True


def call_for(root: Path, argv: list[str], timeout_s: float = 10) -> Call:
    path = str(root / "res" / TAG)
    return Call(TAG, path, capture_argv(path, argv, timeout_s=timeout_s),
                standby_request(path, argv, timeout_s=timeout_s), None, timeout_s + 5, argv[:3])


@pytest.mark.parametrize("frame_lost", [False, True])
def test_a_standby_and_a_fresh_exec_give_the_same_answer(tmp_path: Path,
                                                         frame_lost: bool) -> None:
    api = FakeApi(tmp_path, frame_lost=frame_lost)
    argv = [sys.executable, "-c", "import sys; print('out'); sys.exit(3)"]
    fresh = run_call(api, "c", call_for(tmp_path, argv), None)
    standby = helper_run.launch_standby(api, "c")
    handed = run_call(api, "c", call_for(tmp_path, argv), standby)
    assert fresh is not None and handed is not None
    assert fresh[0] == handed[0] and fresh[0].exit_code == 3 and fresh[0].stdout == "out\n"
    assert len(api.created) == 2  # the standby took the second call: no exec for it


def test_a_standby_that_cannot_take_the_call_runs_nothing(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeApi(tmp_path)
    mark = tmp_path / "ran"
    call = call_for(tmp_path, ["touch", str(mark)])
    old = helper_run.launch_standby(api, "c")
    monkeypatch.setattr(helper_run, "STANDBY_MAX_AGE_S", -1.0)  # every standby too old
    assert hand_over(api, old, call.request, 5) is None
    assert not mark.exists()
    ended = helper_run.launch_standby(api, "c")
    ended.close()  # its stdin ends: it exits, having run nothing
    api.procs[ended.exec_id].wait(10)
    monkeypatch.setattr(helper_run, "STANDBY_MAX_AGE_S", 3600.0)
    assert hand_over(api, ended, call.request, 5) is None
    res = run_call(api, "c", call, ended)  # then the call runs fresh
    assert res is not None and res[0].exit_code == 0 and mark.exists()


async def test_standbys_start_while_no_command_runs() -> None:
    started: list[str] = []

    async def launch(container: str) -> Standby:
        started.append(container)
        return Standby(container, None, time.monotonic())

    pool = Standbys(launch)
    with pool.running():
        pool.prepare("h1")
        with pool.running():  # two commands at once (a fault's nodes)
            pool.prepare("h2")
        await asyncio.sleep(0.01)
        assert started == []  # one still runs: not now
    await asyncio.sleep(0.01)
    assert started == ["h1", "h2"]  # the last one ended
    got = await pool.take("h1")
    assert got is not None and got.exec_id == "h1"
    assert await pool.take("h1") is None  # each standby serves one call
    pool.prepare("h2")  # it has one (started): nothing more
    await asyncio.sleep(0.01)
    assert started == ["h1", "h2"]
    pool.drop("h2")
    assert await pool.take("h2") is None
    with pool.running():
        pool.prepare("h3")
        assert await pool.take("h3") is None  # wanted, not started: the command runs fresh


async def test_a_standby_that_did_not_start_is_none() -> None:
    async def launch(container: str) -> Standby:
        raise OSError("no such container")

    pool = Standbys(launch)
    pool.prepare("h1")
    await asyncio.sleep(0.01)
    assert await pool.take("h1") is None


def test_standby_close_ends_a_real_socket_pair() -> None:
    a, b = socket.socketpair()

    class Holder:
        _sock = a

        def close(self) -> None:
            pass

    Standby("x", Holder(), 0.0).close()
    done = threading.Event()

    def read() -> None:
        assert b.recv(1) == b""  # the other end sees the end
        done.set()

    threading.Thread(target=read).start()
    assert done.wait(5)
    b.close()


async def test_take_waits_for_a_standby_still_starting() -> None:
    gate = asyncio.Event()

    async def launch(container: str) -> Standby:
        await gate.wait()
        return Standby(container, None, time.monotonic())

    pool = Standbys(launch)
    pool.prepare("h1")
    await asyncio.sleep(0.01)  # started, not yet there
    taking = asyncio.ensure_future(pool.take("h1"))
    await asyncio.sleep(0.01)
    assert not taking.done()
    gate.set()
    got = await taking
    assert got is not None and got.exec_id == "h1"
