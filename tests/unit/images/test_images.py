"""images/recipes.py and images/build.py without Docker: apt source parsing, argv builders,
recipe hashing, refs."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos_eval.errors import ImageError
from chaos_eval.images import apt
from chaos_eval.images import build as image_build
from chaos_eval.images import recipes as images
from chaos_eval.images.apt import (
    parse_deb822_sources,
    parse_one_line_sources,
    pick_mirror,
    read_apt_sources,
)
from chaos_eval.images.build import debootstrap_argv, tar_argv
from chaos_eval.images.recipes import ImageRecipe, image_ref, recipe_hash

DEB822 = """\
Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# http://snapshot.example/archive/debian-security/20250520T000000Z
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""

DEB822_SECURITY_FIRST = """\
Types: deb deb-src
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main contrib

Enabled: no
Types: deb
URIs: http://disabled.example/debian
Suites: bookworm
Components: main

Types: deb
URIs:
 http://first.example/debian
 http://second.example/debian
Suites: bookworm
Components: main non-free-firmware
"""

ONE_LINE = """\
# deb http://commented.example/debian bookworm main
deb-src http://src.example/debian bookworm main
deb http://mirror.example/debian-security bookworm-security main
deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian/ bookworm main contrib
deb http://other.example/debian bookworm-updates main
"""


def test_deb822_picks_the_main_archive_not_security() -> None:
    sources = parse_deb822_sources(DEB822)
    assert [s.uri for s in sources] == [
        "http://mirror.example/debian",
        "http://mirror.example/debian-security",
    ]
    assert sources[0].suites == ("bookworm", "bookworm-updates")
    assert pick_mirror(sources, "bookworm") == "http://mirror.example/debian"


def test_deb822_skips_disabled_stanzas_and_reads_continuation_lines() -> None:
    sources = parse_deb822_sources(DEB822_SECURITY_FIRST)
    assert "http://disabled.example/debian" not in [s.uri for s in sources]
    assert pick_mirror(sources, "bookworm") == "http://first.example/debian"


def test_one_line_format_ignores_comments_options_and_deb_src() -> None:
    sources = parse_one_line_sources(ONE_LINE)
    assert [s.types for s in sources] == [("deb-src",), ("deb",), ("deb",), ("deb",)]
    assert sources[2].components == ("main", "contrib")
    # the trailing slash is dropped; deb-src and -security entries are not mirrors for us
    assert pick_mirror(sources, "bookworm") == "http://mirror.example/debian"


def test_no_usable_source_gives_none() -> None:
    assert pick_mirror(parse_one_line_sources("deb cdrom:[Debian]/ bookworm main\n")) is None
    assert pick_mirror(parse_deb822_sources(DEB822), "trixie") is None
    assert pick_mirror([], "bookworm") is None


def test_read_apt_sources_reads_both_formats(tmp_path: Path) -> None:
    listfile = tmp_path / "sources.list"
    listfile.write_text("deb http://old.example/debian bookworm-backports main\n")
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "debian.sources").write_text(DEB822)
    (d / "ignored.list.disabled").write_text("deb http://nope.example/debian bookworm main\n")
    found = read_apt_sources(listfile, d)
    assert found[0].uri == "http://old.example/debian"
    assert pick_mirror(found) == "http://mirror.example/debian"


def test_apt_mirror_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAOS_EVAL_MIRROR", "http://mirror.example/debian")
    assert apt.apt_mirror() == "http://mirror.example/debian"


def test_apt_mirror_unknown_is_an_image_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHAOS_EVAL_MIRROR", raising=False)
    monkeypatch.setattr(apt, "read_apt_sources", lambda: [])
    with pytest.raises(ImageError, match="CHAOS_EVAL_MIRROR"):
        apt.apt_mirror()


def test_debootstrap_argv() -> None:
    r = ImageRecipe(name="x", ref="chaos-eval/x:local", packages=("etcd-server", "procps"))
    argv = debootstrap_argv(r, Path("/tmp/root"), "http://mirror.example/debian")
    assert argv == [
        "debootstrap", "--variant=minbase", "--components=main",
        "--include=etcd-server,procps", "bookworm", "/tmp/root", "http://mirror.example/debian",
    ]
    assert "--include" not in " ".join(debootstrap_argv(ImageRecipe("y", "y:1"), Path("/r"), "m"))


def test_tar_argv_archives_the_tree_root() -> None:
    assert tar_argv(Path("/w/rootfs"), Path("/w/r.tar")) == [
        "tar", "--numeric-owner", "-C", "/w/rootfs", "-cf", "/w/r.tar", ".",
    ]


def _recipe_with_file(tmp_path: Path, content: bytes) -> tuple[ImageRecipe, Path]:
    (tmp_path / "tool.py").write_bytes(content)
    r = ImageRecipe(
        name="helper", ref="chaos-eval/helper:local", packages=("procps",),
        files=(("tool.py", "/usr/local/bin/tool"),), cmd=("sleep", "infinity"),
    )
    return r, tmp_path


def test_recipe_hash_follows_file_bytes(tmp_path: Path) -> None:
    r, root = _recipe_with_file(tmp_path, b"print('v1')\n")
    first = recipe_hash(r, root)
    assert recipe_hash(r, root) == first  # deterministic
    (root / "tool.py").write_bytes(b"print('v2')\n")
    assert recipe_hash(r, root) != first


def test_recipe_hash_follows_recipe_but_not_ref(tmp_path: Path) -> None:
    r, root = _recipe_with_file(tmp_path, b"x")
    base = recipe_hash(r, root)
    moved = ImageRecipe(r.name, "elsewhere/helper:2", r.suite, r.packages, r.files, r.cmd)
    assert recipe_hash(moved, root) == base
    more = ImageRecipe(r.name, r.ref, r.suite, (*r.packages, "curl"), r.files, r.cmd)
    assert recipe_hash(more, root) != base
    other_cmd = ImageRecipe(r.name, r.ref, r.suite, r.packages, r.files, ("/bin/bash",))
    assert recipe_hash(other_cmd, root) != base


def test_recipe_hash_missing_file_is_an_image_error(tmp_path: Path) -> None:
    r = ImageRecipe("h", "h:1", files=(("absent.py", "/usr/local/bin/absent"),))
    with pytest.raises(ImageError, match=r"absent\.py"):
        recipe_hash(r, tmp_path)


def test_builtin_recipes_hash_with_the_repo_files() -> None:
    for name in ("etcd", "helper", "redis"):
        assert len(recipe_hash(images.recipe(name))) == 64
    helper = images.recipe("helper")
    assert ("chaos/helper/shaper.py", "/usr/local/bin/chaos-eval-shaper") in helper.files
    assert {"iptables", "iproute2", "python3-minimal"} <= set(helper.packages)


def test_image_ref_default_and_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHAOS_EVAL_IMAGE_ETCD", raising=False)
    assert image_ref("etcd") == "chaos-eval/etcd:local"
    monkeypatch.setenv("CHAOS_EVAL_IMAGE_ETCD", "mine/etcd:3.4")
    assert image_ref("etcd") == "mine/etcd:3.4"
    with pytest.raises(ImageError, match="no image recipe"):
        image_ref("cassandra")


def test_preflight_refuses_non_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("chaos_eval.images.build.os.geteuid", lambda: 1000)
    with pytest.raises(ImageError, match="root"):
        image_build._preflight()
