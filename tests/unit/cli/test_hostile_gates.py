"""Issue #11 class 10: a gate that compared nothing must not pass. `compare A B --check`
where no cell of B matches a cell of A exits 1 with one line saying so."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos_eval.spec import registry
from chaos_eval.store.store import Store
from tests.unit.cli.hostile import FileState, assert_one_error, invoke, make_file
from tests.unit.fakes import Tracker
from tests.unit.run.test_harness import doc, run


@pytest.fixture(autouse=True)
def fake_subject(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(registry.SUBJECTS, "fake", "tests.unit.fakes:FakeSubject")
    Tracker.reset()
    yield


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Campaign 1 and 2 share their cells; campaign 3 (another subject) shares none."""
    path = tmp_path / "eval.db"
    small = {"trials_per_combination": 1, "parallel": 2}

    async def make() -> None:
        async with await Store.open(path) as store:
            await run(store, doc(**small))
            await run(store, doc(**small), new=True)
            await run(store, doc(name="other", subjects=[{"type": "fake", "name": "f2"}], **small))

    asyncio.run(make())
    return make_file(path, path.read_bytes())


def test_check_fails_when_no_cell_was_compared(db: Path) -> None:
    before = FileState.of(db)
    res = invoke("compare", "1", "3", "--db", str(db), "--check")
    assert_one_error(res, 1, "--check", "no cell of campaign 3 matches", "nothing was compared")
    assert FileState.of(db) == before


def test_without_check_an_empty_comparison_is_shown_not_failed(db: Path) -> None:
    res = invoke("compare", "1", "3", "--db", str(db))
    assert res.exit_code == 0, res.output


def test_check_passes_when_matching_cells_did_not_regress(db: Path) -> None:
    res = invoke("compare", "1", "2", "--db", str(db), "--check")
    assert res.exit_code == 0, res.output
    assert "error" not in res.output
