"""Images without a registry: which images chaos-eval runs, and whether they are current.

Nothing can be pulled on the machines chaos-eval runs on, so every image it uses is built
locally from a small `ImageRecipe`: debootstrap a minimal Debian suite with the recipe's
packages from the mirror the machine's apt already uses, drop the package caches, copy the
recipe's files in, unpack any pinned Python wheels Debian does not package (eval/images/wheels.py),
and stream the tree into the engine (`Docker.import_image`). The building, and
`ensure_images`, are eval/images/build.py; the recipes, refs and hashes are here.

Each image carries `chaos-eval.recipe=<recipe_hash>`; `ensure_images` rebuilds only when
that hash changes (the hash covers the recipe and the bytes of every copied file), or when
asked to `force`. A ref named by `CHAOS_EVAL_IMAGE_<NAME>` is the user's own image: it is
checked for presence and never built.

Some images cannot be built from Debian packages (TiKV's `pd` and `tikv`): they are
`EXTERNAL`, pinned refs the user pulls or loads. `ensure_images` and `require_images` only
check that they are present and, when they are not, say which ones and how to get them.

Environment: CHAOS_EVAL_IMAGE_<NAME> (use this ref instead).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from chaos_eval.engine.client import Docker
from chaos_eval.engine.containers import split_ref
from chaos_eval.errors import ImageError
from chaos_eval.images.wheels import Wheel
from chaos_eval.resources import shipped

LABEL_RECIPE = "chaos-eval.recipe"
LABEL_IMAGE = "chaos-eval.image"
BUILD_FORMAT = 1  # bump when the build procedure itself changes: forces every rebuild


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


# The exact wheel file (cp311, manylinux2014), by its sha256; no aarch64 wheel of this
# version exists, so that platform is refused when the image is built.
TIKV_CLIENT_WHEEL = Wheel(
    "tikv-client==0.0.4",
    "tikv_client.asynchronous",
    sha256=(("x86_64", "e3ff1c4dbd7188fbc8609b5106194042583b164614db344a7ae6204527423341"),),
)

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
            files=(("subjects/tikv/gateway.py", "/usr/local/bin/chaos-eval-tikv-gateway"),),
            wheels=(TIKV_CLIENT_WHEEL,),
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


def check_name(name: str) -> None:
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


def source_file(rel: str, root: Path | None = None) -> Path:
    """A file a recipe copies: shipped with chaos-eval (eval/resources.py), or under `root`."""
    path = shipped(rel) if root is None else (root / rel).resolve()
    if not path.is_file():
        raise ImageError(f"image file {rel} not found ({path})")
    return path


def recipe_hash(r: ImageRecipe, root: Path | None = None) -> str:
    """sha256 over the canonical recipe and the bytes of every file it copies (the ref is
    where the image goes, not what is in it, so it is left out)."""
    canon = {
        "format": BUILD_FORMAT,
        "name": r.name,
        "suite": r.suite,
        "packages": sorted(r.packages),
        "files": [
            [src, dest, hashlib.sha256(source_file(src, root).read_bytes()).hexdigest()]
            for src, dest in r.files
        ],
        "wheels": [[w.pin, w.module, [list(h) for h in w.sha256]] for w in r.wheels],
        "cmd": list(r.cmd),
    }
    return hashlib.sha256(json.dumps(canon, sort_keys=True).encode()).hexdigest()
