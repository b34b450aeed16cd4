"""The trend over nights as one self-contained HTML page: per cell, pass rate and recovery
median night by night (inline SVG, no scripts, no network), then the trend table."""

from __future__ import annotations

from html import escape

from chaos_eval.analysis.trend import CellTrend, Trend
from chaos_eval.render.html import CSS
from chaos_eval.render.plot import PALETTE, Series, line_chart
from chaos_eval.render.trend import cell_name, night_text, trend_flags


def _series(t: Trend, value: str) -> list[Series]:
    out = []
    for i, c in enumerate(t.cells):
        points: list[tuple[float, float | None]] = []
        for n, night in enumerate(c.nights, start=1):
            v = None
            if night is not None:
                v = night.pass_rate if value == "pass" else night.recovery_median_s
                v = None if v is None else (v * 100 if value == "pass" else v)
            points.append((float(n), v))
        out.append(Series(cell_name(c), points, PALETTE[i % len(PALETTE)]))
    return out


def _row(c: CellTrend) -> str:
    cells = "".join(f"<td>{escape(night_text(n))}</td>" for n in c.nights)
    return f"<tr><td>{escape(cell_name(c))}</td>{cells}<td class='bad'>{trend_flags(c)}</td></tr>"


def trend_html(t: Trend, generated: str) -> str:
    nights = " · ".join(f"{i}: {escape(label)}" for i, label in enumerate(t.labels, start=1))
    head = "".join(f"<th>{escape(label)}</th>" for label in t.labels)
    return (
        "\n".join(
            [
                "<!DOCTYPE html>",
                "<html lang='en'><head><meta charset='utf-8'>",
                f"<title>chaos-eval trend over {len(t.labels)} night(s)</title>",
                f"<style>{CSS}</style></head><body>",
                f"<h1>chaos-eval trend over {len(t.labels)} night(s)</h1>",
                f"<p class='meta'><span><b>nights</b> {nights}</span>"
                f"<span><b>generated</b> {escape(generated)}</span></p>",
                "<h2>Pass rate</h2>",
                line_chart(
                    _series(t, "pass"),
                    title="pass rate per night",
                    x_label="night",
                    y_label="% passed",
                ),
                "<h2>Recovery median</h2>",
                line_chart(
                    _series(t, "recovery"),
                    title="recovery median per night",
                    x_label="night",
                    y_label="seconds",
                ),
                "<h2>Cells</h2>",
                f"<p class='dim'>flaky: failing in at least {t.flaky_rate:.0%} of at least "
                f"{t.min_runs} runs over these nights</p>",
                f"<table><tr><th>cell</th>{head}<th>flags</th></tr>",
                *(_row(c) for c in t.cells),
                "</table></body></html>",
            ]
        )
        + "\n"
    )
