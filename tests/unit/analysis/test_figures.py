"""The read commands give the same bytes whichever way a trial's figures reach analysis
(eval/store/figures.py): the compact column the store writes when a trial finishes, the one
migration 0009 fills in for rows already there, or derived from the measurements where the
column is NULL (packed, where they are: tests/unit/store/test_results_index.py). The digests
are test_streamed_outputs.py's (taken before the column existed)."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaos_eval.cli.app import app
from chaos_eval.store.figures import figures_json
from chaos_eval.store.store import Store
from tests.unit.analysis.synthetic_db import make_synthetic_db
from tests.unit.analysis.test_streamed_outputs import GOLDEN, outputs


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("figures")
    return make_synthetic_db(d / "eval.db")


def _copy(made: Path, tmp_path: Path) -> Path:
    shutil.copy(made, tmp_path / "eval.db")
    return tmp_path / "eval.db"


def _figures(db: Path) -> list[object]:
    con = sqlite3.connect(db)
    try:
        return [r[0] for r in con.execute("SELECT figures FROM trials ORDER BY id")]
    finally:
        con.close()


def test_finished_trials_are_recorded_with_their_figures(made: Path) -> None:
    con = sqlite3.connect(made)
    rows = con.execute("SELECT status, figures, measurements FROM trials").fetchall()
    con.close()
    done = [(f, m) for s, f, m in rows if s not in ("pending", "running")]
    assert done and all(f == figures_json(m) for f, m in done)
    assert all(f is None for s, f, _ in rows if s in ("pending", "running"))


def test_without_the_column_the_figures_come_from_the_measurements(
    made: Path, tmp_path: Path
) -> None:
    db = _copy(made, tmp_path)
    con = sqlite3.connect(db)
    con.execute("UPDATE trials SET figures = NULL, figures_skeleton = NULL, figures_f64 = NULL")
    con.commit()
    con.close()
    assert dict(outputs(tmp_path)) == GOLDEN


def test_migration_0009_fills_in_the_figures_of_existing_rows(made: Path, tmp_path: Path) -> None:
    before = _figures(made)
    db = _copy(made, tmp_path)
    con = sqlite3.connect(db)  # as before 0009 (and so before 0010, which indexes figures)
    con.execute("DROP INDEX trials_results")
    for column in ("figures_f64", "figures_skeleton", "figures"):
        con.execute(f"ALTER TABLE trials DROP COLUMN {column}")
    con.execute(
        "DELETE FROM _migrations WHERE name IN ('0009_trial_figures', '0010_trial_results')"
    )
    con.commit()
    con.close()
    res = CliRunner().invoke(app, ["analyze", "1", "--db", str(db)])
    assert res.exit_code == 2 and "resume" in res.output  # a read command never migrates

    async def migrate() -> None:
        async with await Store.open(db):
            pass

    asyncio.run(migrate())
    after = _figures(db)  # every row: those never finished hold the figures of "{}"
    assert [a for a, b in zip(after, before, strict=True) if b is not None] == [
        b for b in before if b is not None
    ]
    assert dict(outputs(tmp_path)) == GOLDEN


def test_a_damaged_figures_column_is_named(made: Path, tmp_path: Path) -> None:
    db = _copy(made, tmp_path)
    con = sqlite3.connect(db)
    con.execute(  # not packed (a row migration 0010 could not pack): the JSON is read
        "UPDATE trials SET figures = '[1, 2]', figures_skeleton = NULL, figures_f64 = NULL"
        " WHERE id = 3"
    )
    con.commit()
    con.close()
    res = CliRunner().invoke(app, ["analyze", "1", "--db", str(db)])
    assert res.exit_code == 2, res.output  # the store's corrupt-row error
    assert "trials" in res.output and "figures" in res.output and "3" in res.output
