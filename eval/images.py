"""Images without a registry: build Debian root filesystems with debootstrap and import them.

Nothing can be pulled on the machines chaos-eval runs on, so every image it uses is built
locally from a small `ImageRecipe`: debootstrap a minimal Debian suite with the recipe's
packages from the mirror the machine's apt already uses, drop the package caches, copy the
recipe's files in, unpack any pinned Python wheels Debian does not package (eval/wheels.py),
and stream the tree into the engine (`Docker.import_image`).

Each image carries `chaos-eval.recipe=<recipe_hash>`; `ensure_images` rebuilds only when
that hash changes (the hash covers the recipe and the bytes of every copied file), or when
asked to `force`. A ref named by `CHAOS_EVAL_IMAGE_<NAME>` is the user's own image: it is
checked for presence and never built.

Some images cannot be built from Debian packages (TiKV's `pd` and `tikv`): they are
`EXTERNAL`, pinned refs the user pulls or loads. `ensure_images` and `require_images` only
check that they are present and, when they are not, say which ones and how to get them.

Environment: CHAOS_EVAL_MIRROR (Debian mirror URI; default: read from apt's sources),
CHAOS_EVAL_IMAGE_<NAME> (use this ref instead), CHAOS_EVAL_BUILD_DIR (scratch space,
default /var/tmp). Building needs root and debootstrap; without them it is an ImageError.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from eval.apt import apt_mirror
from eval.docker import Docker, split_ref
from eval.errors import ImageError
from eval.wheels import Wheel, download_argv, import_check_argv, unpack

log = logging.getLogger(__name__)

LABEL_RECIPE = "chaos-eval.recipe"
LABEL_IMAGE = "chaos-eval.image"
BUILD_FORMAT = 1  # bump when the build procedure itself changes: forces every rebuild
SOURCE_ROOT = Path(__file__).resolve().parent.parent  # repo root, or site-packages
DEBOOTSTRAP_TIMEOUT_S = 900.0
TAR_TIMEOUT_S = 300.0
PIP_TIMEOUT_S = 300.0
BUILD_JOBS = 2  # debootstrap is mostly download and dpkg; two at a time suit two cores


@dataclass(frozen=True)
class ImageRecipe:
    """What goes into one image. `files` maps a path relative to the source root to an
    absolute path inside the image; each is copied with mode 0755."""

    name: str
    ref: str
    suite: str = "bookworm"
    packages: tuple[str, ...] = ()
    files: tuple[tuple[str, str], ...] = ()
    cmd: tuple[str, ...] = ("/bin/bash",)
    wheels: tuple[Wheel, ...] = ()


@dataclass(frozen=True)
class BuildResult:
    name: str
    ref: str
    hash: str
    built: bool  # False: an image with this hash was already there (or a user override)
    seconds: float


RECIPES: dict[str, ImageRecipe] = {
    r.name: r
    for r in (
        ImageRecipe(
            name="etcd",
            ref="chaos-eval/etcd:local",
            packages=("etcd-server", "etcd-client", "procps"),
            cmd=("/usr/bin/etcd",),
        ),
        ImageRecipe(
            name="helper",
            ref="chaos-eval/helper:local",
            packages=(
                "iproute2",
                "iptables",
                "netcat-openbsd",
                "iputils-ping",
                "python3-minimal",
                "procps",
                "util-linux",
            ),
            files=(("chaos/helper/shaper.py", "/usr/local/bin/chaos-eval-shaper"),),
            cmd=("sleep", "infinity"),
        ),
        ImageRecipe(
            name="redis",
            ref="chaos-eval/redis:local",
            packages=("redis-server", "redis-sentinel", "procps"),
            cmd=("/usr/bin/redis-server", "--protected-mode", "no"),
        ),
        ImageRecipe(  # the TiKV workload's raw-KV client, on the cluster network
            name="tikv-client",
            ref="chaos-eval/tikv-client:local",
            packages=("python3",),
            files=(("subjects/tikv_gateway.py", "/usr/local/bin/chaos-eval-tikv-gateway"),),
            wheels=(Wheel("tikv-client==0.0.4", "tikv_client.asynchronous"),),
            cmd=("/usr/local/bin/chaos-eval-tikv-gateway", "--pd=pd1:2379"),
        ),
    )
}


# Images no Debian package provides: name -> default ref, pinned (never `latest`). Present
# only if the user pulled or loaded them; never built.
EXTERNAL: dict[str, str] = {
    "pd": "pingcap/pd:v7.5.1",
    "tikv": "pingcap/tikv:v7.5.1",
}


def recipe(name: str) -> ImageRecipe:
    try:
        return RECIPES[name]
    except KeyError:
        known = ", ".join(sorted(RECIPES))
        raise ImageError(f"no image recipe {name!r} (known: {known})") from None


def _check_name(name: str) -> None:
    if name not in RECIPES and name not in EXTERNAL:
        known = ", ".join(sorted([*RECIPES, *EXTERNAL]))
        raise ImageError(f"no image {name!r} (known: {known})")


def override_var(name: str) -> str:
    """The environment variable that overrides image `name`'s ref: CHAOS_EVAL_IMAGE_ETCD."""
    return "CHAOS_EVAL_IMAGE_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def image_ref(name: str) -> str:
    """The image ref to run for `name`: the env override if set, else the recipe's ref (or
    the pinned default of an external image)."""
    override = os.environ.get(override_var(name))
    if override:
        return override
    if name in EXTERNAL:
        return EXTERNAL[name]
    return recipe(name).ref


