"""chaos/helper/shaperctl.py run here on the host against a stand-in shaper (a script named
chaos-eval-shaper that prints the real status lines): start returns once it is bound and
leaves it running in its own session; list and stop see exactly the shapers of one queue;
stop leaves none live; one that cannot bind is reported and not left running."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos_eval.chaos.net.shape import QUEUE_RANGE
from chaos_eval.chaos.net.shaper_daemon import _pids, shaper_event
from tests.unit.helper_programs import HELPER_DIR, load_helper_program

CTL = HELPER_DIR / "shaperctl.py"
# This runs on the host, whose /proc shows the processes of every container: queue numbers
# outside the harness's reserved range, so a real shaper (of any trial running beside these
# tests) is never seen, let alone signalled.
Q1, Q2 = "65101", "65102"
assert not {int(Q1), int(Q2), 13} & set(QUEUE_RANGE)
FAKE = """#!{python}
import signal, sys, time
q = sys.argv[sys.argv.index("--queue") + 1]
if q == "13":
    print('{{"error": "cannot bind NFQUEUE 13", "event": "error", "hint": "busy"}}', flush=True)
    sys.exit(2)
signal.signal(signal.SIGTERM, lambda *_: (print('{{"event": "stopped"}}', flush=True),
                                          sys.exit(0)))
time.sleep(0.05)
print('{{"event": "bound", "queue": ' + q + '}}', flush=True)
while True:
    time.sleep(1)
"""


@pytest.fixture
def shaper(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "chaos-eval-shaper"
    path.write_text(FAKE.format(python=sys.executable))
    path.chmod(0o755)
    yield path
    for queue in (Q1, Q2):  # nothing of a failed test keeps running
        ctl("stop", queue, "2")


def ctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CTL), *args], capture_output=True, text=True,
                          timeout=30, check=False)


def start(shaper: Path, tmp_path: Path, queue: str,
          *then: str) -> subprocess.CompletedProcess[str]:
    return ctl("start", str(tmp_path / f"status-{queue}.log"), "5", str(len(then)), *then,
               str(shaper), "--queue", queue, "--delay-ms", "100")


def live(queue: str) -> tuple[int, ...] | None:
    return _pids(ctl("list", queue).stdout, "live")


def test_start_list_stop(shaper: Path, tmp_path: Path) -> None:
    assert live(Q1) == ()
    done = start(shaper, tmp_path, Q1)
    assert done.returncode == 0, done
    event = shaper_event(done.stdout)
    assert event is not None and event["event"] == "bound"
    (pid,) = live(Q1) or (None,)
    assert f"pid {pid}" in done.stdout
    assert live(Q2) == ()  # another queue's shapers are not this one's
    assert start(shaper, tmp_path, Q2).returncode == 0
    # a second start on one queue stops the first: never two shapers on one queue
    again = start(shaper, tmp_path, Q1)
    assert again.returncode == 0 and pid not in (live(Q1) or ())
    assert len(live(Q1) or ()) == 1
    stopped = ctl("stop", Q1, "5")
    assert stopped.returncode == 0 and _pids(stopped.stdout, "left") == ()
    assert live(Q1) == () and len(live(Q2) or ()) == 1
    assert '"event": "stopped"' in (tmp_path / f"status-{Q1}.log").read_text()
    assert ctl("stop", Q1, "5").returncode == 0  # idempotent


def test_then_runs_once_bound_and_only_then(shaper: Path, tmp_path: Path) -> None:
    """What queues traffic to the shaper (THEN) runs after "bound", never without it."""
    mark = tmp_path / "then-ran"
    check = (sys.executable, "-c",
             "import pathlib, sys; t = pathlib.Path(sys.argv[1]).read_text(); "
             "assert '\"bound\"' in t; pathlib.Path(sys.argv[2]).write_text('x'); sys.exit(3)",
             str(tmp_path / f"status-{Q1}.log"), str(mark))
    done = start(shaper, tmp_path, Q1, *check)
    assert done.returncode == 0 and mark.exists()
    assert _pids(done.stdout, "then") == (3,)  # its exit code, for the harness to judge
    mark.unlink()
    failed = start(shaper, tmp_path, "13", *check)
    assert failed.returncode == 1 and not mark.exists()
    assert _pids(failed.stdout, "then") is None


def test_a_shaper_that_cannot_bind_is_reported(shaper: Path, tmp_path: Path) -> None:
    done = start(shaper, tmp_path, "13")
    assert done.returncode == 1
    event = shaper_event(done.stdout)
    assert event is not None and event["event"] == "error" and event["hint"] == "busy"
    assert live("13") == ()


def test_bad_arguments() -> None:
    for args in ((), ("start",), ("stop", "1"), ("bogus",), ("stop", "1", "x"),
                 ("start", "/tmp/s", "5", "2", "true"), ("start", "/tmp/s", "5", "-1", "x")):
        assert ctl(*args).returncode == 2


def test_pid_lines_are_read_strictly() -> None:
    assert _pids("stopped 1 2\nleft \n", "left") == ()
    assert _pids("live 7 9\n", "live") == (7, 9)
    assert _pids("live x\n", "live") is None and _pids("", "left") is None
    load_helper_program("shaperctl")  # importing it has no side effects
