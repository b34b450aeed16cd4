"""Every CLI command: help, bad input (exit 2, one line, no traceback), and output formats."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import yaml
from typer.testing import CliRunner

from eval import registry
from eval.cli import app
from tests.unit.fakes import Tracker
from tests.unit.test_harness import NoDocker, doc, run

runner = CliRunner()


@pytest.fixture(autouse=True)
def fake_subject(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(registry.SUBJECTS, "fake", "tests.unit.fakes:FakeSubject")
    Tracker.reset()
    yield


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A real eval.db holding one finished campaign (id 1) run through the real harness."""
    from eval.store import Store

    path = tmp_path / "eval.db"

    async def make() -> None:
        async with await Store.open(path) as store:
            await run(store, doc(parallel=2))

    asyncio.run(make())
    return path


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.mark.parametrize(
    "cmd",
    [
        [],
        ["run"],
        ["run", "campaign"],
        ["analyze"],
        ["validate"],
        ["resume"],
        ["status"],
        ["images"],
        ["images", "build"],
        ["gc"],
    ],
)
def test_every_command_has_help(cmd: list[str]) -> None:
    res = invoke(*cmd, "--help")
    assert res.exit_code == 0
    assert "Usage" in res.output


def test_validate_ok(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(doc()))
    res = invoke("validate", str(p))
    assert res.exit_code == 0, res.output
    assert "4 cells, 7 trials" in res.output


def test_validate_bad_input_is_one_clear_line(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(doc(parallel=-1)))
    res = invoke("validate", str(p))
    assert res.exit_code == 2
    assert f"{p}: parallel:" in res.output
    assert "Traceback" not in res.output


def test_run_with_bad_config_exits_2_and_writes_no_campaign(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("name: x\nsubjects: [etcd]\nchaos_types: [{type: latency, params: {}}]\n")
    dbp = tmp_path / "eval.db"
    res = invoke("run", "campaign", str(p), "--db", str(dbp))
    assert res.exit_code == 2
    assert "chaos_types[0].params.delay_ms" in res.output and "Field required" in res.output
    assert "Traceback" not in res.output


def test_analyze_formats(db: Path, tmp_path: Path) -> None:
    res = invoke("analyze", "1", "--db", str(db), "--format", "json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["campaign"]["id"] == 1 and data["campaign"]["status"] == "finished"
    assert len(data["cells"]) == 4
    cell = data["cells"][1]
    for key in (
        "subject",
        "fault",
        "params",
        "trials",
        "passed",
        "failed",
        "errors",
        "recovery_s",
        "availability",
        "latency_ms",
        "lost_writes",
        "pass_rate",
    ):
        assert key in cell
    assert set(cell["recovery_s"]) >= {"min", "median", "max"}
    assert cell["trials"] == 2 and cell["passed"] == 2
    assert cell["recovery_s"]["min"] is not None
    table = invoke("analyze", "1", "--db", str(db))
    assert table.exit_code == 0 and "noop" in table.output and "campaign 1" in table.output
    csv_out = invoke("analyze", "1", "--db", str(db), "--format", "csv")
    assert csv_out.output.splitlines()[0].startswith("subject,fault,params")
    assert len(csv_out.output.splitlines()) == 5
    md = invoke("analyze", "1", "--db", str(db), "--format", "markdown")
    assert md.output.startswith("# Campaign 1")
    junit = tmp_path / "out.xml"
    res = invoke("analyze", "1", "--db", str(db), "--junit", str(junit), "--format", "json")
    root = ET.parse(junit).getroot()
    assert len(root.findall("testsuite")) == 4 and len(root.iter("testcase").__next__().attrib)


def test_analyze_check_gate(db: Path) -> None:
    assert invoke("analyze", "1", "--db", str(db), "--check").exit_code == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["analyze", "9"], "no campaign with id 9"),
        (["analyze", "1", "--format", "yaml"], "--format"),
        (["status", "--format", "xml"], "--format"),
        (["images", "build", "oracle"], "unknown image recipe"),
        (["resume", "42"], "no campaign with id 42"),
        (["gc", "--bogus"], "No such option"),
    ],
)
def test_bad_arguments_exit_2(db: Path, args: list[str], needle: str) -> None:
    extra = ["--db", str(db)] if args[0] in ("analyze", "status", "resume") else []
    res = invoke(*args, *extra)
    assert res.exit_code == 2, res.output
    assert needle in res.output and "Traceback" not in res.output


def test_corrupt_db_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "eval.db"
    bad.write_bytes(b"garbage" * 1000)
    res = invoke("analyze", "1", "--db", str(bad))
    assert res.exit_code == 2 and "not a usable chaos-eval database" in res.output
    res = invoke("status", "--db", str(tmp_path / "missing.db"))
    assert res.exit_code == 2 and "no such database" in res.output
    res = invoke("gc", "--db", str(bad))
    assert res.exit_code == 2 and "not a usable chaos-eval database" in res.output
    res = invoke("resume", "1", "--db", str(tmp_path / "missing.db"))
    assert res.exit_code == 2 and "no such database" in res.output


def test_status_json(db: Path) -> None:
    res = invoke("status", "--db", str(db), "--format", "json")
    assert res.exit_code == 0, res.output
    (c,) = json.loads(res.output)
    assert (c["id"], c["name"], c["status"]) == (1, "h", "finished")
    assert c["trials_total"] == c["trials_done"] == 7 and c["flags"] == []


def test_python_dash_m_entry_point() -> None:
    import subprocess
    import sys

    res = subprocess.run(
        [sys.executable, "-m", "eval", "--help"], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0 and "analyze" in res.stdout
    _ = NoDocker
