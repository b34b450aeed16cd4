"""The read commands' outputs are the same bytes since analysis streams a campaign cell by
cell (eval/analysis/analyze.py) and JSON is written by eval/render/json_text.py: the digests
below were taken with the code before that change (the whole campaign read at once, json.dump)
on the same synthetic db (tests/unit/analysis/synthetic_db.py), with `python -m
tests.unit.analysis.test_streamed_outputs DIR` run against that code."""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaos_eval.cli.app import app
from tests.unit.analysis.synthetic_db import make_synthetic_db

COMMANDS: dict[str, list[str]] = {
    "analyze 1 json": ["analyze", "1", "--format", "json"],
    "analyze 2 json": ["analyze", "2", "--format", "json"],
    "analyze 1 table": ["analyze", "1"],
    "analyze 2 markdown": ["analyze", "2", "--format", "markdown"],
    "analyze 1 csv": ["analyze", "1", "--format", "csv"],
    "junit 1": ["analyze", "1", "--format", "json", "--junit", "junit1.xml"],
    "junit 2": ["analyze", "2", "--format", "json", "--junit", "junit2.xml"],
    "compare 1 2 json": ["compare", "1", "2", "--format", "json"],
    "compare 2 1": ["compare", "2", "1"],
    "report 1": ["report", "1", "-o", "report1.html", "--trials", "2"],
    "report 2": ["report", "2", "-o", "report2.html"],
}
FILES = {"junit 1": "junit1.xml", "junit 2": "junit2.xml", "report 1": "report1.html",
         "report 2": "report2.html"}  # fmt: skip

GOLDEN: dict[str, str] = {
    'analyze 1 json': '3737e1e2397f145af1107bd5f6b9fa3478527316a012665980a83aed96b9cb1f',
    'analyze 2 json': 'bb976ec13566a9dc60e44d4d0be03496121a5abb6f2016816d09bbd192e426ae',
    'analyze 1 table': '7c0664d92133b4f4bf633e4b0d7a9f7d859d7b8b6e908b8560e9ad1dc05bd03d',
    'analyze 2 markdown': 'ba7f64ba258e95a628dde059acf3195ee09c76e78e59f598b6f3509542178b4b',
    'analyze 1 csv': '2c51711685f21ce92a8f7a68657c98bb079f1b8a3ae820800cd94d541a362275',
    'junit 1': 'a8c6114a1fc2c206bc7e52d7cea6903024ec0d3ea2439c27aec2ebcf7b3b9da1',
    'junit 2': '4dc59427d10d5862dc3e89a3a3e0d4977f21cb222c7cce140f5784b4492f4136',
    'compare 1 2 json': 'c9f8ebc1a2136032ca48e81cfee942a96479ca921cf2211f392baf601e692d57',
    'compare 2 1': 'df9975cd14c74baea5eda558f6c9ece053e0cee1ef3fc54af972955148be4365',
    'report 1': 'd0794cae7bec4cd948f00b6a081df1e16eaadaaa612de61e6f9c192fcb0bc514',
    'report 2': 'a397f0483667c7a7cc924d8b6b82d070b0aaa1842b821d2bcb74d7e511d890e0',
}


def outputs(d: Path) -> Iterator[tuple[str, str]]:
    """(command, sha256 of what it wrote) for each command, run in `d` on d/eval.db."""
    runner = CliRunner()
    cwd = os.getcwd()
    os.chdir(d)
    try:
        for name, args in COMMANDS.items():
            res = runner.invoke(app, [*args, "--db", "eval.db"], catch_exceptions=False)
            assert res.exit_code in (0, 1), (name, res.output)
            text = Path(FILES[name]).read_text() if name in FILES else res.stdout
            text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", "NOW", text)
            yield name, hashlib.sha256(text.encode()).hexdigest()
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="module")
def db_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("streamed")
    make_synthetic_db(d / "eval.db")
    return d


def test_outputs_are_the_bytes_the_whole_campaign_read_gave(db_dir: Path) -> None:
    got = dict(outputs(db_dir))
    assert got.keys() == GOLDEN.keys()
    assert {k: v for k, v in got.items() if GOLDEN[k] != v} == {}


if __name__ == "__main__":  # print the digests of the code in use (see the module doc)
    out = Path(sys.argv[1])
    make_synthetic_db(out / "eval.db")
    for name, digest in outputs(out):
        print(f"    {name!r}: {digest!r},")
