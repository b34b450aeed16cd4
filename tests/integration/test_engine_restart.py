"""The Docker daemon restarted in the middle of a campaign (issue 11), on real Docker: the
trial running then ends `error` saying the engine went away, nothing recorded is lost, the
campaign goes on with the next trial once the engine answers, and a resume afterwards
leaves nothing behind (no labelled resource, no open ledger row, no harness iptables chain
on the host).

It restarts the machine's daemon, which stops EVERY container on it (live-restore is off):
run it alone, under the exclusive lock (`flock -x /work/docker.lock pytest ...`). It skips,
saying why, where it cannot restart the daemon (not root, no dockerd process visible).

The abort path (a daemon that does not come back: after each `error` the runner waits for
the engine, bounded, then goes on, and max_consecutive_errors in a row abort the campaign)
is tested without Docker, where a daemon can stay away without stopping the machine's
other containers for minutes: tests/unit/run/test_lost_engine_and_full_db.py."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos_eval.images.build import BuildResult
from tests.integration import daemon
from tests.integration.crash_support import (
    ROOT,
    KillPoint,
    OutputTap,
    campaign_uid,
    labelled,
    query,
    reap_and_collect,
    start_runner,
    wait_for,
)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]
CAMPAIGN = ROOT / "tests" / "integration" / "campaigns" / "engine_restart.yaml"
PLANNED = 3  # baseline, latency (the daemon restarts under it), partition
LATENCY_ACTIVE = KillPoint(
    "latency active",
    "SELECT 1 FROM events e JOIN trials t ON t.id = e.trial_id "
    "WHERE e.id > ? AND e.kind = 'phase_fault_active' AND t.fault = 'latency'",
)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "eval.db"
    yield path
    reap_and_collect(path)


def host_harness_chains() -> list[str]:
    """Harness chains on the host (there must never be any: its rules live in the targets'
    namespaces). Docker's own chains, which it recreates on every start, are ignored."""
    out = subprocess.run(["iptables-save"], capture_output=True, text=True, timeout=30,
                         check=True).stdout
    return [line for line in out.splitlines() if "CHAOS_EVAL" in line]


def test_daemon_restart_mid_campaign_then_resume(
    db: Path, built_images: dict[str, BuildResult], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    found = daemon.find_daemon()
    if isinstance(found, str):
        pytest.skip(found)
    log = tmp_path / "dockerd.log"
    proc = start_runner(db, "run", "campaign", str(CAMPAIGN))
    tap = OutputTap(proc)
    assert wait_for(db, LATENCY_ACTIVE, 0, proc, timeout_s=300), "".join(tap.lines)
    t_down = time.monotonic()
    try:
        stop_s = daemon.stop(found)
        # keep it down until the runner has met the missing engine (it says so), bounded
        assert tap.wait_for_line("Docker engine is unreachable", 90), "".join(tap.lines)
        start_s = daemon.start(found, log)
    finally:
        daemon.ensure_running(found, log)
    down_s = time.monotonic() - t_down
    out = tap.finish(timeout_s=600)
    assert proc.returncode == 3, out  # a trial ended `error`: harness trouble, exit 3
    assert "Traceback" not in out

    rows = query(db, "SELECT key, fault, status, attempts, error FROM trials ORDER BY id")
    by_fault = {r[1]: r for r in rows}
    latency = by_fault["latency"]
    assert len(rows) == PLANNED and len({r[0] for r in rows}) == PLANNED
    assert latency[2] == "error" and "Docker engine" in latency[4], latency
    # the campaign went on after the restart: the next trial ran on the engine that came back
    assert by_fault["partition"][2] in ("passed", "failed"), by_fault["partition"]
    assert all(r[3] == 1 for r in rows), rows  # each trial ran once
    assert query(db, "SELECT status FROM campaigns") == [("finished",)]
    # nothing recorded before is lost
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    baseline_ops = query(db, "SELECT COUNT(*) FROM ops o JOIN trials t ON t.id = o.trial_id "
                             "WHERE t.fault = 'baseline'")[0][0]
    assert baseline_ops > 0
    open_before = query(db, "SELECT COUNT(*) FROM fault_ledger WHERE state = 'open'")[0][0]
    left_before = labelled(campaign_uid(db))

    cid = query(db, "SELECT id FROM campaigns")[0][0]
    resume = start_runner(db, "resume", str(cid))
    r_out, _ = resume.communicate(timeout=300)
    assert resume.returncode == 3, r_out  # nothing left to run; the error trial stands
    rows_after = query(db, "SELECT key, status, attempts FROM trials ORDER BY id")
    # each planned trial ended exactly once: resume ran none of them again
    assert rows_after == [(r[0], r[2], r[3]) for r in rows]
    assert query(db, "SELECT COUNT(*) FROM fault_ledger WHERE state = 'open'") == [(0,)]
    assert labelled(campaign_uid(db)) == (0, 0, 0)
    assert host_harness_chains() == []
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    repaired = query(db, "SELECT COUNT(*) FROM events WHERE kind = 'ledger_repaired'")[0][0]
    with capsys.disabled():
        print(f"\ndaemon down {down_s:.1f}s (stop {stop_s:.1f}s, start {start_s:.1f}s); "
              f"trials {[(r[1], r[2]) for r in rows]}; error: {latency[4]!r}; before resume: "
              f"open ledger rows {open_before}, labelled {left_before}; resume: exit "
              f"{resume.returncode}, ledger rows repaired {repaired}, labelled "
              f"{labelled(campaign_uid(db))}")
