"""Class 3 of issue #11: hostile input is one clear line and exit 2 (or 3 for our own bug,
130 for Ctrl-C), never a traceback with exit 1 (the code for "SLO missed"). Rows read from
a db are checked at the store boundary: corruption is named (file, table, row, column)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.cli import hostile
from tests.unit.cli.hostile import (
    FileState,
    assert_one_error,
    invoke,
    make_file,
)
from tests.unit.run.test_harness import doc

# the shared fixtures (tests/unit/cli/hostile.py): the fake subject, autouse in this module,
# and the results db made once per module
fake_subject = hostile.fake_subject
pristine = hostile.pristine


def copy_db(pristine: Path, to: Path, *sql: str) -> Path:
    to.write_bytes(pristine.read_bytes())
    con = sqlite3.connect(to)
    con.execute("PRAGMA ignore_check_constraints = ON")  # what a hand edit can do
    for stmt in sql:
        con.execute(stmt)
    con.commit()
    con.close()
    return make_file(to, to.read_bytes())


# -- the campaign file ------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["list", "map"])
@pytest.mark.parametrize("cmd", ["validate", "run"])
def test_deeply_nested_yaml_is_one_line(tmp_path: Path, shape: str, cmd: str) -> None:
    deep = "[" * 600 + "]" * 600 if shape == "list" else "{a: " * 600 + "1" + "}" * 600
    p = tmp_path / "deep.yaml"
    p.write_text(f"name: deep\nsubjects: [fake]\nchaos_types: {deep}\n")
    db = tmp_path / "eval.db"
    args = ["validate", str(p)]
    if cmd == "run":
        args = ["run", "campaign", str(p), "--db", str(db)]
    assert_one_error(invoke(*args), 2, str(p), "nested too deeply")
    assert not db.exists()


# -- ids --------------------------------------------------------------------------------------

HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    "args",
    [
        ["analyze", HUGE],
        ["status", HUGE],
        ["report", HUGE],
        ["compare", "1", HUGE],
        ["resume", HUGE, "--skip-image-build"],
        ["rerun", HUGE, "abcdef12", "--skip-image-build"],
        ["analyze", "0"],
        ["status", "0"],
    ],
)
def test_an_id_sqlite_cannot_hold_is_no_such_campaign(
    pristine: Path, tmp_path: Path, args: list[str]
) -> None:
    db = copy_db(pristine, tmp_path / "eval.db")
    before = FileState.of(db)
    out = ["-o", str(tmp_path / "r.html")] if args[0] == "report" else []
    res = invoke(*args, *out, "--db", str(db))
    assert_one_error(res, 2, "no campaign with id", str(db))
    assert FileState.of(db) == before


# -- a damaged db -----------------------------------------------------------------------------

READS = {
    "analyze": lambda db, out: ["analyze", "1", "--db", str(db), "-f", "json"],
    "report": lambda db, out: ["report", "1", "--db", str(db), "-o", str(out)],
    "status": lambda db, out: ["status", "--db", str(db)],
    "compare": lambda db, out: ["compare", "1", "1", "--db", str(db)],
}
Damage = tuple[list[str], tuple[str, ...], tuple[str, ...]]  # sql, needles, commands it breaks
# `status` counts trials in SQL and never reads their JSON or figures, so it cannot (and
# need not) notice damage there; what it does read (statuses) it checks.
NOT_STATUS = tuple(c for c in READS if c != "status")
DAMAGE: dict[str, Damage] = {
    "missing-table": (["DROP TABLE ops"], ("table ops is missing",), tuple(READS)),
    "malformed-json": (
        ["UPDATE trials SET params = '{\"label\": ' WHERE id = 3"],
        ("table trials, row 3", "params", "malformed JSON"),
        NOT_STATUS,
    ),
    "json-of-wrong-shape": (
        ["UPDATE trials SET reasons = '{\"a\": 1}' WHERE id = 2"],
        ("table trials, row 2", "reasons", "expected a list"),
        NOT_STATUS,
    ),
    "wrong-type": (
        ["UPDATE trials SET recovery_s = 'fast' WHERE id = 2"],
        ("table trials, row 2", "recovery_s", "'fast'"),
        NOT_STATUS,
    ),
    "unknown-trial-status": (
        ["UPDATE trials SET status = 'exploded' WHERE id = 4"],
        ("table trials, row 4", "status", "unknown value 'exploded'"),
        tuple(READS),
    ),
    "unknown-campaign-status": (
        ["UPDATE campaigns SET status = 'paused' WHERE id = 1"],
        ("table campaigns, row 1", "status", "unknown value 'paused'"),
        tuple(READS),
    ),
    "unknown-op-outcome": (
        ["UPDATE ops SET outcome = 'maybe' WHERE rowid = (SELECT MIN(rowid) FROM ops)"],
        ("table ops, row", "outcome", "unknown value 'maybe'"),
        ("report",),
    ),
    "malformed-campaign-json": (
        ["UPDATE campaigns SET argv = '[1' WHERE id = 1"],
        ("table campaigns, row 1", "argv", "malformed JSON"),
        tuple(READS),
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("cmd", list(READS))
def test_a_damaged_db_is_named_not_a_traceback(
    pristine: Path, tmp_path: Path, damage: str, cmd: str
) -> None:
    sql, needles, breaks = DAMAGE[damage]
    db = copy_db(pristine, tmp_path / "eval.db", *sql)
    before = FileState.of(db)
    res = invoke(*READS[cmd](db, tmp_path / "r.html"))
    if cmd in breaks:
        assert_one_error(res, 2, str(db), *needles)
    else:
        assert res.exit_code == 0, res.output
    assert FileState.of(db) == before


@pytest.mark.parametrize("cmd", list(READS))
def test_an_extra_column_is_ignored(pristine: Path, tmp_path: Path, cmd: str) -> None:
    db = copy_db(
        pristine,
        tmp_path / "eval.db",
        "ALTER TABLE trials ADD COLUMN colour TEXT DEFAULT 'red'",
        "ALTER TABLE campaigns ADD COLUMN owner TEXT",
        "ALTER TABLE ops ADD COLUMN extra INTEGER",
    )
    res = invoke(*READS[cmd](db, tmp_path / "r.html"))
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output


# -- opening fails ----------------------------------------------------------------------------


def test_a_db_that_cannot_be_opened_leaves_no_thread_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aiosqlite's worker thread used to outlive asyncio.run and report 'Event loop is
    closed' from a thread after the command had exited."""
    seen: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.append(args.exc_value))
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(doc()))
    db = tmp_path / "no" / "such" / "dir" / "eval.db"
    res = invoke("run", "campaign", str(p), "--db", str(db), "--skip-image-build")
    assert_one_error(res, 2, str(db), "cannot open database")
    for t in threading.enumerate():
        if t is not threading.current_thread() and not t.daemon:
            t.join(timeout=10)
    assert seen == []


# -- Ctrl-C and our own bugs ------------------------------------------------------------------


def test_ctrl_c_while_starting_up_is_exit_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from chaos_eval.cli import app as cli_app
    from chaos_eval.cli.entry import main

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_app, "app", interrupted)
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_ctrl_c_before_a_command_reaches_its_work_is_exit_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(verbose: bool) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("chaos_eval.cli.app.setup_logging", interrupted)
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(doc()))
    res = invoke("run", "campaign", str(p), "--db", str(tmp_path / "e.db"))
    assert res.exit_code == 130, res.output
    assert "interrupted" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "e.db").exists()


Breaker = Callable[..., Any]


def test_an_unexpected_exception_is_one_internal_error_line(
    pristine: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def bug(*a: Any, **k: Any) -> Any:
        raise ZeroDivisionError("division by zero in a metric")

    monkeypatch.setattr("chaos_eval.analysis.analyze.CampaignTally.analysis", bug)
    db = copy_db(pristine, tmp_path / "eval.db")
    res = invoke("analyze", "1", "--db", str(db))
    line = assert_one_error(res, 3, "internal error", "ZeroDivisionError", "please report")
    assert "division by zero in a metric" in line
