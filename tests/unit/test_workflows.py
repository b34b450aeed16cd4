"""The CI workflows, linted offline: actionlint and zizmor with zero findings, plus the rules
actionlint and zizmor do not spell out for us: every action pinned by full commit SHA with
its tag in a comment, no permissions at the top, and every step a thin call of a script."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]' (it is in the test extra)")
    return found


def test_there_is_the_nightly_workflow() -> None:
    assert ROOT / ".github" / "workflows" / "nightly-chaos.yml" in WORKFLOWS


def test_actionlint_finds_nothing() -> None:
    res = subprocess.run(
        [tool("actionlint"), "-no-color", *map(str, WORKFLOWS)],
        capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr


def test_zizmor_finds_nothing() -> None:
    res = subprocess.run(
        [tool("zizmor"), "--offline", "--no-progress", "--format", "plain", "--persona",
         "auditor", *map(str, WORKFLOWS)],
        capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_pinned_least_privilege_and_thin(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    assert doc["permissions"] == {}
    for line in (ln for ln in text.splitlines() if "uses:" in ln):
        assert re.search(r"uses: [\w.-]+/[\w./-]+@[0-9a-f]{40}\s+# v\d+\.\d+\.\d+$", line), line
    for name, job in doc["jobs"].items():
        assert "permissions" in job, f"job {name} sets no permissions"
        assert "timeout-minutes" in job, f"job {name} has no timeout"
        for step in job["steps"]:
            if "run" in step:
                assert re.fullmatch(r"scripts/nightly [\w -./]+", step["run"].strip()), step
