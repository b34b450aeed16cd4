"""The capture program node-helper execs run under, run here on the host: what it writes
is exactly what the command printed and its exit code; a result that is not whole is an
error, never an empty answer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chaos_eval.engine.exec_capture import (
    CAPTURE_PROGRAM,
    capture_argv,
    parse_result,
    result_path,
)


def run_captured(tmp_path: Path, argv: list[str]) -> tuple[int, tuple[int, bytes, bytes]]:
    prog = tmp_path / "capture.py"
    prog.write_bytes(CAPTURE_PROGRAM)
    out = tmp_path / "res" / "r1"
    done = subprocess.run([sys.executable, str(prog), str(out), *argv], capture_output=True,
                          check=False)
    assert done.stdout == b"" and done.stderr == b""  # nothing goes through the stream
    assert not Path(str(out) + ".tmp").exists()
    return done.returncode, parse_result(out.read_bytes())


def test_capture_keeps_stdout_stderr_and_exit_code(tmp_path: Path) -> None:
    code, res = run_captured(tmp_path, [sys.executable, "-c",
                                        "import sys; print('out\\n2'); "
                                        "sys.stderr.write('err'); sys.exit(3)"])
    assert code == 3 and res == (3, b"out\n2\n", b"err")
    code, res = run_captured(tmp_path, ["true"])
    assert code == 0 and res == (0, b"", b"")  # empty is a real answer here, and says so
    code, res = run_captured(tmp_path, ["/nonexistent/cmd"])
    assert code == 127 and res[0] == 127 and b"nonexistent" in res[2]


def test_parse_result_refuses_what_is_not_whole() -> None:
    assert parse_result(b"0 3 1\nabcd") == (0, b"abc", b"d")
    for bad in (b"", b"0 3 1", b"0 3 1\nabc", b"x 1 1\nab", b"0 1\na", b"0 3 1\nabcde"):
        with pytest.raises(ValueError):
            parse_result(bad)


def test_argv_and_paths() -> None:
    assert capture_argv("/tmp/chaos-eval-exec/ab", ("tc", "-j")) == (
        "python3", "/usr/local/lib/chaos-eval-capture.py", "/tmp/chaos-eval-exec/ab", "tc", "-j")
    assert result_path("0f") == "/tmp/chaos-eval-exec/0f"
    for bad in ("", "../x", "AB", "a/b"):
        with pytest.raises(ValueError):
            result_path(bad)
