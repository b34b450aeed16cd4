"""The capture program node-helper execs run under, run here on the host: it writes the
call's files, bounds the command's time, and what it writes and frames on stdout is exactly
what the command printed and its exit code; a result or a frame that is not whole is never
an answer (the file is read instead, and a file not whole is an error)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from chaos_eval.engine.exec_capture import (
    CAPTURE_PROGRAM,
    INLINE_FILES_MAX,
    TIMEOUT_EXIT,
    capture_argv,
    inline_files,
    parse_frame,
    parse_result,
    result_path,
    standby_argv,
    standby_request,
)

TAG = "0f1e2d3c"


def run_captured(
    tmp_path: Path, argv: list[str], *, timeout_s: float = 10, files: str = "-"
) -> tuple[int, tuple[int, bytes, bytes]]:
    prog = tmp_path / "capture.py"
    prog.write_bytes(CAPTURE_PROGRAM)
    out = tmp_path / "res" / TAG
    cmd = capture_argv(str(out), argv, timeout_s=timeout_s, files=files)
    done = subprocess.run([sys.executable, "-S", str(prog), *cmd[3:]], capture_output=True,
                          check=False)
    assert done.stderr == b""
    assert not list(out.parent.glob("*.tmp*"))
    blob = out.read_bytes()
    assert parse_frame(done.stdout, TAG) == blob  # the frame holds exactly the file
    return done.returncode, parse_result(blob)


def test_capture_keeps_stdout_stderr_and_exit_code(tmp_path: Path) -> None:
    code, res = run_captured(tmp_path, [sys.executable, "-c",
                                        "import sys; print('out\\n2'); "
                                        "sys.stderr.write('err'); sys.exit(3)"])
    assert code == 3 and res == (3, b"out\n2\n", b"err")
    code, res = run_captured(tmp_path, ["true"])
    assert code == 0 and res == (0, b"", b"")  # empty is a real answer here, and says so
    code, res = run_captured(tmp_path, ["/nonexistent/cmd"])
    assert code == 127 and res[0] == 127 and b"nonexistent" in res[2]


def test_capture_reads_both_streams_whole_without_blocking(tmp_path: Path) -> None:
    """More than a pipe holds on both streams at once: read as they come, nothing lost."""
    code, res = run_captured(tmp_path, [sys.executable, "-c",
                                        "import sys\n"
                                        "for i in range(3000):\n"
                                        "    sys.stdout.write('o%05d' % i * 20 + '\\n')\n"
                                        "    sys.stderr.write('e%05d' % i * 5 + '\\n')\n"])
    assert code == 0 and res[0] == 0
    assert res[1] == b"".join(b"o%05d" % i * 20 + b"\n" for i in range(3000))
    assert res[2] == b"".join(b"e%05d" % i * 5 + b"\n" for i in range(3000))


def test_capture_writes_the_files_before_the_command(tmp_path: Path) -> None:
    a, b = tmp_path / "in" / "a.rules", tmp_path / "b"
    files = inline_files({str(a): b"*filter\nCOMMIT\n", str(b): bytes(range(256))})
    assert files is not None
    code, res = run_captured(tmp_path, ["cat", str(a)], files=files)
    assert (code, res) == (0, (0, b"*filter\nCOMMIT\n", b""))
    assert b.read_bytes() == bytes(range(256))


def test_capture_bounds_the_command_time(tmp_path: Path) -> None:
    t0 = time.monotonic()
    code, res = run_captured(tmp_path, [sys.executable, "-c",
                                        "import time; print('x', flush=True); time.sleep(30)"],
                             timeout_s=0.3)
    assert code == TIMEOUT_EXIT and res == (TIMEOUT_EXIT, b"x\n", b"")
    assert time.monotonic() - t0 < 10  # SIGTERM at the limit, not the sleep's 30 s
    # a command that ignores SIGTERM is killed KILL_GRACE_S later
    code, res = run_captured(tmp_path, [sys.executable, "-c",
                                        "import signal, time; "
                                        "signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                                        "time.sleep(30)"], timeout_s=0.3)
    assert code == TIMEOUT_EXIT and res[0] == TIMEOUT_EXIT


def run_standby(tmp_path: Path, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    prog = tmp_path / "capture.py"
    prog.write_bytes(CAPTURE_PROGRAM)
    return subprocess.run([sys.executable, "-S", str(prog), *standby_argv()[3:]], input=stdin,
                          capture_output=True, check=False, timeout=30)


def test_a_standby_runs_the_call_it_reads_as_the_argv_form_would(tmp_path: Path) -> None:
    out = tmp_path / "res" / TAG
    rules = tmp_path / "in" / "r"
    files = inline_files({str(rules): b"x y\n"})
    assert files is not None
    argv = [sys.executable, "-c", "import sys; print(open(sys.argv[1]).read(), end=''); "
            "print(sys.stdin.read() == '', end=''); sys.exit(4)", str(rules)]
    request = standby_request(str(out), argv, timeout_s=10, files=files)
    done = run_standby(tmp_path, request + b"what follows the call is never read")
    assert done.returncode == 4 and done.stderr == b""
    blob = out.read_bytes()
    assert parse_frame(done.stdout, TAG) == blob
    assert parse_result(blob) == (4, b"x y\nTrue", b"")  # the command's stdin is empty


def test_a_standby_released_or_cut_short_runs_nothing(tmp_path: Path) -> None:
    out = tmp_path / "res" / TAG
    mark = tmp_path / "ran"
    request = standby_request(str(out), ["touch", str(mark)], timeout_s=10)
    for stdin in (b"", b"\n", request[:-1], b"x" + request):
        done = run_standby(tmp_path, stdin)
        assert (done.returncode, done.stdout, done.stderr) == (0, b"", b""), stdin
    assert not mark.exists() and not out.exists()
    with pytest.raises(ValueError, match="NUL"):
        standby_request(str(out), ["a\0b"], timeout_s=1)
    assert standby_request("/p", ["true"], timeout_s=1) == b"15\n/p\x001.000\x00-\x00true"


def test_parse_result_refuses_what_is_not_whole() -> None:
    assert parse_result(b"0 3 1\nabcd") == (0, b"abc", b"d")
    for bad in (b"", b"0 3 1", b"0 3 1\nabc", b"x 1 1\nab", b"0 1\na", b"0 3 1\nabcde"):
        with pytest.raises(ValueError):
            parse_result(bad)


def test_a_frame_counts_only_when_whole_and_ours() -> None:
    blob = b"0 3 0\nabc"
    whole = b"RESULT %s %d\n" % (TAG.encode(), len(blob)) + blob + b"END %s\n" % TAG.encode()
    assert parse_frame(whole, TAG) == blob
    for bad in (None, b"", whole[:-1], whole[:20], whole[1:], whole.replace(b"abc", b"ab"),
                whole + b"x", whole.replace(TAG.encode(), b"ffff")):
        assert parse_frame(bad, TAG) is None, bad
    assert parse_frame(whole, "abcd") is None  # another exec's frame


def test_argv_files_and_paths() -> None:
    assert capture_argv("/tmp/chaos-eval-exec/ab", ("tc", "-j"), timeout_s=0.5) == (
        "python3", "-S", "/usr/local/lib/chaos-eval-capture.py", "/tmp/chaos-eval-exec/ab", "0.500",
        "-", "tc", "-j")
    for bad_t in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="timeout"):
            capture_argv("/tmp/x", ("true",), timeout_s=bad_t)
    assert inline_files(None) == "-" and inline_files({}) == "-"
    assert inline_files({"/tmp/r": b"ab"}) == "/tmp/r:YWI="
    assert inline_files({"/tmp/big": b"x" * INLINE_FILES_MAX}) is None  # upload it instead
    for bad in ("rel/path", "/tmp/a:b", "/tmp/a,b", "/tmp/"):
        with pytest.raises(ValueError):
            inline_files({bad: b""})
    assert result_path("0f") == "/tmp/chaos-eval-exec/0f"
    for bad in ("", "../x", "AB", "a/b"):
        with pytest.raises(ValueError):
            result_path(bad)
