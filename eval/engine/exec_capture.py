"""Exec capture: how a command exec'd into a node helper gets its files and its time limit,
and hands back what it printed.

The engine's exec stream can lose a fast command's output (it may exit before the stream is
attached: docker-py issue 2042), and an `iptables -S` listing that came back empty reads as
"nothing of ours is left", so a proof must never rest on a bare stream. So the node helper
carries CAPTURE_PROGRAM (stdlib Python, at CAPTURE_PATH). One exec of it:

1. writes the call's files (path -> bytes, base64 in its argv: no archive upload first),
   each atomically (a temporary file renamed into place);
2. runs the command within its time limit (SIGTERM at the limit, SIGKILL KILL_GRACE_S
   later; exit TIMEOUT_EXIT, as coreutils `timeout` would, without a process of its own);
3. writes its exit code, stdout and stderr to a result file, atomically, and prints the same
   bytes framed: `RESULT <tag> <length>` line, the result, `END <tag>` line, where the tag is
   the result file's name (random per exec);
4. exits with the command's code.

The engine takes the result from the stream only when the frame is whole (`parse_frame`:
this exec's tag at both ends, the exact length between): a lost or cut stream cannot pass
for an answer, empty or not. Otherwise it reads the result file back through the archive
API (a file, not a stream: nothing is lost). The frame and the file hold the very same
bytes, written by the same program from one buffer, so either is the answer; no file, or a
malformed one, is an error, never an empty answer.

Every exec pays for the program's start, so it starts lean: `python3 -S` (no site
packages to look for) and only builtin modules (os.posix_spawnp and a poll loop, not
`subprocess`, whose import alone took ~16 ms of the helper's CPU; binascii, not base64).
Pure: the program text, the argv, the parsers.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath

CAPTURE_PATH = "/usr/local/lib/chaos-eval-capture.py"
RESULT_DIR = "/tmp/chaos-eval-exec"
TIMEOUT_EXIT = 124  # the command ran out of time (coreutils timeout's code)
KILL_GRACE_S = 1  # SIGTERM at the limit, SIGKILL this much later
INLINE_FILES_MAX = 64 * 1024  # base64 bytes of files carried in argv (one argv word < 128 KiB)
STANDBY_IDLE_S = 3600  # a standby that got no call within this ends by itself

CAPTURE_PROGRAM = b'''\
import binascii, os, select, sys, time
if sys.argv[1:] == ["-"]:  # a standby: the call comes on stdin (standby_request)
    if not select.select([0], [], [], @IDLE@)[0]:
        sys.exit(0)
    head = sys.stdin.buffer.readline()
    size = int(head) if head.strip().isdigit() else -1
    body = sys.stdin.buffer.read(size) if size >= 0 else b""
    if size < 0 or len(body) != size:
        sys.exit(0)  # released (end of stdin) or cut short: nothing was run
    fields = body.decode().split("\\0")
    path, limit, files, argv = fields[0], float(fields[1]), fields[2], fields[3:]
else:
    path, limit, files, argv = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4:]
def put(p, data):
    os.makedirs(os.path.dirname(p), exist_ok=True)
    tmp = "%s.tmp%d" % (p, os.getpid())
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, p)
for item in files.split(",") if files != "-" else ():
    dest, _, data = item.partition(":")
    put(dest, binascii.a2b_base64(data))
out_r, out_w = os.pipe()
err_r, err_w = os.pipe()
try:
    pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=[
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)])
except OSError as e:
    pid, code, got = None, 127, {out_r: [], err_r: [str(e).encode()]}
os.close(out_w)
os.close(err_w)
if pid is not None:
    got = {out_r: [], err_r: []}
    poller = select.poll()
    for fd in got:
        poller.register(fd, select.POLLIN)
    live, term_at, kill_at = set(got), time.monotonic() + limit, None
    while live:
        now = time.monotonic()
        if kill_at is None and now >= term_at:
            os.kill(pid, 15)
            kill_at = now + @GRACE@
        elif kill_at is not None and now >= kill_at:
            os.kill(pid, 9)
            kill_at = float("inf")
        wake = term_at if kill_at is None else kill_at
        for fd, _ in poller.poll(None if wake == float("inf") else max(0, wake - now) * 1000 + 1):
            data = os.read(fd, 65536)
            if data:
                got[fd].append(data)
            else:
                poller.unregister(fd)
                live.discard(fd)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if kill_at is not None:
        code = @TIMEOUT_EXIT@
for fd in (out_r, err_r):
    os.close(fd)
out, err = b"".join(got[out_r]), b"".join(got[err_r])
blob = b"%d %d %d\\n" % (code, len(out), len(err)) + out + err
put(path, blob)
tag = os.path.basename(path).encode()
sys.stdout.buffer.write(b"RESULT %s %d\\n" % (tag, len(blob)) + blob + b"END %s\\n" % tag)
sys.stdout.flush()
sys.exit(code if 0 <= code < 256 else 1)
'''.replace(b"@GRACE@", b"%d" % KILL_GRACE_S).replace(b"@TIMEOUT_EXIT@", b"%d" % TIMEOUT_EXIT) \
    .replace(b"@IDLE@", b"%d" % STANDBY_IDLE_S)


def result_path(exec_tag: str) -> str:
    """Where the capture of one exec lands; `exec_tag` is [0-9a-f]+ (ValueError else)."""
    if not exec_tag or any(c not in "0123456789abcdef" for c in exec_tag):
        raise ValueError(f"exec tag must be lowercase hex: {exec_tag!r}")
    return str(PurePosixPath(RESULT_DIR) / exec_tag)


def inline_files(files: Mapping[str, bytes] | None) -> str | None:
    """The capture program's files argument: "-" for none, else `path:base64` items joined
    by commas; None when they are too big to carry in argv (upload them instead). Paths
    must be absolute and free of ':' and ',' (ValueError). Pure."""
    if not files:
        return "-"
    items = []
    for path, data in sorted(files.items()):
        if not path.startswith("/") or any(c in path for c in ":,") or path.endswith("/"):
            raise ValueError(f"file path cannot travel in argv: {path!r}")
        items.append(f"{path}:{base64.b64encode(data).decode()}")
    text = ",".join(items)
    return text if len(text) <= INLINE_FILES_MAX else None


def capture_argv(
    path: str, argv: Iterable[str], *, timeout_s: float, files: str = "-"
) -> tuple[str, ...]:
    """`argv` run under the capture program within `timeout_s`, after writing `files` (an
    `inline_files` argument), its result written to `path` and framed on stdout. Pure."""
    if not timeout_s > 0:
        raise ValueError(f"timeout must be > 0, got {timeout_s}")
    return ("python3", "-S", CAPTURE_PATH, path, f"{timeout_s:.3f}", files, *argv)


def standby_argv() -> tuple[str, ...]:
    """The capture program as a standby: it waits (STANDBY_IDLE_S at most) for one
    `standby_request` on its stdin, then runs it exactly as `capture_argv` would; at the end
    of its stdin it exits having run nothing."""
    return ("python3", "-S", CAPTURE_PATH, "-")


def standby_request(
    path: str, argv: Iterable[str], *, timeout_s: float, files: str = "-"
) -> bytes:
    """What a standby reads on its stdin to run what `capture_argv(path, argv, ...)` runs:
    its length in decimal on a line, then the fields (path, time limit, files, argv) joined
    by NUL, which no argv word can hold (ValueError). Pure."""
    fields = capture_argv(path, argv, timeout_s=timeout_s, files=files)[3:]
    if any("\0" in f for f in fields):
        raise ValueError("an argv word cannot hold NUL")
    body = "\0".join(fields).encode()
    return b"%d\n" % len(body) + body


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


def parse_frame(stream: bytes | None, exec_tag: str) -> bytes | None:
    """The result the capture program printed, iff the stream holds its whole frame for
    this exec (tag at both ends, exact length); None when it does not (read the file)."""
    if not stream:
        return None
    tag = exec_tag.encode()
    head, sep, rest = stream.partition(b"\n")
    words = head.split()
    if not sep or len(words) != 3 or words[:2] != [b"RESULT", tag] or not words[2].isdigit():
        return None
    n = int(words[2])
    if rest[n:] != b"END " + tag + b"\n":
        return None
    return rest[:n]
