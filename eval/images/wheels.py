"""Python wheels into an image's root filesystem, without pip (or any network) in the image.

Some image needs a library Debian does not package (the TiKV client gateway needs
`tikv-client`, a compiled cp311 wheel). The build downloads the exact pinned wheel with the
harness's own pip, for the image's interpreter and platform rather than the host's
(`--only-binary=:all: --no-deps`: nothing is compiled, nothing else pulled in), unpacks it
into the image's dist-packages, and proves it imports with the image's python3 under
chroot. The index is whatever the machine's pip is configured with.

Every argv is built by a pure function here; eval/images/build.py runs them.
"""

from __future__ import annotations

import platform
import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from chaos_eval.errors import ImageError

SITE_PACKAGES = "usr/lib/python3/dist-packages"  # Debian's python3 path for add-ons
SUITE_PYTHON = {"bookworm": "3.11"}  # the python3 each Debian suite ships
_PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==[0-9][A-Za-z0-9.+!]*$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class Wheel:
    """`pin` ("name==version", exact) and the module that must import afterwards."""

    pin: str
    module: str

    def __post_init__(self) -> None:
        if not _PIN.match(self.pin):
            raise ImageError(f"wheel {self.pin!r}: must be pinned exactly, as name==version")
        if not _MODULE.match(self.module):
            raise ImageError(f"wheel {self.pin}: {self.module!r} is not a module name")


def python_for(suite: str) -> str:
    try:
        return SUITE_PYTHON[suite]
    except KeyError:
        raise ImageError(f"no known python3 version for Debian suite {suite!r}") from None


def download_argv(wheels: tuple[Wheel, ...], dest: Path, suite: str,
                  machine: str | None = None) -> list[str]:
    """pip download of exactly these wheels for the image's python3 and platform."""
    return [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
        "--only-binary=:all:", "--implementation", "cp",
        "--python-version", python_for(suite),
        "--platform", f"manylinux2014_{machine or platform.machine()}",
        "--dest", str(dest), *(w.pin for w in wheels),
    ]


def import_check_argv(rootfs: Path, module: str) -> list[str]:
    if not _MODULE.match(module):
        raise ImageError(f"{module!r} is not a module name")
    return ["chroot", str(rootfs), "/usr/bin/python3", "-c", f"import {module}"]


def _member_target(name: str, site: Path) -> Path:
    """Where a wheel member goes, refusing anything that would land outside `site`."""
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise ImageError(f"wheel member {name!r} would escape the package directory")
    if pure.parts[0].endswith(".data"):
        raise ImageError(f"wheel member {name!r}: .data directories are not supported")
    return site.joinpath(*pure.parts)


def unpack(wheel_file: Path, rootfs: Path) -> list[str]:
    """Unpack one .whl into the image's dist-packages; returns the members written."""
    site = rootfs / SITE_PACKAGES
    written = []
    with zipfile.ZipFile(wheel_file) as z:
        for info in z.infolist():
            target = _member_target(info.filename, site)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(info))
            target.chmod(0o755 if info.filename.endswith(".so") else 0o644)
            written.append(info.filename)
    return written
