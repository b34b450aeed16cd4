"""Migration 0010 (eval/store/migrations.py's TRIAL_RESULTS): the index `trials_results` holds
every column the read commands stream of a trial, so the read never walks a trial's row. A
writer adds it to a db that has 0009; a read command on a db without it reads the rows, gives
the same bytes (test_streamed_outputs.py's digests) and leaves the file as it was."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from chaos_eval.store.access import Access
from chaos_eval.store.results import RESULT_COLUMNS
from chaos_eval.store.store import Store
from tests.unit.analysis.synthetic_db import make_synthetic_db
from tests.unit.analysis.test_streamed_outputs import GOLDEN, outputs

RESULTS = f"SELECT {RESULT_COLUMNS} FROM trials WHERE campaign_id = ? ORDER BY ordinal"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_db(tmp_path_factory.mktemp("results-index") / "eval.db")


def _as_of_0009(made: Path, tmp_path: Path) -> Path:
    """A copy of the db as chaos-eval left it before 0010: no index, no row for it."""
    db = tmp_path / "eval.db"
    shutil.copy(made, db)
    con = sqlite3.connect(db)
    con.execute("DROP INDEX trials_results")
    con.execute("DELETE FROM _migrations WHERE name = '0010_trial_results'")
    con.commit()
    con.execute("PRAGMA journal_mode = DELETE")  # one file: its bytes are the whole db
    con.close()
    return db


def _plan(db: Path) -> str:
    con = sqlite3.connect(db)
    try:
        return " ".join(str(r[-1]) for r in con.execute(f"EXPLAIN QUERY PLAN {RESULTS}", (1,)))
    finally:
        con.close()


def _migrations(db: Path) -> list[str]:
    con = sqlite3.connect(db)
    try:
        return [str(r[0]) for r in con.execute("SELECT name FROM _migrations ORDER BY name")]
    finally:
        con.close()


def test_a_new_db_streams_results_from_the_index(made: Path) -> None:
    assert "USING INDEX trials_results" in _plan(made)


def test_a_writer_adds_the_index_to_a_db_that_has_0009(made: Path, tmp_path: Path) -> None:
    db = _as_of_0009(made, tmp_path)
    assert "trials_results" not in _plan(db)

    async def open_to_write() -> None:
        async with await Store.open(db, Access.WRITE):
            pass

    asyncio.run(open_to_write())
    assert _migrations(db)[-1] == "0010_trial_results"
    assert "USING INDEX trials_results" in _plan(db)
    assert dict(outputs(tmp_path)) == GOLDEN


def test_a_reader_reads_a_db_without_0010_as_it_is(made: Path, tmp_path: Path) -> None:
    db = _as_of_0009(made, tmp_path)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    assert dict(outputs(tmp_path)) == GOLDEN  # analyze, --junit, compare, report: read-only
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert "0010_trial_results" not in _migrations(db)
    assert "trials_results" not in _plan(db)
