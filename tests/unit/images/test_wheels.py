"""chaos_eval.images.wheels without a network: pins, the pip argv, and unpacking a wheel safely."""

from __future__ import annotations

import itertools
import sys
import zipfile
from pathlib import Path

import pytest

from chaos_eval.errors import ImageError
from chaos_eval.images import recipes as images
from chaos_eval.images.wheels import (
    SITE_PACKAGES,
    Wheel,
    download_argv,
    import_check_argv,
    unpack,
)


def test_wheels_must_be_pinned_exactly_with_a_module_name() -> None:
    assert Wheel("tikv-client==0.0.4", "tikv_client.asynchronous").pin == "tikv-client==0.0.4"
    for pin in ("tikv-client", "tikv-client>=0.0.4", "tikv-client==0.0.4; rm -rf /",
                "--index-url=x==1", "tikv-client==latest"):
        with pytest.raises(ImageError, match="pinned exactly"):
            Wheel(pin, "tikv_client")
    for module in ("tikv_client; import os", "os.system('x')", "", "a..b"):
        with pytest.raises(ImageError, match="module name"):
            Wheel("tikv-client==0.0.4", module)


def test_download_argv_targets_the_image_python_not_the_host(tmp_path: Path) -> None:
    argv = download_argv((Wheel("tikv-client==0.0.4", "tikv_client"),), tmp_path, "bookworm",
                         machine="x86_64")
    assert argv[:4] == [sys.executable, "-m", "pip", "download"]
    flags = dict(itertools.pairwise(argv))
    assert flags["--python-version"] == "3.11"
    assert flags["--platform"] == "manylinux2014_x86_64"
    assert flags["--implementation"] == "cp"
    assert flags["--dest"] == str(tmp_path)
    assert {"--no-deps", "--only-binary=:all:"} <= set(argv)
    assert argv[-1] == "tikv-client==0.0.4"
    with pytest.raises(ImageError, match="suite"):
        download_argv((), tmp_path, "sid")


def test_import_check_runs_the_image_python_under_chroot(tmp_path: Path) -> None:
    assert import_check_argv(tmp_path, "tikv_client.asynchronous") == [
        "chroot", str(tmp_path), "/usr/bin/python3", "-c", "import tikv_client.asynchronous"]
    with pytest.raises(ImageError):
        import_check_argv(tmp_path, "x; import os")


def _wheel(tmp_path: Path, members: dict[str, bytes]) -> Path:
    path = tmp_path / "pkg-1.0-cp311-cp311-manylinux2014_x86_64.whl"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def test_unpack_into_dist_packages(tmp_path: Path) -> None:
    whl = _wheel(tmp_path, {"pkg/__init__.py": b"X = 1\n", "pkg/core.cpython-311.so": b"\x7fELF",
                            "pkg-1.0.dist-info/METADATA": b"Name: pkg\n"})
    rootfs = tmp_path / "rootfs"
    written = unpack(whl, rootfs)
    site = rootfs / SITE_PACKAGES
    assert sorted(written) == ["pkg-1.0.dist-info/METADATA", "pkg/__init__.py",
                               "pkg/core.cpython-311.so"]
    assert (site / "pkg/__init__.py").read_bytes() == b"X = 1\n"
    assert (site / "pkg/core.cpython-311.so").stat().st_mode & 0o777 == 0o755
    assert (site / "pkg/__init__.py").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("member", ["../../etc/passwd", "/etc/passwd", "pkg-1.0.data/scripts/x"])
def test_unpack_refuses_members_outside_the_package_directory(tmp_path: Path,
                                                              member: str) -> None:
    rootfs = tmp_path / "rootfs"
    with pytest.raises(ImageError, match=member.split("/")[-1]):
        unpack(_wheel(tmp_path, {member: b"x"}), rootfs)
    assert not (tmp_path / "etc").exists()


def test_the_tikv_client_recipe_pins_its_wheel_and_ships_the_gateway() -> None:
    r = images.recipe("tikv-client")
    assert r.wheels == (Wheel("tikv-client==0.0.4", "tikv_client.asynchronous"),)
    assert ("subjects/tikv/gateway.py", "/usr/local/bin/chaos-eval-tikv-gateway") in r.files
    assert "python3" in r.packages
    before = images.recipe_hash(r)
    bumped = images.ImageRecipe(r.name, r.ref, r.suite, r.packages, r.files, r.cmd,
                                (Wheel("tikv-client==0.0.3", "tikv_client"),))
    assert images.recipe_hash(bumped) != before  # a new pin rebuilds the image
