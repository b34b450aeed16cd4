"""`chaos-eval watch` (a held campaign flagged once per hold episode, recorded; status says
so) and the hold that lands between `run campaign --detach` returning and its background
run taking the lease (honoured, not lost)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

import pytest
import yaml

from chaos_eval.analysis.held import HELD_FLAGGED
from chaos_eval.outcomes import CampaignStatus
from chaos_eval.store.store import Store
from tests.unit.cli.test_cli import CliDocker, fake_subject, invoke
from tests.unit.fakes import Tracker
from tests.unit.run.test_harness import doc, run

__all__ = ["fake_subject"]


@pytest.fixture
def held_db(tmp_path: Path) -> Path:
    """Campaign 1 finished; campaign 2 held (its hold backdated two days)."""
    path = tmp_path / "eval.db"

    async def make() -> None:
        async with await Store.open(path) as store:
            await run(store, doc())
            cid, _ = await run(store, doc(name="two"))
            await store.set_campaign_status(cid, CampaignStatus.HELD, "held by me")

    asyncio.run(make())
    with sqlite3.connect(path) as con:
        con.execute("UPDATE events SET at = ? WHERE kind = 'campaign_held'",
                    (time.time() - 2 * 86400,))
    return path


def flags(db: Path) -> list[str]:
    with sqlite3.connect(db) as con:
        return [r[0] for r in con.execute("SELECT detail FROM events WHERE kind = ?",
                                          (HELD_FLAGGED,))]


def test_watch_flags_a_forgotten_hold_once_per_episode(held_db: Path) -> None:
    res = invoke("watch", "--once", "--db", str(held_db))
    assert res.exit_code == 0, res.output
    assert "campaign 2 (two) held for 48h00m, past 24h00m: flagged" in res.output
    assert "resume: chaos-eval resume 2" in res.output and "close:  chaos-eval close 2" in (
        res.output)
    assert len(flags(held_db)) == 1
    res = invoke("watch", "--once", "--db", str(held_db))  # the same episode: not again
    assert res.exit_code == 0 and "flagged already" in res.output and "resume:" not in res.output
    assert len(flags(held_db)) == 1
    status = json.loads(invoke("status", "2", "--db", str(held_db), "-f", "json").output)[0]
    assert "held" in status["flags"] and status["held_flagged_at"] is not None
    table = invoke("status", "--db", str(held_db)).output
    assert "flagged by `chaos-eval watch`" in table
    # a new episode (resumed, held again, forgotten again) is flagged again
    with sqlite3.connect(held_db) as con:
        now = time.time()
        con.execute("INSERT INTO events(campaign_id, at, kind, detail) VALUES "
                    "(2, ?, 'lease_acquired', ''), (2, ?, 'campaign_held', '')",
                    (now - 90000, now - 86500))
    res = invoke("watch", "--once", "--db", str(held_db))
    assert "flagged\n" in res.output and len(flags(held_db)) == 2


def test_watch_within_the_window_flags_nothing(held_db: Path) -> None:
    res = invoke("watch", "--once", "--held-window", "3d", "--db", str(held_db))
    assert res.exit_code == 0 and "no campaign held past 72h00m" in res.output
    assert flags(held_db) == []
    status = json.loads(invoke("status", "2", "--db", str(held_db), "-f", "json").output)[0]
    assert status["held_flagged_at"] is None


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--held-window", "soon"], "--held-window"),
        (["--held-window", "-1h"], "--held-window"),
        (["--held-window", "0"], "--held-window"),
        (["--once", "--interval", "5"], "--once and --interval"),
        (["--interval", "0"], "--interval"),
        (["--interval", "nope"], "--interval"),
    ],
)
def test_watch_bad_input_exit_2(held_db: Path, args: list[str], needle: str) -> None:
    res = invoke("watch", *args, "--db", str(held_db))
    assert res.exit_code == 2 and needle in res.output and "Traceback" not in res.output
    assert flags(held_db) == []


def test_watch_help_and_missing_db(tmp_path: Path) -> None:
    res = invoke("watch", "--help")
    assert res.exit_code == 0 and "--held-window" in res.output and "--once" in res.output
    res = invoke("watch", "--once", "--db", str(tmp_path / "none.db"))
    assert res.exit_code == 2 and not (tmp_path / "none.db").exists()


def test_a_hold_before_the_detached_run_takes_its_lease_is_honoured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("chaos_eval.engine.client.Docker", CliDocker)
    spawned: list[list[str]] = []
    monkeypatch.setattr("chaos_eval.engine.process.spawn_detached",
                        lambda argv, log: spawned.append(list(argv)) or 4242)
    cfg, db = tmp_path / "c.yaml", tmp_path / "eval.db"
    cfg.write_text(yaml.safe_dump(doc(parallel=1)))
    res = invoke("run", "campaign", str(cfg), "--db", str(db), "--detach")
    assert res.exit_code == 0, res.output
    (argv,) = spawned
    assert argv[-1] == "--unless-held" and argv[3:5] == ["resume", "1"]
    # the hold lands before the background run has taken its lease
    res = invoke("hold", "1", "--db", str(db))
    assert res.exit_code == 0 and "held (it was running)" in res.output
    # the background run starts now (argv as spawned, run in-process): it honours the hold
    res = invoke(*argv[3:], "--skip-image-build")
    assert res.exit_code == 0, res.output
    assert "held" in res.output and Tracker.started == []
    with sqlite3.connect(db) as con:
        status, token = con.execute("SELECT status, lease_token FROM campaigns").fetchone()
        kinds = [r[0] for r in con.execute("SELECT kind FROM events")]
    assert (status, token) == ("held", None) and "lease_acquired" not in kinds
    # an operator's resume continues it
    res = invoke("resume", "1", "--db", str(db), "--skip-image-build")
    assert res.exit_code == 0, res.output
    assert Tracker.started and json.loads(invoke(
        "analyze", "1", "--db", str(db), "-f", "json").output)["campaign"]["status"] == "finished"
