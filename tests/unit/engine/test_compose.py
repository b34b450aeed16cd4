"""engine/compose.py without Docker: argv builders, project names, file lookup, error tails, and
a compose child that must not outlive a SIGKILLed harness."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chaos_eval.engine import compose
from chaos_eval.engine.compose import (
    V1,
    V2,
    Compose,
    ComposeCommandError,
    config_argv,
    down_argv,
    project_name,
    up_argv,
)
from chaos_eval.errors import ComposeError, HarnessError


def test_up_argv_v1_and_v2() -> None:
    f = Path("/repo/compose/etcd.yml")
    assert up_argv(V1, "ce1-abc", f) == [
        "docker-compose", "-p", "ce1-abc", "-f", "/repo/compose/etcd.yml", "up", "-d",
        "--no-build",
    ]
    assert up_argv(V2, "ce1-abc", f)[:3] == ["docker", "compose", "-p"]
    assert up_argv(V2, "ce1-abc", f)[3:] == up_argv(V1, "ce1-abc", f)[2:]


def test_config_argv_renders_the_project() -> None:
    assert config_argv(V2, "ce1-abc", Path("/c/etcd.yml")) == [
        "docker", "compose", "-p", "ce1-abc", "-f", "/c/etcd.yml", "config"]


def test_down_argv_removes_volumes_and_orphans() -> None:
    argv = down_argv(V1, "ce1-abc", Path("/c/etcd.yml"))
    assert argv == [
        "docker-compose", "-p", "ce1-abc", "-f", "/c/etcd.yml", "down", "-v",
        "--remove-orphans", "-t", "5",
    ]
    assert down_argv(V2, "p", Path("/f.yml"), 0)[-2:] == ["-t", "0"]


def test_project_name_normalised_like_compose() -> None:
    assert project_name("ce12-ABCdef_01.x") == "ce12-abcdef_01x"
    assert project_name("ce3-0123456789ab") == "ce3-0123456789ab"


def test_compose_base_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    compose.compose_base.cache_clear()
    monkeypatch.setenv("CHAOS_EVAL_COMPOSE", "docker-compose --verbose")
    try:
        assert compose.compose_base() == ("docker-compose", "--verbose")
    finally:
        compose.compose_base.cache_clear()


def test_compose_base_prefers_v2_then_v1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHAOS_EVAL_COMPOSE", raising=False)
    for works, want in (({V2, V1}, V2), ({V1}, V1)):
        compose.compose_base.cache_clear()
        monkeypatch.setattr(compose, "_works", lambda base, w=works: base in w)
        assert compose.compose_base() == want
    compose.compose_base.cache_clear()
    monkeypatch.setattr(compose, "_works", lambda base: False)
    with pytest.raises(ComposeError):
        compose.compose_base()
    compose.compose_base.cache_clear()


def test_compose_file_lookup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CHAOS_EVAL_COMPOSE_DIR", raising=False)
    assert compose.compose_file("etcd").name == "etcd.yml"  # compose/ at the repo root
    monkeypatch.setenv("CHAOS_EVAL_COMPOSE_DIR", str(tmp_path))
    with pytest.raises(ComposeError, match="CHAOS_EVAL_COMPOSE_DIR"):
        compose.compose_file("etcd")
    (tmp_path / "etcd.yml").write_text("version: '2.4'\n")
    assert compose.compose_file("etcd") == tmp_path / "etcd.yml"


async def test_run_failure_carries_stderr_tail() -> None:
    script = "import sys\nfor i in range(40): print('line', i, file=sys.stderr)\nsys.exit(3)"
    with pytest.raises(ComposeCommandError) as info:
        await Compose(base=()).run([sys.executable, "-c", script], {})
    err = info.value
    assert isinstance(err, HarnessError)
    assert err.returncode == 3
    assert err.stderr_tail.splitlines() == [f"line {i}" for i in range(20, 40)]


async def test_run_passes_env_and_times_out() -> None:
    c = Compose(base=())
    show = "import os; print(os.environ['CHAOS_EVAL_X'], 'PATH' in os.environ)"
    res = await c.run([sys.executable, "-c", show], {"CHAOS_EVAL_X": "42"})
    assert res.stdout.split() == ["42", "True"]
    with pytest.raises(ComposeCommandError, match="no exit within") as info:
        await c.run([sys.executable, "-c", "import time; time.sleep(30)"], {}, timeout_s=0.5)
    assert info.value.returncode is None


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="no setpriv (util-linux) here")
def test_a_compose_child_dies_with_a_sigkilled_harness(tmp_path: Path) -> None:
    """A real harness process runs a long 'compose' command through Compose.run and is
    SIGKILLed; the kernel must kill the child too (before: it was re-parented and ran on)."""
    pidfile = tmp_path / "child.pid"
    child = f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    harness = (
        "import asyncio, sys\n"
        "from chaos_eval.engine.compose import Compose\n"
        f"asyncio.run(Compose(base=()).run([sys.executable, '-c', {child!r}], {{}}))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", harness], cwd=Path(__file__).parents[3])
    try:
        deadline = time.monotonic() + 20
        while not (pidfile.exists() and pidfile.read_text()):
            assert time.monotonic() < deadline and proc.poll() is None, "child never started"
            time.sleep(0.05)
        pid = int(pidfile.read_text())
        assert _alive(pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while _alive(pid):
            assert time.monotonic() < deadline, f"compose child {pid} outlived the harness"
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()


def _alive(pid: int) -> bool:
    """Running (a zombie awaiting its reaper counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
