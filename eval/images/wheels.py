"""Python wheels into an image's root filesystem, without pip (or any network) in the image.

Some image needs a library Debian does not package (the TiKV client gateway needs
`tikv-client`, a compiled cp311 wheel). The build downloads the exact pinned wheel with the
harness's own pip, for the image's interpreter and platform rather than the host's
(`--only-binary=:all: --no-deps`: nothing is compiled, nothing else pulled in), unpacks it
into the image's dist-packages, and proves it imports with the image's python3 under
chroot. The index is whatever the machine's pip is configured with, so it is not trusted:
each wheel is pinned by the sha256 of its exact file for each platform it is built for
(a platform without a pinned hash is refused before anything is downloaded), pip is given
the hashes with `--require-hashes`, and every downloaded file is hashed again before it is
unpacked (`verified`).

Every argv is built by a pure function here; eval/images/build.py runs them.
"""

from __future__ import annotations

import hashlib
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
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
MACHINES = ("x86_64", "aarch64")  # the manylinux2014 platforms a pin may name


@dataclass(frozen=True)
class Wheel:
    """`pin` ("name==version", exact), the module that must import afterwards, and
    `sha256`: (machine, sha256 of the exact wheel file for that platform) pairs, at least one."""

    pin: str
    module: str
    sha256: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        if not _PIN.match(self.pin):
            raise ImageError(f"wheel {self.pin!r}: must be pinned exactly, as name==version")
        if not _MODULE.match(self.module):
            raise ImageError(f"wheel {self.pin}: {self.module!r} is not a module name")
        if not self.sha256:
            raise ImageError(f"wheel {self.pin}: no sha256 pinned for any platform")
        machines = [m for m, _ in self.sha256]
        for machine, digest in self.sha256:
            if machine not in MACHINES or machines.count(machine) > 1:
                raise ImageError(f"wheel {self.pin}: platform {machine!r} must be one of "
                                 f"{', '.join(MACHINES)}, pinned once")
            if not _SHA256.match(digest):
                raise ImageError(f"wheel {self.pin}: sha256 {digest!r:.80} for {machine} is not "
                                 "64 lowercase hex digits")

    def sha256_for(self, machine: str) -> str:
        """The pinned hash of the wheel file for `machine`; ImageError when none is pinned."""
        for m, digest in self.sha256:
            if m == machine:
                return digest
        raise ImageError(
            f"wheel {self.pin}: no sha256 pinned for platform {machine!r} (pinned: "
            f"{', '.join(m for m, _ in self.sha256)}); refusing to install an unverified wheel"
        )


def host_machine() -> str:
    return platform.machine()


def python_for(suite: str) -> str:
    try:
        return SUITE_PYTHON[suite]
    except KeyError:
        raise ImageError(f"no known python3 version for Debian suite {suite!r}") from None


def requirements(wheels: tuple[Wheel, ...], machine: str) -> str:
    """A pip requirements file pinning each wheel by version and by its file's sha256 for
    `machine` (ImageError if one has no hash for it)."""
    return "".join(f"{w.pin} --hash=sha256:{w.sha256_for(machine)}\n" for w in wheels)


def download_argv(requirements_file: Path, dest: Path, suite: str, machine: str) -> list[str]:
    """pip download of exactly the wheels in `requirements_file` (written by `requirements`)
    for the image's python3 and platform, every file checked against its pinned hash."""
    if machine not in MACHINES:
        raise ImageError(f"platform {machine!r}: wheels are pinned for {', '.join(MACHINES)} only")
    return [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
        "--only-binary=:all:", "--implementation", "cp",
        "--python-version", python_for(suite),
        "--platform", f"manylinux2014_{machine}",
        "--require-hashes", "--requirement", str(requirements_file),
        "--dest", str(dest),
    ]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified(dest: Path, wheels: tuple[Wheel, ...], machine: str) -> list[Path]:
    """The downloaded wheel files, one per pinned wheel, each proven to be the pinned file by
    its sha256 before anything is unpacked; ImageError naming the file on any mismatch, on
    a stray file, or on a pinned wheel that did not arrive."""
    expected = {w.sha256_for(machine): w for w in wheels}
    files = sorted(p for p in dest.iterdir() if p.is_file())
    seen: set[str] = set()
    for path in files:
        got = file_sha256(path)
        if got not in expected:
            raise ImageError(
                f"wheel file {path.name}: sha256 {got} matches no pinned wheel "
                f"({', '.join(w.pin for w in wheels)} for {machine}); refusing to unpack it"
            )
        seen.add(got)
    missing = [w.pin for d, w in expected.items() if d not in seen]
    if missing:
        raise ImageError(f"wheels {', '.join(missing)} for {machine}: not downloaded")
    return files


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
