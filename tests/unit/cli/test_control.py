"""hold, close, logs, schema, status (held flag, prometheus): help, output, bad input."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from chaos_eval.cli.control import log_path, pid_path
from chaos_eval.outcomes import CampaignStatus
from chaos_eval.store.access import Access
from chaos_eval.store.store import Store
from tests.unit.cli.test_cli import fake_subject, invoke
from tests.unit.run.test_harness import doc, run

__all__ = ["fake_subject"]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Campaign 1 finished, campaign 2 interrupted."""
    path = tmp_path / "eval.db"

    async def make() -> None:
        async with await Store.open(path) as store:
            await run(store, doc())
            cid, _ = await run(store, doc(name="two"))
            await store.set_campaign_status(cid, CampaignStatus.INTERRUPTED)

    asyncio.run(make())
    return path


def one_line_error(res: object, code: int, needle: str) -> None:
    out = res.output  # type: ignore[attr-defined]
    assert res.exit_code == code, out  # type: ignore[attr-defined]
    assert needle in out and "Traceback" not in out
    assert len([ln for ln in out.splitlines() if ln.startswith("error:")]) == 1


@pytest.mark.parametrize("cmd", [["hold"], ["close"], ["logs"], ["schema"], ["run", "campaign"]])
def test_new_commands_have_help(cmd: list[str]) -> None:
    res = invoke(*cmd, "--help")
    assert res.exit_code == 0 and "Usage" in res.output
    if cmd == ["run", "campaign"]:
        assert "--detach" in res.output


def test_hold_then_close_then_resume_is_refused(db: Path) -> None:
    res = invoke("hold", "2", "--db", str(db))
    assert res.exit_code == 0 and "campaign 2 held (it was interrupted)" in res.output
    assert "chaos-eval resume 2" in res.output
    one_line_error(invoke("hold", "2", "--db", str(db)), 2, "already held")
    res = invoke("close", "2", "--reason", "subject upgraded", "--db", str(db))
    assert res.exit_code == 0 and "closed (it was held): subject upgraded" in res.output
    one_line_error(invoke("close", "2", "--reason", "again", "--db", str(db)), 2, "already closed")
    one_line_error(invoke("resume", "2", "--db", str(db)), 2, "is closed (subject upgraded)")
    res = invoke("analyze", "2", "--db", str(db), "--format", "json")
    assert res.exit_code == 0 and json.loads(res.output)["campaign"]["status"] == "closed"


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["hold", "99"], 2, "no campaign with id 99"),
        (["hold", "1"], 2, "it has finished"),
        (["close", "1", "--reason", "x"], 2, "it has finished"),
        (["close", "99", "--reason", "x"], 2, "no campaign with id 99"),
        (["close", "2", "--reason", " "], 2, "--reason"),
        (["logs", "99"], 2, "no campaign with id 99"),
        (["logs", "1"], 2, "has no log"),
        (["status", "--held-window", "soon"], 2, "--held-window"),
        (["status", "--held-window", "-5m"], 2, "--held-window"),
    ],
)
def test_bad_input_is_one_line_exit_2(db: Path, args: list[str], code: int, needle: str) -> None:
    one_line_error(invoke(*args, "--db", str(db)), code, needle)


def test_close_needs_a_reason(db: Path) -> None:
    res = invoke("close", "2", "--db", str(db))
    assert res.exit_code == 2 and "--reason" in res.output


def test_hold_on_a_missing_db_creates_nothing(tmp_path: Path) -> None:
    one_line_error(invoke("hold", "1", "--db", str(tmp_path / "no.db")), 2, "no such database")
    assert not (tmp_path / "no.db").exists()


