"""Drive the real CLI in a subprocess and kill it at chosen points, observed from eval.db."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGN = ROOT / "tests" / "integration" / "campaigns" / "crash.yaml"


STARTED: list[subprocess.Popen[str]] = []  # every runner a test started, for its teardown


def start_runner(db: Path, *args: str) -> subprocess.Popen[str]:
    argv = args or ("run", "campaign", str(CAMPAIGN))
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaos_eval", *argv, "--db", str(db)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    STARTED.append(proc)
    return proc


def reap_and_collect(db: Path) -> None:
    """Test teardown, pass or fail: kill runners still alive, then `gc` this db's campaigns
    (the tool's own way of removing what a dead run left behind)."""
    for proc in STARTED:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    STARTED.clear()
    if db.exists():
        subprocess.run(
            [sys.executable, "-m", "chaos_eval", "gc", "--db", str(db)],
            cwd=ROOT,
            capture_output=True,
            timeout=300,
            check=False,
        )


def query(db: Path, sql: str, args: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    except sqlite3.OperationalError:
        return []  # schema not created yet
    finally:
        con.close()


def max_event(db: Path) -> int:
    rows = query(db, "SELECT COALESCE(MAX(id), 0) FROM events")
    return int(rows[0][0]) if rows else 0


@dataclass(frozen=True)
class KillPoint:
    name: str
    sql: str  # returns a row once the point is reached (events newer than ?)
    delay_s: float = 0.0  # wait this long after the point before killing


KILL_POINTS = (
    KillPoint(
        "during cluster start", "SELECT 1 FROM events WHERE id > ? AND kind = 'trial_started'", 0.4
    ),
    KillPoint(
        "right after a ledger row",
        "SELECT 1 FROM fault_ledger f JOIN events e ON "
        "e.trial_id = f.trial_id WHERE e.id > ? AND f.state = 'open'",
    ),
    KillPoint(
        "while a fault is active",
        "SELECT 1 FROM events WHERE id > ? AND kind = 'phase_fault_active'",
        1.0,
    ),
    KillPoint(
        "during cleanup", "SELECT 1 FROM events WHERE id > ? AND kind = 'phase_fault_active'", 3.05
    ),
    KillPoint(
        "between trials",
        "SELECT 1 FROM events WHERE id > ? AND kind IN ('trial_passed', 'trial_failed')",
    ),
)


def wait_for(
    db: Path, point: KillPoint, since: int, proc: subprocess.Popen[str], timeout_s: float = 180,
    args: tuple[object, ...] = (),
) -> bool:
    """Poll until the point is reached (its query given `since` and `args`); False if the
    runner exited first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if query(db, point.sql, (since, *args)):
            if point.delay_s:
                time.sleep(point.delay_s)
            return proc.poll() is None
        time.sleep(0.05)
    raise TimeoutError(f"kill point {point.name!r} not reached in {timeout_s}s")


def kill9(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.stdout is not None
    proc.stdout.close()


def campaign_uid(db: Path) -> str:
    return str(query(db, "SELECT uid FROM campaigns ORDER BY id DESC LIMIT 1")[0][0])


def labelled(uid: str) -> tuple[int, int, int]:
    # The low-level listing: containers.list() inspects each container in a second call and
    # raises NotFound when one is removed in between (an orphaned compose child may still be
    # working right after a SIGKILL).
    api = docker.from_env().api
    flt = {"label": f"chaos-eval.campaign={uid}"}
    return (
        len(api.containers(all=True, filters=flt)),
        len(api.networks(filters=flt)),
        len(api.volumes(filters=flt).get("Volumes") or []),
    )


class OutputTap:
    """Reads a runner's output as it comes (in a thread), so a test can wait, to a deadline,
    for a line the runner prints when it reaches a state, then collect everything."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        self.proc, self.lines = proc, list[str]()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self.lines.append("")  # end of output
            self._changed.notify_all()

    def wait_for_line(self, text: str, timeout_s: float) -> bool:
        """True once a line containing `text` was printed; False if the output ended first.
        TimeoutError past the deadline."""
        def seen() -> bool:
            return any(text in line for line in self.lines) or self.lines[-1:] == [""]

        with self._changed:
            if not self._changed.wait_for(seen, timeout_s):
                raise TimeoutError(f"no line with {text!r} within {timeout_s}s")
            return any(text in line for line in self.lines)

    def finish(self, timeout_s: float) -> str:
        """Wait for the runner to exit; everything it printed."""
        self.proc.wait(timeout=timeout_s)
        self._thread.join(timeout=30)
        return "".join(self.lines)


def fill_files(uid: str) -> dict[str, list[str]]:
    """Every disk_pressure fill file on the campaign's volumes, by volume (the test's own
    helper lists each volume's top directory, read-only, and is removed afterwards)."""
    import asyncio

    from chaos_eval.cleanup.node_state import FILL_PREFIX
    from chaos_eval.engine.client import Docker
    from chaos_eval.subject import LABEL_CAMPAIGN

    async def run() -> dict[str, list[str]]:
        docker = Docker()
        found: dict[str, list[str]] = {}
        for vol in (await docker.labelled(LABEL_CAMPAIGN, uid)).volumes:
            res = await docker.run_helper(("ls", "-A", "/target"), volume=vol, caps=(),
                                          labels={LABEL_CAMPAIGN: uid,
                                                  "chaos-eval.role": "helper"})
            assert res.ok, res.stderr
            names = [n for n in res.stdout.split() if n.startswith(FILL_PREFIX)]
            if names:
                found[vol] = names
        return found

    return asyncio.run(run())
