"""A user's path: the wheel, installed outside the repository, runs a real campaign.

The wheel is built from this tree (`python -m build`), installed into a fresh venv in a
temporary directory next to PyPI's `chaos` and `eval` packages (both of which once clashed
with our top-level import names), and driven from a working directory that holds nothing
but a campaign the test writes there. No PYTHONPATH, no checkout on the path: every compose
file, helper program and recipe file must come out of the installed package. Then
`pipx install` of the same wheel gives a working `chaos-eval` of its own.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.integration.leftovers import leftovers

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

CAMPAIGN = """\
name: from-the-wheel
subjects: [etcd]
chaos_types:
  - type: node_kill
    target: follower
trials_per_combination: 1
parallel: 1
include_baseline: true
timing: {warmup_s: 2, fault_duration_s: 3, recovery_timeout_s: 60}
workload: {rate_per_s: 10, concurrency: 2}
"""


def run(argv: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def ok(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode == 0, (
        f"{p.args}: exit {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}"
    )
    return p.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    ok(run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)], ROOT))
    (whl,) = out.glob("chaos_eval-*.whl")
    return whl


def test_the_wheel_carries_one_import_name_and_everything_it_reads(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.startswith("chaos_eval-")}
    assert tops == {"chaos_eval"}, tops
    for shipped in ("chaos_eval/compose/etcd.yml", "chaos_eval/compose/redis/sentinel.conf",
                    "chaos_eval/chaos/helper/shaper.py", "chaos_eval/chaos/helper/reach.py",
                    "chaos_eval/subjects/tikv/gateway.py", "chaos_eval/campaigns/smoke.yaml",
                    "chaos_eval/py.typed"):
        assert shipped in names, shipped


def test_installed_outside_the_repository_it_runs_a_real_campaign(
    wheel: Path, tmp_path: Path
) -> None:
    venv, work = tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    ok(run([sys.executable, "-m", "venv", str(venv)], tmp_path))
    pip, py, cli = str(venv / "bin/pip"), str(venv / "bin/python"), str(venv / "bin/chaos-eval")
    # PyPI's `chaos` (a top-level `chaos` package) and `eval` first, then ours beside them
    ok(run([pip, "install", "-q", "chaos==0.2.3", "eval==0.0.5"], work))
    ok(run([pip, "install", "-q", str(wheel)], work))

    where = json.loads(ok(run([py, "-c", (
        "import json, chaos, chaos_eval, chaos_eval.chaos;"
        "print(json.dumps([chaos.__file__, chaos_eval.__file__, chaos_eval.chaos.__file__]))"
    )], work)))
    site = str(venv / "lib")
    assert all(p.startswith(site) for p in where), where
    assert "/chaos_eval/" not in where[0], "PyPI's chaos must stay PyPI's"
    assert str(ROOT) not in " ".join(where), "nothing may come from the checkout"
    assert (venv / "bin/pyval").exists(), "PyPI's eval keeps its script"
    assert "chaos-eval 0.1.0" in ok(run([cli, "--version"], work))

    (work / "campaign.yaml").write_text(CAMPAIGN)
    assert "trials" in ok(run([cli, "validate", "campaign.yaml"], work))
    built = ok(run([cli, "images", "build"], work))
    assert "up to date" in built and " built in " not in built, built

    ok(run([cli, "run", "campaign", "campaign.yaml", "--db", "run.db"], work, timeout=600))
    report = json.loads(ok(run([cli, "analyze", "1", "--db", "run.db", "--format", "json"], work)))
    cells = {c["fault"]: c for c in report["cells"]}
    assert set(cells) == {"baseline", "node_kill"}, cells.keys()
    assert all(c["trials"] == 1 and c["passed"] == 1 for c in cells.values()), cells
    written = {p.name for p in work.iterdir()} - {"campaign.yaml"}
    assert written and written <= {"run.db", "run.db-shm", "run.db-wal"}, written
    with sqlite3.connect(f"file:{work / 'run.db'}?mode=ro", uri=True) as db:
        (uid,) = db.execute("SELECT uid FROM campaigns").fetchone()
    assert leftovers("chaos-eval.campaign", uid) == [], "the campaign left resources behind"


def test_pipx_install_of_the_wheel_gives_a_working_chaos_eval(wheel: Path, tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    ok(run([sys.executable, "-m", "venv", str(tools)], tmp_path))
    ok(run([str(tools / "bin/pip"), "install", "-q", "pipx"], tmp_path))
    env_dirs = {"PIPX_HOME": str(tmp_path / "pipx"), "PIPX_BIN_DIR": str(tmp_path / "bin")}
    os.environ.update(env_dirs)
    try:
        ok(run([str(tools / "bin/pipx"), "install", str(wheel)], tmp_path))
        cli = str(tmp_path / "bin/chaos-eval")
        assert "chaos-eval 0.1.0" in ok(run([cli, "--version"], tmp_path))
        (tmp_path / "c.yaml").write_text(CAMPAIGN)
        assert "trials" in ok(run([cli, "validate", "c.yaml"], tmp_path))
    finally:
        for k in env_dirs:
            os.environ.pop(k, None)
