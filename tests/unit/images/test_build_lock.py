"""Issue #11 class 10: the image build lock lives at a predictable path; it is opened with
O_NOFOLLOW (a symlink planted there is refused, its target untouched) and O_CLOEXEC (no
child process inherits it)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from chaos_eval.errors import ImageError
from chaos_eval.images import build


@pytest.fixture
def build_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(build, "_build_dir", lambda: tmp_path)
    return tmp_path


async def test_a_symlink_at_the_lock_path_is_refused(build_dir: Path) -> None:
    victim = build_dir / "precious.conf"
    victim.write_text("do not truncate or lock me\n")
    os.utime(victim, ns=(1_000_000_000, 1_000_000_000))
    (build_dir / "chaos-eval-image-etcd.lock").symlink_to(victim)
    with pytest.raises(ImageError, match=r"chaos-eval-image-etcd\.lock.*symbolic link"):
        async with build._BuildLock("etcd"):
            pytest.fail("the lock was taken through a symlink")
    assert victim.read_text() == "do not truncate or lock me\n"
    assert victim.stat().st_mtime_ns == 1_000_000_000


async def test_something_that_is_not_a_file_is_refused(build_dir: Path) -> None:
    os.mkfifo(build_dir / "chaos-eval-image-etcd.lock")
    with pytest.raises(ImageError, match="not a regular file"):
        async with build._BuildLock("etcd"):
            pytest.fail("the lock was taken on a fifo")


async def test_the_lock_is_a_plain_file_not_inherited_by_children(build_dir: Path) -> None:
    lock = build._BuildLock("etcd")
    async with lock:
        fd = lock._fd
        assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        assert (build_dir / "chaos-eval-image-etcd.lock").is_file()
    async with build._BuildLock("etcd"):  # released: taken again at once
        pass
