"""Building the images of eval/images/recipes.py: `ensure_images` makes each one present and
current, building at most BUILD_JOBS at a time under a per-image lock (one build per machine
even across processes). A build: debootstrap the recipe's suite and packages, drop the
package caches, copy the recipe's files in, unpack its pinned wheels, tar the tree and
import it (`Docker.import_image`), labelled with its recipe hash. Every argv is built by a
pure function here and run by `_run`, through eval/engine/process.py (killed with its
process group on timeout or cancellation).

Environment: CHAOS_EVAL_MIRROR (Debian mirror URI; default: read from apt's sources),
CHAOS_EVAL_BUILD_DIR (scratch space, default /var/tmp). Building needs root and
debootstrap; without them it is an ImageError.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from chaos_eval.engine.client import Docker
from chaos_eval.engine.process import run_process
from chaos_eval.errors import ImageError
from chaos_eval.images.apt import apt_mirror
from chaos_eval.images.recipes import (
    EXTERNAL,
    LABEL_IMAGE,
    LABEL_RECIPE,
    ImageRecipe,
    check_name,
    image_ref,
    override_var,
    recipe,
    recipe_hash,
    require_images,
    source_file,
)
from chaos_eval.images.wheels import (
    download_argv,
    host_machine,
    import_check_argv,
    requirements,
    unpack,
    verified,
)

log = logging.getLogger(__name__)

DEBOOTSTRAP_TIMEOUT_S = 900.0
TAR_TIMEOUT_S = 300.0
PIP_TIMEOUT_S = 300.0
BUILD_JOBS = 2  # debootstrap is mostly download and dpkg; two at a time suit two cores


@dataclass(frozen=True)
class BuildResult:
    name: str
    ref: str
    hash: str
    built: bool  # False: an image with this hash was already there (or a user override)
    seconds: float


# -- building -------------------------------------------------------------------------------


def debootstrap_argv(r: ImageRecipe, target: Path, mirror: str) -> list[str]:
    argv = ["debootstrap", "--variant=minbase", "--components=main"]
    if r.packages:
        argv.append("--include=" + ",".join(r.packages))
    return [*argv, r.suite, str(target), mirror]


def tar_argv(rootfs: Path, out: Path) -> list[str]:
    return ["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(out), "."]


def _build_dir() -> Path:
    return Path(os.environ.get("CHAOS_EVAL_BUILD_DIR") or "/var/tmp")


def _preflight() -> None:
    if os.geteuid() != 0:
        raise ImageError("building images needs root (debootstrap creates device nodes)")
    if shutil.which("debootstrap") is None and not Path("/usr/sbin/debootstrap").exists():
        raise ImageError("debootstrap is not installed (apt-get install debootstrap)")


async def _run(argv: Sequence[str], timeout_s: float, what: str) -> None:
    path = {"PATH": os.environ.get("PATH", "") + ":/usr/sbin:/sbin"}
    try:
        done = await run_process(argv, timeout_s=timeout_s, env=path, merge_stderr=True)
    except TimeoutError:
        raise ImageError(f"{what} did not finish within {timeout_s:.0f}s") from None
    if done.returncode != 0:
        tail = done.stdout.strip().splitlines()[-15:]
        raise ImageError(f"{what} exited {done.returncode}:\n" + "\n".join(tail))


def _strip_caches(rootfs: Path) -> None:
    for deb in (rootfs / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()
    lists = rootfs / "var/lib/apt/lists"
    if lists.is_dir():
        for entry in lists.iterdir():
            if entry.is_file():
                entry.unlink()


def _copy_files(r: ImageRecipe, rootfs: Path, root: Path | None) -> None:
    for src, dest in r.files:
        if not dest.startswith("/") or ".." in Path(dest).parts:
            raise ImageError(f"recipe {r.name}: destination {dest!r} must be absolute")
        target = rootfs / dest.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source_file(src, root), target)
        target.chmod(0o755)


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mounts") as f:
        points = [line.split()[1] for line in f if len(line.split()) > 1]
    return sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True)


async def _remove_workdir(workdir: Path) -> None:
    """Delete the scratch tree, first unmounting anything a failed debootstrap left there."""
    for point in _mounts_under(workdir):
        await _run(["umount", "-l", point], 60.0, f"umount {point}")
    if _mounts_under(workdir):
        log.warning("leaving %s in place: something is still mounted under it", workdir)
        return
    await asyncio.to_thread(shutil.rmtree, workdir, True)


async def _install_wheels(r: ImageRecipe, rootfs: Path, dest: Path) -> None:
    if not r.wheels:
        return
    machine = host_machine()
    pinned = dest.parent / "wheels.txt"  # before anything is fetched: refuses unpinned platforms
    pinned.write_text(requirements(r.wheels, machine))
    dest.mkdir()
    await _run(download_argv(pinned, dest, r.suite, machine), PIP_TIMEOUT_S, "pip download")
    for wheel_file in verified(dest, r.wheels, machine):  # hashed again, before unpacking
        unpack(wheel_file, rootfs)
    for w in r.wheels:
        await _run(import_check_argv(rootfs, w.module), 60.0, f"import {w.module} in the image")


async def build_image(
    r: ImageRecipe, docker: Docker, *, digest: str, root: Path | None = None
) -> None:
    """debootstrap, strip, copy files, tar, import as `r.ref` labelled with `digest`."""
    _preflight()
    mirror = apt_mirror(r.suite)
    workdir = Path(tempfile.mkdtemp(prefix=f"chaos-eval-{r.name}-", dir=_build_dir()))
    try:
        rootfs, tarball = workdir / "rootfs", workdir / "rootfs.tar"
        t0 = time.monotonic()
        await _run(debootstrap_argv(r, rootfs, mirror), DEBOOTSTRAP_TIMEOUT_S, "debootstrap")
        t1 = time.monotonic()
        _strip_caches(rootfs)
        _copy_files(r, rootfs, root)
        await _install_wheels(r, rootfs, workdir / "wheels")
        await _run(tar_argv(rootfs, tarball), TAR_TIMEOUT_S, "tar")
        await docker.import_image(
            tarball, r.ref, labels={LABEL_RECIPE: digest, LABEL_IMAGE: r.name}, cmd=r.cmd
        )
        log.info(
            "image %s: debootstrap %.1fs, tar+import %.1fs", r.name, t1 - t0, time.monotonic() - t1
        )
    finally:
        await asyncio.shield(_remove_workdir(workdir))


class _BuildLock:
    """An flock per image name, so concurrent processes on one machine build it once.
    Polled (not a blocking flock in a thread) so cancellation never strands the lock."""

    POLL_S = 0.5

    def __init__(self, name: str) -> None:
        self._path = _build_dir() / f"chaos-eval-image-{name}.lock"
        self._fd = -1

    async def __aenter__(self) -> None:
        # a predictable path in a shared directory: never follow a link planted there, and
        # lock only a regular file
        flags = os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
        try:
            self._fd = os.open(self._path, flags, 0o644)
        except OSError as e:
            why = "is a symbolic link" if self._path.is_symlink() else (e.strerror or str(e))
            raise ImageError(f"build lock {self._path}: {why}; refusing to use it") from None
        if not stat.S_ISREG(os.fstat(self._fd).st_mode):
            os.close(self._fd)
            raise ImageError(f"build lock {self._path}: not a regular file; refusing to use it")
        try:
            while True:
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    await asyncio.sleep(self.POLL_S)  # another process is building it
        except BaseException:
            os.close(self._fd)
            raise

    async def __aexit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


async def ensure_image(name: str, docker: Docker, *, force: bool = False) -> BuildResult:
    t0 = time.monotonic()
    r = recipe(name)
    ref = image_ref(name)
    if ref != r.ref:  # the user's own image: never built, only required to exist
        labels = await docker.image_labels(ref)
        if labels is None:
            raise ImageError(f"{override_var(name)}={ref} but no such image is present")
        return BuildResult(name, ref, labels.get(LABEL_RECIPE, ""), False, time.monotonic() - t0)
    digest = recipe_hash(r)
    async with _BuildLock(name):
        labels = await docker.image_labels(ref)
        if not force and labels is not None and labels.get(LABEL_RECIPE) == digest:
            return BuildResult(name, ref, digest, False, time.monotonic() - t0)
        log.info("building image %s (%s, recipe %s)", name, ref, digest[:12])
        await build_image(r, docker, digest=digest)
    seconds = time.monotonic() - t0
    log.info("built image %s in %.1fs", name, seconds)
    return BuildResult(name, ref, digest, True, seconds)


async def ensure_images(
    names: Iterable[str], docker: Docker, force: bool = False
) -> list[BuildResult]:
    """Make every named image present and current; build at most BUILD_JOBS at a time.
    Results are in the order of `names`. Raises ImageError when one cannot be built."""
    wanted = list(dict.fromkeys(names))
    for name in wanted:
        check_name(name)  # unknown names fail before anything starts
    t0 = time.monotonic()
    external = [n for n in wanted if n in EXTERNAL]
    await require_images([image_ref(n) for n in external], docker)  # all missing, at once
    done = {n: BuildResult(n, image_ref(n), "", False, time.monotonic() - t0) for n in external}
    slots = asyncio.Semaphore(BUILD_JOBS)

    async def one(name: str) -> BuildResult:
        async with slots:
            return await ensure_image(name, docker, force=force)

    try:
        async with asyncio.TaskGroup() as tg:  # one failure cancels the other builds
            tasks = {n: tg.create_task(one(n)) for n in wanted if n not in done}
    except BaseExceptionGroup as group:
        first = group.exceptions[0]
        raise first if isinstance(first, ImageError) else ImageError(str(first)) from first
    return [done[n] if n in done else tasks[n].result() for n in wanted]
