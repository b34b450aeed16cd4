"""Every CLI command: help, bad input (exit 2, one line, no traceback), and output formats."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import yaml
from typer.testing import CliRunner

from chaos_eval.cli.app import app
from chaos_eval.spec import registry
from tests.unit.fakes import Tracker
from tests.unit.run.test_harness import NoDocker, doc, run

runner = CliRunner()


@pytest.fixture(autouse=True)
def fake_subject(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(registry.SUBJECTS, "fake", "tests.unit.fakes:FakeSubject")
    Tracker.reset()
    yield


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A real eval.db holding one finished campaign (id 1) run through the real harness."""
    from chaos_eval.store.store import Store

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
        ["rerun"],
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
        (["rerun", "42", "abcdef12"], "no campaign with id 42"),
        (["rerun", "1", "ffffffffff"], "campaign 1 (h) in"),
        (["rerun", "1", "ab"], "a trial key has 20 hex characters"),
        (["gc", "--bogus"], "No such option"),
    ],
)
def test_bad_arguments_exit_2(db: Path, args: list[str], needle: str) -> None:
    extra = ["--db", str(db)] if args[0] in ("analyze", "status", "resume", "rerun") else []
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
    res = invoke("rerun", "1", "abcdef12", "--db", str(tmp_path / "missing.db"))
    assert res.exit_code == 2 and "missing.db: no such database" in res.output
    assert not (tmp_path / "missing.db").exists()  # a rerun never creates a db


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
        [sys.executable, "-m", "chaos_eval", "--help"], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0 and "analyze" in res.stdout
    _ = NoDocker


# -- rerun ------------------------------------------------------------------------------------


class CliDocker(NoDocker):
    """NoDocker that also says every image is present (the fake subject needs none)."""

    async def images_present(self, refs: Any) -> dict[str, bool]:
        return {r: True for r in refs}


def rerun_commands(output: str) -> list[str]:
    return [ln.strip() for ln in output.splitlines() if ln.strip().startswith("chaos-eval rerun ")]


