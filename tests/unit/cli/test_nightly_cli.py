"""The nightly commands through the CLI: run campaign --shard (and its bad input), merge
(and its refusals), trend, compare --db-a; help for each."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from chaos_eval.cli.app import app
from chaos_eval.spec import registry
from chaos_eval.spec.config import parse_campaign
from chaos_eval.spec.matrix import expand
from tests.unit.cli.test_cli import CliDocker
from tests.unit.fakes import Tracker
from tests.unit.run.test_harness import doc
from tests.unit.store.shard_dbs import dump, make_shards

runner = CliRunner()


@pytest.fixture(autouse=True)
def fake_subject(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(registry.SUBJECTS, "fake", "tests.unit.fakes:FakeSubject")
    monkeypatch.setattr("chaos_eval.engine.client.Docker", CliDocker)
    Tracker.reset()
    yield


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def one_error_line(output: str) -> str:
    lines = [ln for ln in output.splitlines() if ln.strip()]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


@pytest.mark.parametrize("cmd", [["merge", "--help"], ["trend", "--help"]])
def test_help(cmd: list[str]) -> None:
    res = invoke(*cmd)
    assert res.exit_code == 0 and "Usage" in res.output


@pytest.mark.parametrize(
    ("spec", "why"),
    [("3/2", "index must be 1..2"), ("0/0", "number of shards"), ("a/b", "is not I/N"),
     ("1/0", "number of shards"), ("9/9", "at most 7 shards")],
)  # fmt: skip
def test_bad_shard_exits_2_and_creates_no_db(tmp_path: Path, spec: str, why: str) -> None:
    cfg, dbp = tmp_path / "c.yaml", tmp_path / "eval.db"
    cfg.write_text(yaml.safe_dump(doc()))
    res = invoke("run", "campaign", str(cfg), "--db", str(dbp), "--shard", spec)
    assert res.exit_code == 2
    line = one_error_line(res.output)
    assert "--shard" in line and why in line
    assert not dbp.exists()


def test_shards_run_merge_and_analyze(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(doc()))
    shards = []
    for i in (1, 2):
        dbp = tmp_path / f"s{i}.db"
        res = invoke("run", "campaign", str(cfg), "--db", str(dbp), "--shard", f"{i}/2",
                     "--skip-image-build")  # fmt: skip
        assert res.exit_code == 0, res.output
        assert f"(shard {i}/2)" in res.output
        shards.append(dbp)
    # running a shard again continues it: nothing is run twice
    again = invoke("run", "campaign", str(cfg), "--db", str(shards[0]), "--shard", "1/2",
                   "--skip-image-build")  # fmt: skip
    assert "continuing (shard 1/2)" in again.output and "→ trial" not in again.output
    out = tmp_path / "night.db"
    res = invoke("merge", "-o", str(out), *map(str, shards), "--format", "json")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["status"] == "finished" and summary["unfinished"] == 0
    keys = sorted(r[0] for r in sqlite3.connect(out).execute("SELECT key FROM trials"))
    assert keys == sorted(p.key for p, _ in expand(parse_campaign(doc(), "mem")))
    res = invoke("analyze", str(summary["campaign_id"]), "--db", str(out), "--format", "json")
    assert res.exit_code == 0 and len(json.loads(res.output)["cells"]) == 4
    res = invoke("compare", "1", "1", "--db", str(out), "--db-a", str(shards[0]), "--check")
    assert res.exit_code == 0, res.output
    page = tmp_path / "trend.html"
    res = invoke("trend", str(out), str(out), "--format", "markdown", "--html", str(page))
    assert res.exit_code == 0 and "Trend over 2 night(s)" in res.output
    assert page.read_text().count("<svg") == 2


def test_merge_refusals_exit_2_one_line_and_modify_nothing(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = make_shards(tmp_path / "a", 2)
    b = make_shards(tmp_path / "b", 2, trials_per_combination=1)
    out = tmp_path / "night.db"
    res = invoke("merge", "-o", str(out), str(a[0]), str(b[1]))
    assert res.exit_code == 2 and "differs" in one_error_line(res.output)
    assert not out.exists()  # a refused merge leaves no new file
    assert invoke("merge", "-o", str(out), str(a[0])).exit_code == 0
    before = dump(out)
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"SQLite format 3\x00" + b"\x13" * 4000)
    for bad in (corrupt, b[0], tmp_path / "absent.db", out):
        res = invoke("merge", "-o", str(out), str(bad))
        assert res.exit_code == 2, (bad, res.output)
        assert str(bad.name) in one_error_line(res.output)
    assert dump(out) == before


def test_trend_bad_input(tmp_path: Path) -> None:
    res = invoke("trend", str(tmp_path / "nope.db"))
    assert res.exit_code == 2 and "no such database" in one_error_line(res.output)
    res = invoke("trend", str(tmp_path / "nope.db"), "--format", "xml")
    assert res.exit_code == 2
    res = invoke("trend", str(tmp_path / "nope.db"), "--flaky-rate", "2")
    assert res.exit_code == 2
