"""What every hostile-input test of the CLI checks: a file left exactly as it was, one clear
error line, the documented exit code, never a traceback; the files those tests start from
(real SQLite files: a chaos-eval db, an empty file, an empty SQLite file, a foreign one); and
the fixtures they share (imported by the modules that use them, so they apply there only:
`from tests.unit.cli.hostile import fake_subject, pristine`)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from chaos_eval.cli.app import app
from chaos_eval.spec import registry
from tests.unit.fakes import Tracker
from tests.unit.run.test_harness import doc, run

runner = CliRunner()


@pytest.fixture(autouse=True)
def fake_subject(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The fake subject registered, its tracker reset (autouse in a module that imports it)."""
    monkeypatch.setitem(registry.SUBJECTS, "fake", "tests.unit.fakes:FakeSubject")
    Tracker.reset()
    yield


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results db with one finished campaign, made once per module; copy it, never edit it."""
    mp = pytest.MonkeyPatch()
    mp.setitem(registry.SUBJECTS, "fake", "tests.unit.fakes:FakeSubject")
    Tracker.reset()  # made before any test's own reset: not with what an earlier module left
    try:
        return make_results_db(tmp_path_factory.mktemp("pristine") / "eval.db", parallel=2)
    finally:
        mp.undo()


def invoke(*args: str) -> Any:
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@dataclass(frozen=True)
class FileState:
    """A file's bytes, mtime and mode, and which files sit next to it. Next to a WAL-mode
    SQLite db, SQLite's own -wal and -shm are not counted: any reader of a WAL db needs them
    (a live runner has them already), and they are not the db."""

    data: bytes
    mtime_ns: int
    mode: int
    siblings: frozenset[str]

    @classmethod
    def of(cls, path: Path) -> FileState:
        st = path.stat()
        return cls(path.read_bytes(), st.st_mtime_ns, st.st_mode, siblings(path))


def siblings(path: Path) -> frozenset[str]:
    names = frozenset(p.name for p in path.parent.iterdir())
    wal_dbs = [n for n in names if (path.parent / n).is_file() and journal_is_wal(path.parent / n)]
    return names - {f"{n}-{side}" for n in wal_dbs for side in ("wal", "shm")}


def error_lines(output: str) -> list[str]:
    return [ln for ln in output.splitlines() if ln.startswith("error:")]


def assert_one_error(res: Any, code: int, *needles: str) -> str:
    """Exit `code`, exactly one `error:` line holding every needle, no traceback."""
    assert res.exit_code == code, res.output
    assert "Traceback" not in res.output, res.output
    lines = error_lines(res.output)
    assert len(lines) == 1, res.output
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def make_results_db(path: Path, **over: Any) -> Path:
    """A real eval.db holding one finished campaign run through the real harness."""
    from chaos_eval.store.store import Store

    async def make() -> None:
        async with await Store.open(path) as store:
            await run(store, doc(**over))

    asyncio.run(make())
    return path


def make_empty_sqlite(path: Path) -> Path:
    """A valid SQLite file with no tables (what `sqlite3 x.db VACUUM` leaves)."""
    con = sqlite3.connect(path)
    con.execute("VACUUM")
    con.close()
    assert path.stat().st_size > 0
    return path


def make_foreign_sqlite(path: Path) -> Path:
    """Somebody else's SQLite file, in rollback-journal mode."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
    con.execute("INSERT INTO invoices(amount) VALUES (12.5)")
    con.commit()
    con.close()
    return path


def journal_is_wal(path: Path) -> bool:
    """Bytes 18-19 of an SQLite header are 2 in WAL mode, 1 in rollback mode."""
    with path.open("rb") as f:
        header = f.read(20)
    return header.startswith(b"SQLite format 3\x00") and header[18:20] == b"\x02\x02"


def make_file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))  # an mtime a write would change
    return path
