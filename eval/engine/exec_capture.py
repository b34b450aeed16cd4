"""Exec capture: how a command exec'd into a node helper hands back what it printed.

The engine's exec stream can lose a fast command's output (it may exit before the stream is
attached: docker-py issue 2042), and an `iptables -S` listing that came back empty reads as
"nothing of ours is left", so a proof must never rest on it. So the node helper carries
CAPTURE_PROGRAM (stdlib Python, at CAPTURE_PATH): it runs the command, writes its exit
code, stdout and stderr to a result file in the helper's own filesystem (atomically: a
temporary file renamed into place), and exits with the command's code. The engine waits
for the exec to end, then reads that file back through the archive API (a file, not a
stream: nothing is lost) and parses it with `parse_result`; no file, or a malformed one,
is an error, never an empty answer. Pure: the program text, the argv, the parser.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath

CAPTURE_PATH = "/usr/local/lib/chaos-eval-capture.py"
RESULT_DIR = "/tmp/chaos-eval-exec"

CAPTURE_PROGRAM = b'''\
import os, subprocess, sys
path, argv = sys.argv[1], sys.argv[2:]
try:
    done = subprocess.run(argv, capture_output=True)
    code, out, err = done.returncode, done.stdout, done.stderr
except OSError as e:
    code, out, err = 127, b"", str(e).encode()
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path + ".tmp", "wb") as f:
    f.write(b"%d %d %d\\n" % (code, len(out), len(err)) + out + err)
os.rename(path + ".tmp", path)
sys.exit(code if 0 <= code < 256 else 1)
'''


def result_path(exec_tag: str) -> str:
    """Where the capture of one exec lands; `exec_tag` is [0-9a-f]+ (ValueError else)."""
    if not exec_tag or any(c not in "0123456789abcdef" for c in exec_tag):
        raise ValueError(f"exec tag must be lowercase hex: {exec_tag!r}")
    return str(PurePosixPath(RESULT_DIR) / exec_tag)


def capture_argv(path: str, argv: Iterable[str]) -> tuple[str, ...]:
    """`argv` run under the capture program, its result written to `path`. Pure."""
    return ("python3", CAPTURE_PATH, path, *argv)


def parse_result(blob: bytes) -> tuple[int, bytes, bytes]:
    """(exit code, stdout, stderr) from a result file; ValueError when it is not whole."""
    head, sep, body = blob.partition(b"\n")
    words = head.split()
    if not sep or len(words) != 3 or not all(w.lstrip(b"-").isdigit() for w in words):
        raise ValueError(f"malformed exec result header {head[:60]!r}")
    code, n_out, n_err = (int(w) for w in words)
    if len(body) != n_out + n_err or n_out < 0 or n_err < 0:
        raise ValueError(f"exec result holds {len(body)} bytes, expected {n_out + n_err}")
    return code, body[:n_out], body[n_out:]
