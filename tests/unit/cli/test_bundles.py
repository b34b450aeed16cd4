"""Register workloads through the real harness (fake subject, real eval.db), `analyze`'s history
counts, and the `bundle` / `check` commands, bad input included."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from chaos_eval.cli.app import app
from chaos_eval.spec import registry
from tests.unit.fakes import Tracker
from tests.unit.run.test_harness import doc, run

runner = CliRunner()
REGISTER = {"kind": "register", "keys": 2, "clients_per_node": 2, "rate_per_s": 400,
            "read_fraction": 0.4, "cas_fraction": 0.3}


@pytest.fixture(autouse=True)
def fake_subject(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(registry.SUBJECTS, "fake", "tests.unit.fakes:FakeSubject")
    Tracker.reset()
    yield
    Tracker.reset()


def make_db(path: Path, *, lose: bool) -> Path:
    """Campaign 1: a register workload whose subject loses writes when `lose`."""
    from chaos_eval.store.store import Store

    Tracker.lose_writes = lose
    d = doc(workload=REGISTER, slo={"linearizable": True}, trials_per_combination=1,
            chaos_types=[{"type": "noop"}], include_baseline=False)
    d["timing"] = {"warmup_s": 0.1, "fault_duration_s": 0.2, "recovery_timeout_s": 1}

    async def make() -> None:
        async with await Store.open(path) as store:
            await run(store, d)

    asyncio.run(make())
    return path


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def trial_key(db: Path) -> str:
    res = invoke("analyze", "1", "--db", str(db), "-f", "json")
    return str(json.loads(res.output)["cells"][0]["per_trial"][0]["key"])


def test_lost_writes_make_a_failed_trial_and_a_bundle_that_checks_the_same(
    tmp_path: Path,
) -> None:
    db = make_db(tmp_path / "eval.db", lose=True)
    res = invoke("analyze", "1", "--db", str(db), "-f", "json")
    cell = json.loads(res.output)["cells"][0]
    assert cell["failed"] == 1 and cell["histories"] == {
        "linearizable": 0, "not_linearizable": 1, "unknown": 0}
    assert any("history not linearizable" in r for r in cell["reasons"])
    table = invoke("analyze", "1", "--db", str(db))
    assert "lin/not/unk" in table.output
    out = tmp_path / "b.tar.gz"
    res = invoke("bundle", "1", trial_key(db), "-o", str(out), "--db", str(db))
    assert res.exit_code == 0, res.output
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
    assert {"README.txt", "trial.json", "history.jsonl", "rerun.txt", "compose.yaml"} <= names
    with tarfile.open(out) as tar:
        trial = json.load(tar.extractfile("trial.json"))  # type: ignore[arg-type]
    assert trial["status"] == "failed" and trial["measurements"]["window"]
    assert "compose_config" not in trial["proof"] and trial["rerun"].startswith("chaos-eval")
    res = invoke("check", str(out))
    assert res.exit_code == 1, res.output
    assert res.output.startswith("not_linearizable: ")
    assert "recorded when the trial ran: not_linearizable" in res.output
    res = invoke("check", str(out), "-f", "json")
    assert json.loads(res.output)["verdict"] == json.loads(res.output)["recorded"]
    html = tmp_path / "r.html"
    assert invoke("report", "1", "--db", str(db), "-o", str(html)).exit_code == 0
    page = html.read_text()
    lin = json.loads(res.output)
    assert "Register histories that are not linearizable" in page
    assert f'id="op-{lin["op"]}"' in page and "href='#first-error-" in page
    assert page.count('stroke="#d00000"') >= len(lin["window"])  # each offending op, twice


def test_a_linearizable_history_passes_and_checks_ok(tmp_path: Path) -> None:
    db = make_db(tmp_path / "eval.db", lose=False)
    cell = json.loads(invoke("analyze", "1", "--db", str(db), "-f", "json").output)["cells"][0]
    assert cell["passed"] == 1 and cell["histories"]["linearizable"] == 1
    out = tmp_path / "b.tar.gz"
    assert invoke("bundle", "1", trial_key(db), "-o", str(out), "--db", str(db)).exit_code == 0
    res = invoke("check", str(out))
    assert res.exit_code == 0 and res.output.startswith("linearizable"), res.output


def test_kv_campaign_analyze_json_has_no_histories_key(tmp_path: Path) -> None:
    from chaos_eval.store.store import Store

    async def make() -> None:
        async with await Store.open(tmp_path / "eval.db") as store:
            await run(store, doc(trials_per_combination=1))

    asyncio.run(make())
    res = invoke("analyze", "1", "--db", str(tmp_path / "eval.db"), "-f", "json")
    assert all("histories" not in c for c in json.loads(res.output)["cells"])
    assert "lin/not/unk" not in invoke("analyze", "1", "--db", str(tmp_path / "eval.db")).output
    html = tmp_path / "r.html"
    assert invoke("report", "1", "--db", str(tmp_path / "eval.db"), "-o", str(html)).exit_code == 0
    assert "Register histories" not in html.read_text()
    out = tmp_path / "kv.tar.gz"  # a unique-key trial bundles without a history
    res = invoke("bundle", "1", trial_key(tmp_path / "eval.db"), "-o", str(out), "--db",
                 str(tmp_path / "eval.db"))
    assert res.exit_code == 0 and "no history" in res.output, res.output
    res = invoke("check", str(out))
    assert res.exit_code == 2 and "no history.jsonl" in res.output


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


GOOD_LINE = ('{"id": 1, "process": 0, "kind": "write", "key": "k", "value": "a", '
             '"expected": null, "invoke": 0, "complete": 1, "outcome": "ok"}\n')


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"not a tarball at all", "not a readable .tar.gz bundle"),
        (_tar({"trial.json": b"{}", "history.jsonl": GOOD_LINE.encode()})[:40],
         "not a readable .tar.gz bundle"),
        (gzip.compress(b"plain text"), "not a readable .tar.gz bundle"),
        (_tar({"../evil": b"x", "trial.json": b"{}"}), "unexpected member '../evil'"),
        (_tar({"/etc/passwd": b"x"}), "unexpected member '/etc/passwd'"),
        (_tar({"history.jsonl": GOOD_LINE.encode()}), "no trial.json"),
        (_tar({"trial.json": b"[1]"}), "trial.json is not a JSON object"),
        (_tar({"trial.json": b"{}"}), "no history.jsonl"),
        (_tar({"trial.json": b"{}", "history.jsonl": GOOD_LINE.encode() + b"{oops\n"}),
         "history.jsonl:2: bad JSON"),
        (_tar({"trial.json": b"{}", "history.jsonl": b'{"id": 1}\n'}),
         "history.jsonl:1: missing field(s)"),
    ],
)
def test_bad_bundles_get_one_clear_line_and_exit_2(
    tmp_path: Path, content: bytes, needle: str
) -> None:
    f = tmp_path / "x.tar.gz"
    f.write_bytes(content)
    res = invoke("check", str(f))
    assert res.exit_code == 2, res.output
    assert needle in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1, res.output


def test_symlink_member_is_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("trial.json")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    f = tmp_path / "x.tar.gz"
    f.write_bytes(buf.getvalue())
    res = invoke("check", str(f))
    assert res.exit_code == 2 and "unexpected member 'trial.json'" in res.output


def test_check_missing_file_and_bad_format(tmp_path: Path) -> None:
    res = invoke("check", str(tmp_path / "nope.tar.gz"))
    assert res.exit_code == 2 and "nope.tar.gz" in res.output
    f = tmp_path / "x.tar.gz"
    f.write_bytes(_tar({"trial.json": b"{}", "history.jsonl": GOOD_LINE.encode()}))
    assert invoke("check", str(f)).exit_code == 0
    res = invoke("check", str(f), "-f", "yaml")
    assert res.exit_code == 2 and "--format" in res.output


def test_bundle_bad_input(tmp_path: Path) -> None:
    db = make_db(tmp_path / "eval.db", lose=False)
    res = invoke("bundle", "1", "ffffffffffff", "-o", str(tmp_path / "b.tar.gz"), "--db", str(db))
    assert res.exit_code == 2 and "no trial with key" in res.output
    res = invoke("bundle", "9", "ffff", "--db", str(db))
    assert res.exit_code == 2
    res = invoke("bundle", "1", trial_key(db), "-o", str(tmp_path / "no/such/dir.tgz"),
                 "--db", str(db))
    assert res.exit_code == 2 and "dir.tgz" in res.output
    assert not (tmp_path / "b.tar.gz").exists()


@pytest.mark.parametrize("cmd", [["bundle"], ["check"]])
def test_help(cmd: list[str]) -> None:
    res = invoke(*cmd, "--help")
    assert res.exit_code == 0 and "Usage" in res.output
