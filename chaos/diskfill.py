"""disk_pressure's pure parts: the fill files' names, the argv that create and remove them,
the fill goal and the confinement rule. No I/O (the volume's helpers: chaos/disk_volume.py).

Fill files are `/target/.chaos-eval-fill-<first 12 chars of the trial key>-<n>`, with
n < MAX_FILES: cleanup removes exactly those names (`rm -f --`, never a glob), so it can
only ever touch what this trial could have created.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from chaos_eval.cleanup.node_state import FILL_PREFIX, TARGET, VolumeUsage
from chaos_eval.engine.containers import VolumeInfo
from chaos_eval.errors import FaultError, ParameterError
from chaos_eval.fault import UndoOp

MAX_FILES = 8
FILL_CHUNK_BYTES = 512 << 20
MAX_FILL_BYTES = MAX_FILES * FILL_CHUNK_BYTES  # 4 GiB: a tmpfs fill lives in RAM
TOPUP_BYTES = 1 << 20  # a fill to 100 %: fallocate all but this, then write it with dd
TOPUP_BLOCK = 4096
_KEY_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NAME_RE = re.compile(re.escape(FILL_PREFIX) + r"[A-Za-z0-9_-]{1,12}-\d{1,2}")


def fill_names(trial_key: str) -> tuple[str, ...]:
    """The only names this trial's fill files can have (same on every target's volume)."""
    if not _KEY_RE.fullmatch(trial_key):
        raise ParameterError(f"not a trial key: {trial_key!r}")
    return tuple(f"{FILL_PREFIX}{trial_key[:12]}-{n}" for n in range(MAX_FILES))


def _path(name: str) -> str:
    if not _NAME_RE.fullmatch(name):
        raise ParameterError(f"not a fill file name: {name!r}")
    return f"{TARGET}/{name}"


def _checked_size(nbytes: int) -> int:
    if isinstance(nbytes, bool) or not isinstance(nbytes, int) or not 0 < nbytes <= MAX_FILL_BYTES:
        raise ParameterError(f"fill size out of range: {nbytes!r}")
    return nbytes


def fallocate_argv(name: str, nbytes: int) -> tuple[str, ...]:
    """Allocate `nbytes` at once (tmpfs: all or nothing, ENOSPC if it does not fit)."""
    return ("fallocate", "-l", str(_checked_size(nbytes)), _path(name))


def topup_argv(name: str, nbytes: int) -> tuple[str, ...]:
    """Write zeros, a page at a time, up to `nbytes` or until the filesystem is full: the
    last bytes of a fill to 100 %, which no precomputed size can hit while the subject
    writes too."""
    pages = -(-_checked_size(nbytes) // TOPUP_BLOCK)
    return ("dd", "if=/dev/zero", f"of={_path(name)}", f"bs={TOPUP_BLOCK}", f"count={pages}",
            "status=none")


def remove_argv(names: Sequence[str]) -> tuple[str, ...]:
    """rm -f of exactly these files: absent ones are fine, nothing else can match."""
    if not names:
        raise ParameterError("no fill files to remove")
    return ("rm", "-f", "--", *(_path(n) for n in names))


def is_undo_argv(op: str, argv: tuple[str, ...]) -> bool:
    """True for exactly a `remove_argv` of fill file names: the check undo plans read from a
    db must pass (eval/cleanup/undo.py)."""
    if op != UndoOp.VOLUME_RUN or tuple(argv[:3]) != ("rm", "-f", "--"):
        return False
    paths = argv[3:]
    prefix = f"{TARGET}/"
    return 0 < len(paths) <= MAX_FILES and all(
        p.startswith(prefix) and _NAME_RE.fullmatch(p[len(prefix):]) is not None for p in paths
    )


def goal_avail(fill_percent: float | None, fill_bytes: int | None, usage: VolumeUsage) -> int:
    """The free bytes a fill aims to leave (give exactly one amount). FaultError when there
    is nothing to fill."""
    if fill_percent is not None:
        goal = int(usage.size * (1 - fill_percent / 100))
        if goal >= usage.avail:
            raise FaultError(
                f"the filesystem is already {100 * usage.used_fraction:.1f}% used, at or above "
                f"fill_percent {fill_percent}: nothing to fill"
            )
        return goal
    if fill_bytes is None:
        raise ParameterError("give fill_percent or fill_bytes")
    if usage.avail <= 0:
        raise FaultError("the filesystem is already full: nothing to fill")
    return max(0, usage.avail - fill_bytes)


_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def size_option(o: str) -> int | None:
    """The byte count of a `size=` mount option (tmpfs syntax: 256m, 1g, 4096); None when
    there is none, or it is relative (size=50% of RAM is not a bound we can check)."""
    for opt in o.split(","):
        key, _, value = opt.strip().partition("=")
        if key != "size":
            continue
        m = re.fullmatch(r"(\d+)([kmgtKMGT]?)", value.strip())
        return int(m.group(1)) * _UNITS[m.group(2).lower()] if m else None
    return None


def confinement_problem(volume: str, info: VolumeInfo | None) -> str | None:
    """Why filling `volume` could touch anything beyond it, or None when it cannot. Pure."""
    if info is None:
        return f"volume {volume} does not exist"
    opts = info.options
    if info.driver != "local":
        return f"volume {volume}: driver {info.driver!r}, only 'local' volumes are understood"
    mount_opts = opts.get("o", "")
    if opts.get("type") == "tmpfs":
        if size_option(mount_opts) is None:
            return (f"volume {volume}: tmpfs without an absolute size= option ({mount_opts!r}) "
                    "is bounded only by RAM")
        return None
    device = opts.get("device", "")
    binds = {w.strip() for w in mount_opts.split(",")} & {"bind", "rbind"}
    if device.startswith("/dev/") and not binds:
        return None
    return (f"volume {volume}: a plain local volume is a directory on the host's disk "
            f"(options {dict(opts)}); filling it would fill the host. Give the node a bounded "
            "filesystem of its own (type=tmpfs with size=, or a device)")
