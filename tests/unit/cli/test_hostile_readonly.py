"""Class 2 of issue #11: read commands never write. Each read command, pointed at a missing
path, an empty file, an empty SQLite file, a foreign SQLite file or a read-only chaos-eval
db, leaves that file exactly as it was (bytes, mtime, no new files next to it unless SQLite's
own -wal/-shm of a WAL db), and refuses what is not a chaos-eval db with one line, exit 2.
Writers (resume, rerun, gc) open only an existing chaos-eval db: their lookups never turn an
empty or foreign file into one."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaos_eval.spec import registry
from tests.unit.cli import hostile
from tests.unit.cli.hostile import (
    FileState,
    assert_one_error,
    invoke,
    journal_is_wal,
    make_empty_sqlite,
    make_file,
    make_foreign_sqlite,
)
from tests.unit.fakes import Tracker
from tests.unit.run.test_harness import doc

pristine = hostile.pristine  # the results db shared with the other hostile tests


class LabelsOnlyDocker:
    """gc --dry-run needs the labelled resources and nothing else."""

    async def label_values(self, label: str) -> dict[str, Any]:
        return {}

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"Docker.{name} called")


@pytest.fixture(autouse=True)
def fake_subject(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(registry.SUBJECTS, "fake", "tests.unit.fakes:FakeSubject")
    monkeypatch.setattr("chaos_eval.engine.client.Docker", LabelsOnlyDocker)
    Tracker.reset()
    yield


def read_commands(db: Path, out: Path) -> dict[str, list[str]]:
    return {
        "analyze": ["analyze", "1", "--db", str(db)],
        "analyze-json": ["analyze", "1", "--db", str(db), "-f", "json"],
        "status": ["status", "--db", str(db)],
        "status-one": ["status", "1", "--db", str(db)],
        "report": ["report", "1", "-o", str(out), "--db", str(db)],
        "compare": ["compare", "1", "1", "--db", str(db)],
        "gc-dry-run": ["gc", "--dry-run", "--db", str(db)],
    }


WRITERS = {
    "resume": ["resume", "1", "--skip-image-build"],
    "rerun": ["rerun", "1", "abcdef12", "--skip-image-build"],
    "gc": ["gc"],
}
READERS = list(read_commands(Path(), Path()))

Maker = Callable[[Path], Path]
NOT_A_DB: dict[str, tuple[Maker, str]] = {
    "empty-file": (lambda p: make_file(p, b""), "empty"),
    "empty-sqlite": (lambda p: make_file(make_empty_sqlite(p), p.read_bytes()), "no tables"),
    "foreign-sqlite": (
        lambda p: make_file(make_foreign_sqlite(p), p.read_bytes()),
        "not made by chaos-eval",
    ),
    "text-file": (lambda p: make_file(p, b"name: not a database\n" * 50), "not"),
}


def _args(cmd: str, db: Path, out: Path) -> list[str]:
    if cmd in WRITERS:
        return [*WRITERS[cmd], "--db", str(db)]
    return read_commands(db, out)[cmd]


@pytest.mark.parametrize("cmd", READERS + list(WRITERS))
def test_missing_db_is_refused_and_not_created(tmp_path: Path, cmd: str) -> None:
    db = tmp_path / "nothing-here.db"
    res = invoke(*_args(cmd, db, tmp_path / "r.html"))
    assert_one_error(res, 2, str(db), "no such database")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", list(NOT_A_DB))
@pytest.mark.parametrize("cmd", READERS + list(WRITERS))
def test_what_is_not_a_chaos_eval_db_is_refused_untouched(
    tmp_path: Path, cmd: str, kind: str
) -> None:
    make, needle = NOT_A_DB[kind]
    db = make(tmp_path / "eval.db")
    was_wal = journal_is_wal(db) if db.stat().st_size else False
    before = FileState.of(db)
    res = invoke(*_args(cmd, db, tmp_path / "r.html"))
    assert_one_error(res, 2, str(db), needle)
    assert FileState.of(db) == before, "the file was changed"
    assert not was_wal and (db.stat().st_size == 0 or not journal_is_wal(db))
    assert not (tmp_path / "r.html").exists()


def test_foreign_sqlite_is_not_switched_to_wal(tmp_path: Path) -> None:
    db = make_foreign_sqlite(tmp_path / "theirs.db")
    for args in read_commands(db, tmp_path / "r.html").values():
        invoke(*args)
    res = invoke(
        "run", "campaign", str(_campaign(tmp_path)), "--db", str(db), "--skip-image-build"
    )
    assert_one_error(res, 2, str(db), "not made by chaos-eval")
    assert not journal_is_wal(db)
    con = sqlite3.connect(db)
    assert con.execute("SELECT amount FROM invoices").fetchall() == [(12.5,)]
    assert {r[0] for r in con.execute("SELECT name FROM sqlite_master")} == {"invoices"}
    con.close()


@pytest.mark.parametrize("cmd", READERS)
def test_read_only_db_is_read_and_left_as_it_was(
    tmp_path: Path, pristine: Path, cmd: str
) -> None:
    db = tmp_path / "eval.db"
    db.write_bytes(pristine.read_bytes())
    make_file(db, db.read_bytes())
    db.chmod(0o444)
    before = FileState.of(db)
    out = tmp_path / "r.html"
    res = invoke(*read_commands(db, out)[cmd])
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    after = FileState.of(db)
    assert (after.data, after.mtime_ns, after.mode) == (before.data, before.mtime_ns, before.mode)
    assert stat.S_IMODE(db.stat().st_mode) == 0o444
    # A reader of a WAL db needs SQLite's -shm (and -wal) next to it, as a live runner has
    # them; nothing else appears, and the -wal stays empty.
    new = after.siblings - before.siblings - {"r.html"}
    assert new <= {"eval.db-wal", "eval.db-shm"}, new
    assert not (tmp_path / "eval.db-wal").exists() or not (tmp_path / "eval.db-wal").stat().st_size
    assert out.exists() == (cmd == "report")


def test_read_commands_do_not_migrate_an_old_db(tmp_path: Path, pristine: Path) -> None:
    """A db written before migration 0002: read commands refuse it, naming what migrates it,
    and leave it as it was."""
    db = tmp_path / "old.db"
    db.write_bytes(pristine.read_bytes())
    con = sqlite3.connect(db)
    con.execute("DELETE FROM _migrations WHERE name = '0002_rerun_of'")
    con.execute("ALTER TABLE campaigns DROP COLUMN rerun_of")
    con.commit()
    con.close()
    make_file(db, db.read_bytes())
    before = FileState.of(db)
    for args in read_commands(db, tmp_path / "r.html").values():
        res = invoke(*args)
        assert_one_error(res, 2, str(db), "older chaos-eval", "resume")
        assert FileState.of(db) == before


def _stale(db: Path) -> None:
    con = sqlite3.connect(db)
    con.execute(
        "UPDATE campaigns SET status = 'running', lease_token = 't', lease_pid = 1,"
        " lease_host = 'elsewhere', lease_heartbeat = ?",
        (time.time() - 3600,),
    )
    con.commit()
    con.close()


def test_status_flags_a_stale_campaign_without_writing(tmp_path: Path, pristine: Path) -> None:
    db = tmp_path / "eval.db"
    db.write_bytes(pristine.read_bytes())
    _stale(db)
    make_file(db, db.read_bytes())
    before = FileState.of(db)
    res = invoke("status", "--db", str(db), "-f", "json")
    assert res.exit_code == 0, res.output
    assert '"stale"' in res.output
    assert FileState.of(db) == before
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM events WHERE kind LIKE 'flag_%'").fetchone() == (0,)
    con.close()


def test_status_reads_while_a_runner_holds_the_write_lock(
    tmp_path: Path, pristine: Path
) -> None:
    db = tmp_path / "eval.db"
    db.write_bytes(pristine.read_bytes())
    _stale(db)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("PRAGMA journal_mode = WAL")
    holder.execute("BEGIN IMMEDIATE")  # a runner mid-write
    holder.execute("INSERT INTO events(campaign_id, at, kind) VALUES (1, 0, 'runner')")
    try:
        res = invoke("status", "--db", str(db), "-f", "json")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert res.exit_code == 0, res.output
    assert "locked" not in res.output and '"stale"' in res.output


def _campaign(tmp_path: Path, **over: Any) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(doc(**over)))
    return p


@pytest.mark.parametrize(
    "bad",
    [
        "name: x\nsubjects: [etcd]\nchaos_types: [{type: latency, params: {}}]\n",
        "name: [unclosed\n",
        "",
    ],
)
def test_run_with_a_bad_file_creates_no_db(tmp_path: Path, bad: str) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(bad)
    db = tmp_path / "new.db"
    res = invoke("run", "campaign", str(p), "--db", str(db), "--skip-image-build")
    assert_one_error(res, 2, str(p))
    assert not db.exists() and sorted(x.name for x in tmp_path.iterdir()) == ["bad.yaml"]


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root+setpriv")
@pytest.mark.parametrize("cmd", ["status", "analyze", "report"])
def test_another_user_reads_a_db_in_a_directory_it_may_not_write(
    pristine: Path, cmd: str
) -> None:
    """A read-only WAL db in a read-only directory (results handed to another user): SQLite
    cannot create its -shm there, so the reader opens it immutable; it used to be refused
    ('attempt to write a readonly database')."""
    d = Path(tempfile.mkdtemp(prefix="chaos-eval-ro-"))
    try:
        d.chmod(0o555)  # nobody may write here, its owner included (no capabilities below)
        db = make_file(d / "eval.db", pristine.read_bytes())
        db.chmod(0o444)
        before = FileState.of(db)
        out = Path(tempfile.mkdtemp(prefix="chaos-eval-out-"))
        out.chmod(0o777)
        args = {
            "status": ["status"],
            "analyze": ["analyze", "1", "-f", "json"],
            "report": ["report", "1", "-o", str(out / "r.html")],
        }[cmd]
        res = subprocess.run(
            # as a user the file modes bind: root without a single capability (no
            # CAP_DAC_OVERRIDE) rather than another uid, which could not reach a checkout or
            # venv in a private directory (a `mktemp -d` clone is 0700)
            ["setpriv", "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all",
             sys.executable, "-m", "chaos_eval", *args, "--db", str(db)],
            capture_output=True, text=True, timeout=120, cwd="/",
        )  # fmt: skip
        assert res.returncode == 0, res.stdout + res.stderr
        assert "Traceback" not in res.stderr
        assert FileState.of(db) == before
        assert sorted(p.name for p in d.iterdir()) == ["eval.db"]
        shutil.rmtree(out)
    finally:
        shutil.rmtree(d)
