"""eval.db's filesystem fills up in the middle of a campaign (issue 11), on real Docker: the
db lives on a small tmpfs of its own, a filler file takes every free byte while a fault is
in place. The run stops with one clear error line and exit 3; every row written before is
intact (integrity_check, `analyze` reads the earlier trials); the fault and the cluster are
removed although nothing more can be recorded; what could not be recorded (the fault's
ledger row) is undone by `resume`, which, once the filler is gone, finishes the campaign.

Needs root to mount the tmpfs; skips, saying why, where mounting is not permitted."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos_eval.images.build import BuildResult
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
CAMPAIGN = ROOT / "tests" / "integration" / "campaigns" / "db_full.yaml"
PLANNED = 2  # baseline, latency (the filesystem fills under it)
FS_SIZE = "32m"
LATENCY_ACTIVE = KillPoint(
    "latency active",
    "SELECT 1 FROM events e JOIN trials t ON t.id = e.trial_id "
    "WHERE e.id > ? AND e.kind = 'phase_fault_active' AND t.fault = 'latency'",
)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of FS_SIZE of its own, unmounted (after the runners are reaped and the test's
    campaigns collected) whatever happens."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs for eval.db needs root")
    point = tmp_path / "dbfs"
    point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={FS_SIZE},mode=0755", "tmpfs",
                           str(point)], capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield point
    finally:
        (point / "filler").unlink(missing_ok=True)  # room for gc's writes
        reap_and_collect(point / "eval.db")
        subprocess.run(["umount", str(point)], capture_output=True, timeout=60, check=True)


def fill(path: Path) -> int:
    """Take every free byte of path's filesystem: big writes, then small ones, to ENOSPC."""
    written = 0
    with path.open("wb", buffering=0) as f:
        for chunk in (1 << 20, 4096, 1):
            block = b"\0" * chunk
            while True:
                try:
                    written += f.write(block) or 0
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
    return written


def cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaos_eval", *args, "--db", str(db)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def test_db_filesystem_fills_mid_campaign_then_resume(
    small_fs: Path, built_images: dict[str, BuildResult], capsys: pytest.CaptureFixture[str]
) -> None:
    db = small_fs / "eval.db"
    proc = start_runner(db, "run", "campaign", str(CAMPAIGN))
    tap = OutputTap(proc)
    assert wait_for(db, LATENCY_ACTIVE, 0, proc, timeout_s=300), "".join(tap.lines)
    filled = fill(small_fs / "filler")
    out = tap.finish(timeout_s=300)
    assert proc.returncode == 3, out
    assert "Traceback" not in out, out
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, out
    assert "cannot write (database or disk is full)" in errors[0] and "resume" in errors[0]

    # with the filesystem still full: what was written before is intact and readable
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    before = query(db, "SELECT id, key, fault, status FROM trials ORDER BY id")
    done_before = [r for r in before if r[3] in ("passed", "failed")]
    assert [r[2] for r in done_before] == ["baseline"], before
    cid = str(query(db, "SELECT id FROM campaigns")[0][0])
    analyze = cli(db, "analyze", cid, "--format", "json")
    assert analyze.returncode == 0, analyze.stdout + analyze.stderr
    assert "baseline" in json.dumps(json.loads(analyze.stdout))
    # no fault or container left behind, although recording had failed
    uid = campaign_uid(db)
    assert labelled(uid) == (0, 0, 0)
    open_rows = query(db, "SELECT COUNT(*) FROM fault_ledger WHERE state = 'open'")[0][0]

    # room again: resume repairs what could not be recorded and finishes the campaign
    (small_fs / "filler").unlink()
    resume = cli(db, "resume", cid)
    assert resume.returncode in (0, 1), resume.stdout + resume.stderr
    rows = query(db, "SELECT key, status FROM trials ORDER BY id")
    assert len(rows) == PLANNED and len({r[0] for r in rows}) == PLANNED
    assert {r[1] for r in rows} <= {"passed", "failed"}, rows
    assert rows[0] == (done_before[0][1], done_before[0][3])  # the earlier row untouched
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    assert query(db, "SELECT COUNT(*) FROM fault_ledger WHERE state = 'open'") == [(0,)]
    assert query(db, "SELECT status FROM campaigns") == [("finished",)]
    assert labelled(uid) == (0, 0, 0)
    repaired = query(db, "SELECT COUNT(*) FROM events WHERE kind = 'ledger_repaired'")[0][0]
    with capsys.disabled():
        print(f"\ntmpfs {FS_SIZE}, filler {filled / 2**20:.1f} MiB; run: exit "
              f"{proc.returncode}, {errors[0]!r}; trials before {[r[2:] for r in before]}; "
              f"open ledger rows left {open_rows}; resume: exit {resume.returncode}, "
              f"repaired {repaired}, trials {[r[1] for r in rows]}")
