"""chaos_eval.images.wheels without a network: pins, the pip argv, and unpacking a wheel safely."""

from __future__ import annotations

import hashlib
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
    requirements,
    unpack,
    verified,
)

H1, H2 = "a" * 64, "0123456789abcdef" * 4
PINNED = (("x86_64", H1),)


def test_wheels_must_be_pinned_exactly_with_a_module_name() -> None:
    assert Wheel("tikv-client==0.0.4", "tikv_client.asynchronous", PINNED).pin == (
        "tikv-client==0.0.4")
    for pin in ("tikv-client", "tikv-client>=0.0.4", "tikv-client==0.0.4; rm -rf /",
                "--index-url=x==1", "tikv-client==latest"):
        with pytest.raises(ImageError, match="pinned exactly"):
            Wheel(pin, "tikv_client", PINNED)
    for module in ("tikv_client; import os", "os.system('x')", "", "a..b"):
        with pytest.raises(ImageError, match="module name"):
            Wheel("tikv-client==0.0.4", module, PINNED)


@pytest.mark.parametrize(("pins", "match"), [
    ((), "no sha256 pinned"),
    ((("x86_64", "A" * 64),), "64 lowercase hex"),  # upper case: not what sha256sum prints
    ((("x86_64", "a" * 63),), "64 lowercase hex"),
    ((("x86_64", H1 + " --index-url=x"),), "64 lowercase hex"),
    ((("x86_64", "md5:" + "a" * 60),), "64 lowercase hex"),
    ((("riscv64", H1),), "must be one of"),
    ((("x86_64", H1), ("x86_64", H2)), "pinned once"),
])
def test_the_sha256_pin_format_is_validated(pins: tuple[tuple[str, str], ...],
                                            match: str) -> None:
    with pytest.raises(ImageError, match=match):
        Wheel("tikv-client==0.0.4", "tikv_client", pins)


def test_a_platform_without_a_pinned_hash_is_refused_before_any_download() -> None:
    w = Wheel("tikv-client==0.0.4", "tikv_client", PINNED)
    assert requirements((w,), "x86_64") == f"tikv-client==0.0.4 --hash=sha256:{H1}\n"
    with pytest.raises(ImageError, match=r"no sha256 pinned for platform 'aarch64'.*unverified"):
        requirements((w,), "aarch64")


def test_download_argv_targets_the_image_python_not_the_host(tmp_path: Path) -> None:
    req = tmp_path / "wheels.txt"
    argv = download_argv(req, tmp_path, "bookworm", machine="x86_64")
    assert argv[:4] == [sys.executable, "-m", "pip", "download"]
    flags = dict(itertools.pairwise(argv))
    assert flags["--python-version"] == "3.11"
    assert flags["--platform"] == "manylinux2014_x86_64"
    assert flags["--implementation"] == "cp"
    assert flags["--dest"] == str(tmp_path)
    assert flags["--requirement"] == str(req)
    assert {"--no-deps", "--only-binary=:all:", "--require-hashes"} <= set(argv)
    with pytest.raises(ImageError, match="suite"):
        download_argv(req, tmp_path, "sid", "x86_64")
    with pytest.raises(ImageError, match="platform 'riscv64'"):
        download_argv(req, tmp_path, "bookworm", "riscv64")


def _downloaded(tmp_path: Path, data: bytes) -> tuple[Path, str]:
    dest = tmp_path / "dl"
    dest.mkdir(exist_ok=True)
    (dest / "tikv_client-0.0.4-cp311-cp311-manylinux2014_x86_64.whl").write_bytes(data)
    return dest, hashlib.sha256(data).hexdigest()


def test_a_downloaded_wheel_matching_its_pin_is_accepted(tmp_path: Path) -> None:
    dest, digest = _downloaded(tmp_path, b"the pinned wheel")
    w = Wheel("tikv-client==0.0.4", "tikv_client", (("x86_64", digest),))
    assert [p.name for p in verified(dest, (w,), "x86_64")] == [
        "tikv_client-0.0.4-cp311-cp311-manylinux2014_x86_64.whl"]


def test_a_downloaded_wheel_with_another_hash_is_refused_before_unpacking(
    tmp_path: Path,
) -> None:
    dest, digest = _downloaded(tmp_path, b"a tampered wheel")
    w = Wheel("tikv-client==0.0.4", "tikv_client", PINNED)
    with pytest.raises(ImageError, match=rf"tikv_client-0.0.4.*sha256 {digest} matches no "
                                         r"pinned wheel.*refusing to unpack"):
        verified(dest, (w,), "x86_64")


def test_a_missing_or_stray_download_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    w = Wheel("tikv-client==0.0.4", "tikv_client", PINNED)
    with pytest.raises(ImageError, match="not downloaded"):
        verified(empty, (w,), "x86_64")
    dest, digest = _downloaded(tmp_path, b"the pinned wheel")
    (dest / "extra-1.0-py3-none-any.whl").write_bytes(b"pulled in")
    w = Wheel("tikv-client==0.0.4", "tikv_client", (("x86_64", digest),))
    with pytest.raises(ImageError, match=r"extra-1\.0"):
        verified(dest, (w,), "x86_64")


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
    (wheel,) = r.wheels
    assert (wheel.pin, wheel.module) == ("tikv-client==0.0.4", "tikv_client.asynchronous")
    assert len(wheel.sha256_for("x86_64")) == 64
    assert ("subjects/tikv/gateway.py", "/usr/local/bin/chaos-eval-tikv-gateway") in r.files
    assert "python3" in r.packages
    before = images.recipe_hash(r)
    bumped = images.ImageRecipe(r.name, r.ref, r.suite, r.packages, r.files, r.cmd,
                                (Wheel("tikv-client==0.0.3", "tikv_client", PINNED),))
    assert images.recipe_hash(bumped) != before  # a new pin rebuilds the image
    rehashed = images.ImageRecipe(r.name, r.ref, r.suite, r.packages, r.files, r.cmd,
                                  (Wheel(wheel.pin, wheel.module, (("x86_64", H2),)),))
    assert images.recipe_hash(rehashed) != before  # so does a new file hash