def external_ref(name: str, version: str | None = None) -> str:
    """The ref of external image `name`: CHAOS_EVAL_IMAGE_<NAME> if set, else its pinned
    default, re-tagged `v<version>` when a subject's `version:` asks for another one."""
    override = os.environ.get(override_var(name))
    if override:
        return override
    if name not in EXTERNAL:
        raise ImageError(f"{name!r} is not an external image (known: {sorted(EXTERNAL)})")
    repo, _ = split_ref(EXTERNAL[name])
    return f"{repo}:v{version.removeprefix('v')}" if version else EXTERNAL[name]


def missing_images_message(refs: Sequence[str]) -> str:
    """What to tell the user when `refs` are absent: how to get each one. Pure."""
    buildable = {r.ref: r.name for r in RECIPES.values()}
    build = [buildable[r] for r in refs if r in buildable]
    fetch = [r for r in refs if r not in buildable]
    lines = [f"missing image{'s' if len(refs) > 1 else ''}: {', '.join(refs)}"]
    if build:
        lines.append(
            f"build {'them' if len(build) > 1 else 'it'}: chaos-eval images build {' '.join(build)}"
        )
    if fetch:
        lines.append(
            "chaos-eval cannot build "
            + ("these" if len(fetch) > 1 else "this")
            + "; pull where a registry is reachable: "
            + "; ".join(f"docker pull {r}" for r in fetch)
        )
        lines.append(
            f"or without a registry: docker save {' '.join(fetch)} -o images.tar (on a "
            "machine that has them), then here: docker load -i images.tar"
        )
        lines.append("(or point CHAOS_EVAL_IMAGE_<NAME> at images you have)")
    return "\n".join(lines)


async def require_images(refs: Iterable[str], docker: Docker) -> None:
    """ImageError naming every ref in `refs` that is not present, and how to get it."""
    wanted = list(dict.fromkeys(refs))
    present = await docker.images_present(wanted)
    missing = [r for r in wanted if not present[r]]
    if missing:
        raise ImageError(missing_images_message(missing))


# -- the recipe hash ------------------------------------------------------------------------


def _source(rel: str, root: Path) -> Path:
    path = (root / rel).resolve()
    if not path.is_file():
        raise ImageError(f"image file {rel} not found under {root}")
    return path


def recipe_hash(r: ImageRecipe, root: Path = SOURCE_ROOT) -> str:
    """sha256 over the canonical recipe and the bytes of every file it copies (the ref is
    where the image goes, not what is in it, so it is left out)."""
    canon = {
        "format": BUILD_FORMAT,
        "name": r.name,
        "suite": r.suite,
        "packages": sorted(r.packages),
        "files": [
            [src, dest, hashlib.sha256(_source(src, root).read_bytes()).hexdigest()]
            for src, dest in r.files
        ],
        "wheels": [[w.pin, w.module] for w in r.wheels],
        "cmd": list(r.cmd),
    }
    return hashlib.sha256(json.dumps(canon, sort_keys=True).encode()).hexdigest()


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
    env = {**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin:/sbin"}
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise ImageError(f"{what} did not finish within {timeout_s:.0f}s") from None
    except asyncio.CancelledError:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        tail = out.decode("utf-8", "replace").strip().splitlines()[-15:]
        raise ImageError(f"{what} exited {proc.returncode}:\n" + "\n".join(tail))


def _strip_caches(rootfs: Path) -> None:
    for deb in (rootfs / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()
    lists = rootfs / "var/lib/apt/lists"
    if lists.is_dir():
        for entry in lists.iterdir():
            if entry.is_file():
                entry.unlink()


def _copy_files(r: ImageRecipe, rootfs: Path, root: Path) -> None:
    for src, dest in r.files:
        if not dest.startswith("/") or ".." in Path(dest).parts:
            raise ImageError(f"recipe {r.name}: destination {dest!r} must be absolute")
        target = rootfs / dest.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_source(src, root), target)
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
    dest.mkdir()
    await _run(download_argv(r.wheels, dest, r.suite), PIP_TIMEOUT_S, "pip download")
    for wheel_file in sorted(dest.glob("*.whl")):
        unpack(wheel_file, rootfs)
    for w in r.wheels:
        await _run(import_check_argv(rootfs, w.module), 60.0, f"import {w.module} in the image")


async def build_image(
    r: ImageRecipe, docker: Docker, *, digest: str, root: Path = SOURCE_ROOT
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
        self._fd = os.open(self._path, os.O_CREAT | os.O_RDWR, 0o644)
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
        _check_name(name)  # unknown names fail before anything starts
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
