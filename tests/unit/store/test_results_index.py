"""Migration 0010 (eval/store/migrations.py's TRIAL_RESULTS): each trial's figures packed
(eval/store/packed_figures.py), and the index `trials_results` holding every column the read
commands stream of a trial, so the read never walks a trial's row. A writer adds both to a db
that has 0009; a read command on a db without them reads the figures' JSON from the rows. Either
way the outputs are the same bytes (test_streamed_outputs.py's digests), and the reader leaves
the file as it was."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaos_eval.cli.app import app
from chaos_eval.store.access import Access
from chaos_eval.store.packed_figures import Skeleton
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
    con.execute("ALTER TABLE trials DROP COLUMN figures_f64")
    con.execute("ALTER TABLE trials DROP COLUMN figures_skeleton")
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


def _packed(db: Path) -> list[tuple[object, object]]:
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT figures_skeleton, figures_f64 FROM trials ORDER BY id")
        return [(r[0], r[1]) for r in rows]
    finally:
        con.close()


def test_every_figure_unpacks_to_itself(made: Path) -> None:
    """Bit for bit, and of the same type: floats, None, ints, bools, the register's record."""
    con = sqlite3.connect(made)
    rows = con.execute("SELECT figures, figures_skeleton, figures_f64 FROM trials").fetchall()
    con.close()
    figures = [(json.loads(f), Skeleton(k).unpack(b)) for f, k, b in rows if f is not None]
    assert len(figures) == sum(1 for f, _, _ in rows if f is not None) > 1000
    assert all(repr(a) == repr(b) for a, b in figures)
    assert any(x is None for f, _ in figures for x in f[3:8])  # odd slots were exercised
    assert all(f is None for f, k, b in rows if k is None or b is None)


def test_a_writer_packs_and_indexes_a_db_that_has_0009(made: Path, tmp_path: Path) -> None:
    db = _as_of_0009(made, tmp_path)

    async def open_to_write() -> None:
        async with await Store.open(db, Access.WRITE):
            pass

    asyncio.run(open_to_write())
    assert _migrations(db)[-1] == "0010_trial_results"
    assert _packed(db) == _packed(made)  # the migration packs what a finished trial writes
    assert "USING INDEX trials_results" in _plan(db)
    assert dict(outputs(tmp_path)) == GOLDEN


def test_a_reader_reads_a_db_without_0010_as_it_is(made: Path, tmp_path: Path) -> None:
    db = _as_of_0009(made, tmp_path)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    assert dict(outputs(tmp_path)) == GOLDEN  # analyze, --junit, compare, report: read-only
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert "0010_trial_results" not in _migrations(db)
    con = sqlite3.connect(db)
    assert not con.execute("SELECT 1 FROM sqlite_master WHERE name = 'trials_results'").fetchall()
    con.close()


@pytest.mark.parametrize(
    ("skeleton", "doubles"),
    [("'[1'", "figures_f64"), ("NULL", "figures_f64"), ("figures_skeleton", "x'00'"),
     ("'[true,null,0,[],[[99,1]]]'", "figures_f64")],
)  # fmt: skip
def test_damaged_packed_figures_are_named(
    made: Path, tmp_path: Path, skeleton: str, doubles: str
) -> None:
    db = tmp_path / "eval.db"
    shutil.copy(made, db)
    con = sqlite3.connect(db)
    con.execute(
        f"UPDATE trials SET figures_skeleton = {skeleton}, figures_f64 = {doubles} WHERE id = 3"
    )
    con.commit()
    con.close()
    res = CliRunner().invoke(app, ["analyze", "1", "--db", str(db)])
    assert res.exit_code == 2, res.output  # the store's corrupt-row error
    assert "trials" in res.output and "figures_skeleton" in res.output and "3" in res.output
