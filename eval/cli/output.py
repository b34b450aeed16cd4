"""The one way a command writes an output file (the HTML report, JUnit XML, a bundle).

An output never clobbers what it was not made to replace: a path that exists is overwritten
only if it is a previous output of the same kind (recognised by the marker every one of ours
carries) or `--force` says so; the results db the command reads is never overwritten, with
or without `--force`; and any SQLite file needs `--force`. The text is written to a
temporary file in the same directory, flushed to disk and renamed over the path, so a
reader (or a crash) sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from chaos_eval.errors import OutputError

SQLITE_HEADER = b"SQLite format 3\x00"
SNIFF_BYTES = 4096


def _refusal(path: Path, marker: str | None, kind: str) -> str | None:
    """Why `path` must not be replaced without --force (None: it may)."""
    if path.is_dir():
        return "is a directory"
    if not path.exists() and not path.is_symlink():
        return None
    if path.is_symlink():
        return "is a symbolic link"
    if not path.is_file():
        return "is not a regular file"
    with path.open("rb") as f:
        head = f.read(SNIFF_BYTES)
    if head.startswith(SQLITE_HEADER):
        return "is an SQLite database"
    if marker is not None and marker.encode() in head:
        return None
    return f"exists and is not a {kind} written by chaos-eval"


def write_output(
    path: Path,
    data: str | bytes,
    *,
    marker: str | None,
    kind: str,
    force: bool,
    db: Path | None = None,
) -> None:
    """Write `data` to `path` atomically; OutputError (exit 2) for a path it must not
    replace or cannot write. Text must carry `marker` near its start, so a later run knows
    its own output; with no marker (a binary bundle) an existing file always needs --force."""
    if marker is not None and marker not in str(data[:SNIFF_BYTES]):
        raise ValueError(f"a {kind} must carry its marker near its start")
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if db is not None and path.exists() and db.exists() and path.samefile(db):
        raise OutputError(f"{path}: is the results database this command reads; not overwritten")
    if path.is_dir():
        raise OutputError(f"{path}: is a directory; name a file to write the {kind} to")
    why = _refusal(path, marker, kind)
    if why and not force:
        raise OutputError(f"{path}: {why}; not overwritten (pass --force to replace it)")
    parent = path.parent
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise OutputError(f"{path}: cannot write there: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputError(f"{path}: cannot write: {e.strerror or e}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
