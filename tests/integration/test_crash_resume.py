"""Crash-proof campaigns on real Docker: SIGKILL at many points, resume each time; Ctrl-C;
the lease; gc. Nothing lost, nothing duplicated, no fault or resource left behind."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos_eval.chaos.diskfill import fill_names
from chaos_eval.images.build import BuildResult
from tests.integration.crash_support import (
    KILL_POINTS,
    ROOT,
    KillPoint,
    OutputTap,
    campaign_uid,
    fill_files,
    kill9,
    labelled,
    max_event,
    query,
    reap_and_collect,
    start_runner,
    wait_for,
)

# a run bounded at 600 s plus a resume
pytestmark = [pytest.mark.docker, pytest.mark.timeout(1200)]
PLANNED = 4  # baseline + latency + partition + node_kill


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "eval.db"
    yield path
    reap_and_collect(path)


def finish(db: Path, *args: str) -> tuple[int, str]:
    proc = start_runner(db, *args)
    out, _ = proc.communicate(timeout=600)
    return proc.returncode, out


def test_sigkill_at_many_points_then_resume(
    db: Path, built_images: dict[str, BuildResult], capsys: pytest.CaptureFixture[str]
) -> None:
    survived = 0
    left_behind = []
    for point in KILL_POINTS:
        since = max_event(db)
        proc = start_runner(db)
        if not wait_for(db, point, since, proc):
            out = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"runner exited before {point.name!r}: {out}")
        kill9(proc)
        survived += 1
        uid = campaign_uid(db)
        left_behind.append((point.name, labelled(uid)))
    code, out = finish(db)
    assert code in (0, 1), out
    with capsys.disabled():  # shown in every run, not only when the test fails
        print(f"\nsurvived {survived} SIGKILLs; resources left by each kill: {left_behind}")

    # a dead run really did leave things behind for resume to repair
    assert any(sum(counts) for _, counts in left_behind)
    rows = query(db, "SELECT key, status, attempts FROM trials")
    assert len(rows) == PLANNED  # every planned trial, exactly one record each
    assert {r[1] for r in rows} <= {"passed", "failed"}, rows
    assert sum(int(r[2]) for r in rows) > PLANNED  # killed trials were re-run
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    assert query(db, "SELECT COUNT(*) FROM fault_ledger WHERE state = 'open'") == [(0,)]
    assert query(db, "SELECT COUNT(*) FROM campaigns") == [(1,)]
    assert query(db, "SELECT status FROM campaigns") == [("finished",)]
    repaired = query(db, "SELECT COUNT(*) FROM events WHERE kind = 'ledger_repaired'")
    assert repaired[0][0] >= 1  # open ledger rows were undone by a fresh process
    assert labelled(campaign_uid(db)) == (0, 0, 0)


def test_ctrl_c_cleans_up_and_exits_130_then_resume_finishes(
    db: Path, built_images: dict[str, BuildResult]
) -> None:
    proc = start_runner(db)
    assert wait_for(db, KILL_POINTS[2], 0, proc)  # a fault is active
    os.kill(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 130, out
    assert "Traceback" not in out and "resume" in out
    assert query(db, "SELECT status FROM campaigns") == [("interrupted",)]
    assert query(db, "SELECT COUNT(*) FROM fault_ledger WHERE state = 'open'") == [(0,)]
    statuses = [r[0] for r in query(db, "SELECT status FROM trials")]
    assert "interrupted" in statuses
    assert labelled(campaign_uid(db)) == (0, 0, 0)  # the first Ctrl-C tears clusters down
    code, out = finish(db, "resume", "1")
    assert code in (0, 1), out
    assert {r[0] for r in query(db, "SELECT status FROM trials")} <= {"passed", "failed"}


def test_second_ctrl_c_still_removes_the_fault(
    db: Path, built_images: dict[str, BuildResult]
) -> None:
    proc = start_runner(db)
    assert wait_for(db, KILL_POINTS[2], 0, proc)
    tap = OutputTap(proc)
    os.kill(proc.pid, signal.SIGINT)
    # the second interrupt lands once the runner has acted on the first (it says so), while
    # its trial is still removing the fault
    assert tap.wait_for_line("interrupting", timeout_s=60), "".join(tap.lines)
    os.kill(proc.pid, signal.SIGINT)
    out = tap.finish(timeout_s=180)
    assert "hurrying" in out, out
    assert proc.returncode == 130, out
    # faults are removed even in a hurry; the cluster may be left for resume/gc
    assert query(db, "SELECT COUNT(*) FROM fault_ledger WHERE state = 'open'") == [(0,)]
    gc_dry = start_runner(db, "gc", "--dry-run")
    gc_out, _ = gc_dry.communicate(timeout=60)
    assert gc_dry.returncode == 0, gc_out
    gc = start_runner(db, "gc")
    gc_out, _ = gc.communicate(timeout=120)
    assert gc.returncode == 0, gc_out
    assert labelled(campaign_uid(db)) == (0, 0, 0)


def test_second_runner_is_refused_while_the_lease_is_fresh(
    db: Path, built_images: dict[str, BuildResult]
) -> None:
    first = start_runner(db)
    try:
        assert wait_for(db, KILL_POINTS[0], 0, first)
        code, out = finish(db)
        assert code == 4, out
        assert f"pid {first.pid}" in out and "Traceback" not in out
        status = start_runner(db, "status", "--format", "json")
        s_out, _ = status.communicate(timeout=60)
        assert status.returncode == 0 and '"status": "running"' in s_out  # works mid-run
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=180)
    assert labelled(campaign_uid(db)) == (0, 0, 0)


KINDS = ROOT / "tests" / "integration" / "campaigns" / "crash_kinds.yaml"
KINDS_PLANNED = 7  # baseline + disk_pressure, latency, packet_loss, partition, node_kill, pause
DISK_ACTIVE = KillPoint(
    "disk_pressure active",
    "SELECT 1 FROM events e JOIN trials t ON t.id = e.trial_id "
    "WHERE e.id > ? AND e.kind = 'phase_fault_active' AND t.fault = 'disk_pressure'",
    0.5,
)
RANDOM_KILLS = 20
KILLS_PER_TRIAL = 4
TRIAL_DONE = "SELECT 1 FROM events WHERE id > ? AND kind IN ('trial_passed', 'trial_failed')"
ANCHORS = ("start", "trial_started", "phase_healthy", "phase_warmup", "phase_fault_active",
           "phase_fault_removed", "phase_recovery")


def test_sigkill_at_random_moments_then_resume(
    db: Path, built_images: dict[str, BuildResult], capsys: pytest.CaptureFixture[str]
) -> None:
    """The harness's own chaos: SIGKILL the runner >= 20 times at random moments (seeded),
    resuming each time; every planned trial ends exactly once, none because of the kills."""
    rng = random.Random(20261201)
    t0 = time.monotonic()
    # First, one kill while disk_pressure's fill files are in place: they are left on the
    # target's volume only, named after the trial, for resume to remove through the ledger.
    proc = start_runner(db, "run", "campaign", str(KINDS))
    assert wait_for(db, DISK_ACTIVE, 0, proc, timeout_s=300)
    kill9(proc)
    (disk_key, disk_id), = query(db, "SELECT key, id FROM trials WHERE fault = 'disk_pressure'")
    fills = fill_files(campaign_uid(db))
    assert len(fills) == 1, fills  # one target, one volume: nothing anywhere else
    (names,) = fills.values()
    assert names and set(names) <= set(fill_names(disk_key)), names
    kills, left = 1, sum(labelled(campaign_uid(db)))
    for _ in range(RANDOM_KILLS - 1):
        # a random moment: a random phase boundary of the next trial (or the very start),
        # then a random delay; most of a trial's time is cluster start-up, so anchoring on
        # phases makes kills land in fault and cleanup phases too
        phase = rng.choice(ANCHORS)
        point = KillPoint(f"{phase} +", "SELECT 1 FROM events WHERE id > ? AND kind = ?",
                          rng.uniform(0.0, 3.0))
        # a trial killed KILLS_PER_TRIAL times is let finish first (the kill lands after it,
        # at the same random delay), so the kills spread over every fault kind
        hot = query(db, "SELECT MAX(attempts) FROM trials WHERE status IN "
                        "('running', 'interrupted')")
        if hot and (hot[0][0] or 0) >= KILLS_PER_TRIAL:
            phase, point = "trial_done", KillPoint("after a trial ended", TRIAL_DONE,
                                                   point.delay_s)
        since = max_event(db)
        proc = start_runner(db, "run", "campaign", str(KINDS))
        if phase == "start":
            time.sleep(point.delay_s + 1.0)
            reached = proc.poll() is None
        else:
            reached = wait_for(db, point, since, proc,
                               args=() if phase == "trial_done" else (phase,))
        if not reached:  # it finished the campaign before this kill
            break
        kill9(proc)
        kills += 1
        if query(db, "SELECT 1 FROM campaigns"):  # killed before its campaign existed
            left += sum(labelled(campaign_uid(db)))
    code, out = finish(db, "run", "campaign", str(KINDS))
    assert code in (0, 1), out
    rows = query(db, "SELECT key, status, attempts FROM trials")
    per_kind = query(db, "SELECT fault, attempts FROM trials ORDER BY id")
    ledger = query(db, "SELECT state, COUNT(*) FROM fault_ledger GROUP BY state")
    repaired = query(db, "SELECT COUNT(*) FROM events WHERE kind = 'ledger_repaired'")[0][0]
    # the fill files' ledger row was undone by the next run's repair, every action done (a
    # row with problems is recorded with them and closed cleanup_failed)
    disk_repairs = query(
        db, "SELECT e.detail, f.description, f.state FROM events e JOIN fault_ledger f "
        "ON f.trial_id = e.trial_id WHERE e.kind = 'ledger_repaired' AND e.trial_id = ? "
        "ORDER BY f.id LIMIT 1", (disk_id,))
    with capsys.disabled():
        print(f"\n{kills} SIGKILLs at random moments in {time.monotonic() - t0:.0f}s; "
              f"trials {len(rows)}/{KINDS_PLANNED}, statuses "
              f"{sorted({r[1] for r in rows})}, attempts {sum(int(r[2]) for r in rows)}, "
              f"ledger {dict(ledger)}, rows repaired by resume {repaired}, "
              f"labelled resources seen after kills {left}; attempts per trial "
              f"{dict(per_kind)}; fill files left by the "
              f"disk_pressure kill {sum(map(len, fills.values()))} on 1 volume, repaired: "
              f"{disk_repairs}")
    assert disk_repairs and disk_repairs[0][0] == disk_repairs[0][1], disk_repairs
    assert disk_repairs[0][2] == "cleaned", disk_repairs
    assert kills >= RANDOM_KILLS
    assert repaired >= 1  # some kills did land while a fault was in place
    assert len(rows) == KINDS_PLANNED and len({r[0] for r in rows}) == KINDS_PLANNED
    assert {r[1] for r in rows} <= {"passed", "failed"}, rows  # no error/cleanup_failed
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    assert query(db, "SELECT COUNT(*) FROM fault_ledger WHERE state = 'open'") == [(0,)]
    assert query(db, "SELECT status FROM campaigns") == [("finished",)]
    assert labelled(campaign_uid(db)) == (0, 0, 0)
