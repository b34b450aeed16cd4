"""Class 1 of issue #11: output files never destroy what they were not made to replace.
`report -o` and `analyze --junit` refuse the results db (even with --force), any SQLite file
and any file that is not a previous output of theirs (without --force), with one line and
exit 2, leaving it as it was; a previous output is replaced; every write is atomic (a temp
file in the same directory, renamed), so a failed write leaves the old file and no debris."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.unit.cli import hostile
from tests.unit.cli.hostile import (
    FileState,
    assert_one_error,
    invoke,
    make_file,
    make_foreign_sqlite,
)

# the shared fixtures (tests/unit/cli/hostile.py): the fake subject, autouse in this module,
# and the results db made once per module
fake_subject = hostile.fake_subject
pristine = hostile.pristine


@pytest.fixture
def db(tmp_path: Path, pristine: Path) -> Path:
    return make_file(tmp_path / "eval.db", pristine.read_bytes())


def report(db: Path, out: Path, *more: str) -> list[str]:
    return ["report", "1", "--db", str(db), "-o", str(out), *more]


def junit(db: Path, out: Path, *more: str) -> list[str]:
    return ["analyze", "1", "--db", str(db), "--junit", str(out), *more]


WRITERS = {"report": report, "junit": junit}


def only_files(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


@pytest.mark.parametrize("writer", list(WRITERS))
@pytest.mark.parametrize("force", [False, True])
def test_the_results_db_is_never_overwritten(
    db: Path, tmp_path: Path, writer: str, force: bool
) -> None:
    make_file(db, db.read_bytes())
    before = FileState.of(db)
    args = WRITERS[writer](db, db, *(["--force"] if force else []))
    assert_one_error(invoke(*args), 2, str(db), "results database")
    assert FileState.of(db) == before
    link = tmp_path / "link.html"
    link.symlink_to(db)  # the same file by another name
    before = FileState.of(db)
    assert_one_error(invoke(*WRITERS[writer](db, link, "--force")), 2, "results database")
    assert FileState.of(db) == before and link.is_symlink()


@pytest.mark.parametrize("writer", list(WRITERS))
def test_another_sqlite_db_needs_force(db: Path, tmp_path: Path, writer: str) -> None:
    other = make_foreign_sqlite(tmp_path / "other.db")
    make_file(other, other.read_bytes())
    before = FileState.of(other)
    assert_one_error(invoke(*WRITERS[writer](db, other)), 2, str(other), "SQLite", "--force")
    assert FileState.of(other) == before


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_file_that_is_not_ours_needs_force(db: Path, tmp_path: Path, writer: str) -> None:
    notes = make_file(tmp_path / "notes.txt", b"my notes, not a report\n")
    before = FileState.of(notes)
    res = invoke(*WRITERS[writer](db, notes))
    assert_one_error(res, 2, str(notes), "not a", "--force")
    assert FileState.of(notes) == before
    res = invoke(*WRITERS[writer](db, notes, "--force"))
    assert res.exit_code == 0, res.output
    assert notes.read_bytes() != before.data


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_previous_output_is_replaced_atomically(
    db: Path, tmp_path: Path, writer: str
) -> None:
    out = tmp_path / "out" / "result.file"
    out.parent.mkdir()
    assert invoke(*WRITERS[writer](db, out)).exit_code == 0
    first = out.read_bytes()
    make_file(out, first)
    os.chmod(out, 0o600)
    res = invoke(*WRITERS[writer](db, out))
    assert res.exit_code == 0, res.output
    assert out.stat().st_mtime_ns != 1_000_000_000  # written again
    assert only_files(out.parent) == ["result.file"]  # no temporary file left behind
    assert stat.S_IMODE(out.stat().st_mode) & 0o044  # a normal file's mode, not mkstemp's 0600


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_failed_write_leaves_the_old_output_and_no_debris(
    db: Path, tmp_path: Path, writer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out" / "result.file"
    out.parent.mkdir()
    assert invoke(*WRITERS[writer](db, out)).exit_code == 0
    before = FileState.of(out)

    def no_space(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    res = invoke(*WRITERS[writer](db, out))
    assert_one_error(res, 2, str(out), "No space left on device")
    assert FileState.of(out) == before


@pytest.mark.parametrize("writer", list(WRITERS))
@pytest.mark.parametrize("where", ["missing-dir", "a-directory", "unwritable-dir"])
def test_an_unusable_output_path_is_one_line(
    db: Path, tmp_path: Path, writer: str, where: str
) -> None:
    target = {
        "missing-dir": tmp_path / "no" / "such" / "dir" / "out.xml",
        "a-directory": tmp_path,
        "unwritable-dir": Path("/proc/out.xml"),  # unwritable even for root
    }[where]
    res = invoke(*WRITERS[writer](db, target, "--force"))
    assert_one_error(res, 2, str(target))
    assert not (tmp_path / "no").exists()


def test_run_and_analyze_help_name_force() -> None:
    assert "--force" in invoke("report", "--help").output
    assert "--force" in invoke("analyze", "--help").output


def bundle(db: Path, out: Path, *more: str) -> list[str]:
    import sqlite3

    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        (key,) = c.execute("SELECT key FROM trials ORDER BY id LIMIT 1").fetchone()
    return ["bundle", "1", key, "--db", str(db), "-o", str(out), *more]


@pytest.mark.parametrize("force", [False, True])
def test_a_bundle_never_overwrites_the_results_db(db: Path, force: bool) -> None:
    before = FileState.of(db)
    assert_one_error(invoke(*bundle(db, db, *(["--force"] if force else []))), 2,
                     str(db), "results database")
    assert FileState.of(db) == before


def test_a_bundle_replaces_an_existing_file_only_with_force(db: Path, tmp_path: Path) -> None:
    out = make_file(tmp_path / "notes.txt", b"mine")
    assert_one_error(invoke(*bundle(db, out)), 2, str(out), "--force")
    assert out.read_bytes() == b"mine"
    assert invoke(*bundle(db, out, "--force")).exit_code == 0
    assert out.read_bytes()[:2] == b"\x1f\x8b"  # a gzip stream now
