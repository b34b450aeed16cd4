"""`analyze --junit`: one <testcase> per trial, one <testsuite> per cell, and every count
attribute equal to what its children say (what CI servers read)."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from chaos_eval.analysis.analyze import analyze
from chaos_eval.render.junit import junit_xml
from chaos_eval.spec import registry
from chaos_eval.spec.config import parse_campaign
from chaos_eval.spec.matrix import expand
from chaos_eval.store.store import Store
from tests.unit.fakes import Tracker
from tests.unit.run.test_harness import doc, run


async def test_junit_counts_match_the_testcases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry.SUBJECTS, "fake", "tests.unit.fakes:FakeSubject")
    Tracker.reset()
    d = doc(parallel=1, max_retries=0)
    keys = [p.key for p, _ in expand(parse_campaign(d, "mem"))]
    Tracker.lose_writes_for = {keys[1]}  # a matrix trial misses its SLO: failure
    Tracker.fail_up_for = {keys[3]}  # the harness breaks: error
    async with await Store.open(tmp_path / "eval.db") as store:
        cid, _ = await run(store, d)
        a = analyze(await store.campaign(cid), await store.trials(cid))
    root = ET.fromstring(junit_xml(a, db=tmp_path / "my results" / "eval.db"))
    cases = list(root.iter("testcase"))
    assert len(cases) == len(keys) == int(root.attrib["tests"])
    for el in (root, *root.findall("testsuite")):
        children = list(el.iter("testcase"))
        assert int(el.attrib["tests"]) == len(children)
        for attr, tag in (("failures", "failure"), ("errors", "error"), ("skipped", "skipped")):
            assert int(el.attrib[attr]) == sum(c.find(tag) is not None for c in children), attr
    assert (root.attrib["failures"], root.attrib["errors"]) == ("1", "1")
    failure = next(c.find("failure") for c in cases if c.find("failure") is not None)
    assert failure is not None and "lost" in failure.attrib["message"]
    assert all(float(c.attrib["time"]) >= 0 for c in cases)
    # each failure and error says how to re-run exactly that trial (shell-quoted db path)
    bad = [(c, c.find("failure") if c.find("failure") is not None else c.find("error"))
           for c in cases if c.find("failure") is not None or c.find("error") is not None]
    assert len(bad) == 2
    for case, el in bad:
        assert el is not None and el.text is not None
        key8 = case.attrib["name"].rsplit("(", 1)[1].rstrip(")")
        line = el.text.splitlines()[-1]
        assert line.startswith(f"re-run: chaos-eval rerun {cid} {key8}"), line
        assert line.endswith(f"--db '{tmp_path / 'my results' / 'eval.db'}'"), line
