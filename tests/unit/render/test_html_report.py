"""`eval report`: one self-contained HTML file (inline SVG, no network references, no
scripts), checked as text and, where Chromium is installed, rendered by real headless
Chromium into a screenshot that must show the charts (not a blank page)."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaos_eval.cli.app import app
from chaos_eval.render.plot import Series, Span, heatmap, line_chart, strip_plot
from chaos_eval.render.svg_frame import nice_ticks
from chaos_eval.spec import registry
from chaos_eval.store.store import Store
from tests.unit.cli import hostile
from tests.unit.fakes import Tracker
from tests.unit.run.test_harness import doc, run

runner = CliRunner()
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


fake_subject = hostile.fake_subject  # the fake subject registered, autouse here


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A campaign run through the real harness (fake subject), rendered by `eval report`."""
    tmp = tmp_path_factory.mktemp("report")
    db = tmp / "eval.db"

    async def make() -> None:
        async with await Store.open(db) as store:
            d = doc(parallel=2)
            d["timing"] = dict(d["timing"], warmup_s=0.6, fault_duration_s=0.8)
            await run(store, d)

    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(registry.SUBJECTS, "fake", "tests.unit.fakes:FakeSubject")
        Tracker.reset()
        asyncio.run(make())
    out = tmp / "report.html"
    res = runner.invoke(app, ["report", "1", "--db", str(db), "-o", str(out), "--trials", "2"])
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output and "7 trial(s) charted" in res.output  # 1 baseline + 3 x 2
    return out


def test_report_is_self_contained(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"https?://", html, re.IGNORECASE)  # no network reference at all
    assert not re.search(r"<script|<link|<img|<iframe|@import|url\(|src=", html, re.IGNORECASE)
    assert html.count("<svg") == 2 + 2 * 7  # heatmap, recovery strips, 2 charts per trial
    for needle in ("Pass rate", "Recovery time", "Trials over time", "Cells", "fault window",
                   "throughput (ok ops/s", "latency p50", "hold (no fault)",
                   "fake / noop (label=c)"):
        assert needle in html, needle


def test_report_help_and_bad_input(tmp_path: Path) -> None:
    assert "self-contained" in runner.invoke(app, ["report", "--help"]).output
    res = runner.invoke(app, ["report", "3", "--db", str(tmp_path / "none.db")])
    assert res.exit_code == 2 and "no such database" in res.output
    res = runner.invoke(app, ["report", "1", "--trials", "0"])
    assert res.exit_code == 2 and "--trials" in res.output


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium (scripts/setup installs it)")
def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    """Look at the page as a browser draws it: many colours, the heatmap's green, the fault
    window's pink shading (a blank or broken page has one or two colours)."""
    from PIL import Image

    shot = tmp_path / "shot.png"
    subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--screenshot={shot}", "--window-size=1400,2000", report.as_uri()],
        capture_output=True, timeout=120, check=False, cwd=tmp_path,
    )
    assert shot.exists() and shot.stat().st_size > 10_000
    with Image.open(shot) as img:
        rgb = img.convert("RGB")
        assert rgb.size == (1400, 2000)
        colours = rgb.getcolors(maxcolors=1 << 20) or []
        assert len(colours) > 50  # text, axes, several line colours, shaded spans
        # the heatmap's green (all cells passed) and the fault window's shading are drawn
        assert any(g > 140 and r < 80 and b < 80 for _, (r, g, b) in colours)
        assert any(r >= 235 and 150 <= g <= r - 12 and abs(g - b) <= 6  # pink: red on white
                   for _, (r, g, b) in colours)


def test_plot_primitives_emit_plain_svg() -> None:
    svg = line_chart([Series("a", [(0, 1), (1, None), (2, 3)])], title="t <x>", x_label="s",
                     y_label="y", spans=[Span(0.5, 1.5, "fault")])
    assert svg.startswith("<svg") and svg.endswith("</svg>") and "t &lt;x&gt;" in svg
    assert "xmlns" not in svg and "fill-opacity" in svg
    assert "<circle" in svg  # a single point between gaps is still drawn
    assert strip_plot([("a", [1.0, 2.0]), ("b", [])], title="r", x_label="s").count("<circle") == 2
    hm = heatmap(["s"], ["f (p=1)"], {("s", "f (p=1)"): 0.5}, title="h")
    assert "50%" in hm and "n/a" not in hm
    assert nice_ticks(0, 456) == [0, 100, 200, 300, 400, 500]
    assert nice_ticks(0, 0) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]


async def test_report_lists_each_trial_that_did_not_pass_with_its_rerun(tmp_path: Path) -> None:
    from chaos_eval.analysis.analyze import analyze
    from chaos_eval.render.html import render_html
    from chaos_eval.spec.config import parse_campaign
    from chaos_eval.spec.matrix import expand

    d = doc(parallel=1, max_retries=0)
    keys = [p.key for p, _ in expand(parse_campaign(d, "mem"))]
    Tracker.lose_writes_for = {keys[1]}  # misses its SLO: failed
    async with await Store.open(tmp_path / "eval.db") as store:
        cid, _ = await run(store, d)
        a = analyze(await store.campaign(cid), await store.trials(cid))
    html = render_html(a, [], "now", db=tmp_path / "a b.db")
    assert "Trials that did not pass" in html
    section = html.split("Trials that did not pass", 1)[1]
    assert section.count("<li>") == 1
    assert f"chaos-eval rerun {cid} {keys[1]} --db &#x27;{tmp_path / 'a b.db'}&#x27;" in section
    Tracker.reset()
    async with await Store.open(tmp_path / "clean.db") as store:
        cid, _ = await run(store, doc(parallel=1))
        clean = analyze(await store.campaign(cid), await store.trials(cid))
    assert "Trials that did not pass" not in render_html(clean, [], "now")