def test_status_flags_a_forgotten_hold_and_says_how_to_go_on(db: Path) -> None:
    """The flag is computed from the hold's own timestamp (its episode) on every call and
    never recorded: status opens the db read-only, so the file is the same after it."""
    assert invoke("hold", "2", "--db", str(db)).exit_code == 0
    before = db.read_bytes()
    res = invoke("status", "2", "--db", str(db), "-f", "json")
    assert json.loads(res.output)[0]["flags"] == []  # not past the 24 h window yet
    time.sleep(0.05)
    for _ in range(2):
        res = invoke("status", "--db", str(db), "--held-window", "0.01")
        assert "campaign 2: held: resume with: chaos-eval resume 2" in res.output
        assert "close it with: chaos-eval close 2 --reason TEXT" in res.output
    data = json.loads(invoke("status", "2", "--db", str(db), "-f", "json",
                             "--held-window", "0.01").output)
    assert data[0]["flags"] == ["held"] and data[0]["status"] == "held"

    async def held_events() -> int:
        async with await Store.open(db, Access.READ) as store:
            return len(await store.events(2, "flag_held"))

    assert asyncio.run(held_events()) == 0  # computed, never written by a reader
    assert db.read_bytes() == before


def test_status_prometheus(db: Path) -> None:
    res = invoke("status", "--db", str(db), "--format", "prometheus")
    assert res.exit_code == 0
    assert 'chaos_eval_campaign_trials_done{campaign="1",name="h"}' in res.output
    line = 'chaos_eval_campaign_status{campaign="2",name="two",status="interrupted"} 1'
    assert line in res.output


def test_logs_prints_and_follow_ends_with_the_runner(db: Path) -> None:
    log_path(db, 1).write_text("line one\nline two\n")
    res = invoke("logs", "1", "--db", str(db))
    assert res.exit_code == 0 and res.output == "line one\nline two\n"
    pid_path(db, 1).write_text("999999999\n")  # no such process: the run is over
    res = invoke("logs", "1", "-f", "--db", str(db))
    assert res.exit_code == 0 and res.output == "line one\nline two\n"


def test_schema_prints_the_json_schema(tmp_path: Path) -> None:
    res = invoke("schema")
    assert res.exit_code == 0 and json.loads(res.output)["title"] == "chaos-eval campaign"
    target = tmp_path / "s.json"
    assert invoke("schema", "-o", str(target)).exit_code == 0
    assert json.loads(target.read_text()) == json.loads(res.output)
    one_line_error(invoke("schema", "-o", str(tmp_path / "no" / "s.json")), 2, "cannot write")


def test_plan_reads_the_db_without_creating_or_changing_it(db: Path, tmp_path: Path) -> None:
    import yaml

    from tests.unit.run.test_harness import doc as harness_doc

    missing = tmp_path / "none.db"
    f = tmp_path / "h.yaml"
    f.write_text(yaml.safe_dump(harness_doc()))
    res = invoke("plan", str(f), "--db", str(missing))
    assert res.exit_code == 0 and "creates a new campaign (no db yet)" in res.output
    assert "assumed overhead" in res.output and not missing.exists()
    before = db.read_bytes()
    data = json.loads(invoke("plan", str(f), "--db", str(db), "-f", "json").output)
    assert db.read_bytes() == before  # read-only
    assert data["what_runs"].startswith("continues campaign 1") and data["todo"] == 0
    assert data["eta_todo_s"] == 0 and data["eta_fresh_s"] > 0
    assert all(c["source"].startswith("history: median of") for c in data["cells"])
    (tmp_path / "two.yaml").write_text(yaml.safe_dump(harness_doc(name="two")))
    data = json.loads(invoke("plan", str(tmp_path / "two.yaml"), "--db", str(db),
                             "-f", "json").output)
    assert data["what_runs"] == "continues campaign 2 (7 trials done)" and data["todo"] == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["plan", "nosuch.yaml"], "no such file"),
        (["plan", "campaigns/smoke.yaml", "--format", "xml"], "--format"),
    ],
)
def test_plan_bad_input(tmp_path: Path, args: list[str], needle: str) -> None:
    from tests.unit.spec.test_schema import CAMPAIGNS

    args = [a.replace("campaigns/", f"{CAMPAIGNS}/") for a in args]
    one_line_error(invoke(*args, "--db", str(tmp_path / "x.db")), 2, needle)
    assert not (tmp_path / "x.db").exists()