def test_run_prints_rerun_commands_that_rerun_exactly_that_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run campaign -> the printed command for the failed trial -> pasted as is -> a new
    one-trial campaign with the same key and seed; the original campaign is unchanged."""
    import shlex

    from chaos_eval.spec.config import parse_campaign
    from chaos_eval.spec.matrix import expand

    monkeypatch.setattr("chaos_eval.engine.client.Docker", CliDocker)
    d = doc(parallel=1, max_retries=0)
    keys = [p.key for p, _ in expand(parse_campaign(d, "mem"))]
    Tracker.lose_writes_for = {keys[2]}
    cfg, dbp = tmp_path / "my campaign.yaml", tmp_path / "my results" / "eval.db"
    cfg.write_text(yaml.safe_dump(d))
    dbp.parent.mkdir()
    res = invoke("run", "campaign", str(cfg), "--db", str(dbp), "--skip-image-build")
    assert res.exit_code == 1, res.output  # a trial failed its SLO
    assert "re-run a trial that did not pass" in res.output
    (cmd,) = rerun_commands(res.output)
    assert cmd == f"chaos-eval rerun 1 {keys[2]} --db '{dbp}'"

    def snapshot() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        con = sqlite3.connect(dbp)
        try:
            return (
                con.execute("SELECT * FROM campaigns ORDER BY id").fetchall(),
                con.execute("SELECT * FROM trials ORDER BY id").fetchall(),
            )
        finally:
            con.close()

    campaigns_before, trials_before = snapshot()
    cfg.unlink()  # the rerun needs only the db
    Tracker.reset()
    Tracker.lose_writes_for = {keys[2]}
    argv = shlex.split(cmd)
    assert argv[0] == "chaos-eval"
    again = invoke(*argv[1:])
    assert again.exit_code == 1, again.output  # the same trial fails the same way
    described = f"re-running trial 3 of campaign 1: fake / noop (label=a) #1, key {keys[2]}"
    assert described in again.output
    assert Tracker.started == [keys[2]]
    assert rerun_commands(again.output) == [f"chaos-eval rerun 2 {keys[2]} --db '{dbp}'"]

    campaigns_after, trials_after = snapshot()
    assert campaigns_after[0] == campaigns_before[0]  # the original, untouched
    assert trials_after[: len(trials_before)] == trials_before
    con = sqlite3.connect(dbp)
    con.row_factory = sqlite3.Row
    new = con.execute("SELECT * FROM campaigns WHERE id = 2").fetchone()
    orig = con.execute("SELECT * FROM campaigns WHERE id = 1").fetchone()
    (trial,) = con.execute("SELECT * FROM trials WHERE campaign_id = 2").fetchall()
    (was,) = con.execute("SELECT * FROM trials WHERE campaign_id = 1 AND key = ?", (keys[2],))
    con.close()
    assert new["rerun_of"] == 1 and new["spec_hash"] == orig["spec_hash"]
    assert new["seed"] == orig["seed"] and new["git_sha"] and json.loads(new["argv"])
    for col in ("key", "subject", "fault", "params", "target", "repetition", "seed"):
        assert trial[col] == was[col], col
    assert trial["status"] == "failed"

    status = json.loads(invoke("status", "--db", str(dbp), "--format", "json").output)
    assert [(c["id"], c["rerun_of"]) for c in status] == [(1, None), (2, 1)]


def test_rerun_checks_images_before_it_creates_anything(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("chaos_eval.engine.client.Docker", NoDocker)
    monkeypatch.setattr(
        "chaos_eval.spec.registry.required_images", lambda specs: ([], ["example/missing:1"])
    )

    class Absent(NoDocker):
        async def images_present(self, refs: Any) -> dict[str, bool]:
            return {r: False for r in refs}

    monkeypatch.setattr("chaos_eval.engine.client.Docker", Absent)
    key = json.loads(invoke("analyze", "1", "--db", str(db), "-f", "json").output)["cells"][0][
        "per_trial"
    ][0]["key"]
    res = invoke("rerun", "1", key, "--db", str(db))
    assert res.exit_code == 3 and "example/missing:1" in res.output, res.output
    assert "Traceback" not in res.output
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM campaigns").fetchone() == (1,)
    con.close()


def test_analyze_lists_rerun_commands_for_trials_that_did_not_pass(tmp_path: Path) -> None:
    from chaos_eval.spec.config import parse_campaign
    from chaos_eval.spec.matrix import expand
    from chaos_eval.store.store import Store

    d = doc(parallel=1, max_retries=0)
    keys = [p.key for p, _ in expand(parse_campaign(d, "mem"))]
    Tracker.lose_writes_for = {keys[4]}
    dbp = tmp_path / "e.db"

    async def make() -> None:
        async with await Store.open(dbp) as store:
            await run(store, d)

    asyncio.run(make())
    want = f"chaos-eval rerun 1 {keys[4]} --db {dbp}"
    table = invoke("analyze", "1", "--db", str(dbp))
    assert rerun_commands(table.output) == [want]
    assert "failed: trial 5, fake / noop (label=b) #1" in table.output
    md = invoke("analyze", "1", "--db", str(dbp), "--format", "markdown").output
    assert "## Trials that did not pass" in md
    assert f"```bash\n# failed: trial 5, fake / noop (label=b) #1\n{want}\n```" in md
    data = json.loads(invoke("analyze", "1", "--db", str(dbp), "--format", "json").output)
    assert data["campaign"]["rerun_of"] is None
    trials = [t for c in data["cells"] for t in c["per_trial"]]
    assert len(trials) == len(keys)
    (bad,) = [t for t in trials if t["status"] != "passed"]
    assert bad == {
        "id": 5, "key": keys[4], "repetition": 1, "seed": bad["seed"], "status": "failed",
        "rerun": want,
    }  # fmt: skip
    assert all(t["rerun"] == f"chaos-eval rerun 1 {t['key']} --db {dbp}" for t in trials)
