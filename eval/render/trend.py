"""Render a trend over nights (chaos_eval.analysis.trend): a rich table, JSON, or Markdown
for a CI job summary. Each night's column reads `pass rate · recovery median`."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from chaos_eval.analysis.trend import CellTrend, NightCell, Trend
from chaos_eval.render.numbers import num


def night_text(n: NightCell | None) -> str:
    if n is None:
        return "-"
    rate = "-" if n.pass_rate is None else f"{n.pass_rate:.0%}"
    return f"{rate} ({n.runs - n.failed}/{n.runs}) · {num(n.recovery_median_s)} s"


def trend_flags(c: CellTrend) -> str:
    flags = []
    if c.flaky:
        flags.append(f"FLAKY {c.failed}/{c.runs}")
    if c.new_failure:
        flags.append("NEW FAILURE")
    return ", ".join(flags)


def cell_name(c: CellTrend) -> str:
    """`subject / fault (k=v,...)`, as analyze names a cell."""
    params = ",".join(f"{k}={v}" for k, v in sorted(json.loads(c.params).items()))
    return f"{c.subject} / {c.fault}" + (f" ({params})" if params else "")


def trend_table(t: Trend) -> Table:
    table = Table(
        title=f"trend over {len(t.labels)} night(s)",
        caption=f"night: pass rate (passed/runs) · recovery median; flaky: failing in >= "
        f"{t.flaky_rate:.0%} of >= {t.min_runs} runs",
        caption_justify="left",
        show_lines=True,
    )
    table.add_column("cell", overflow="fold")
    for label in t.labels:
        table.add_column(label, justify="right", overflow="fold")
    table.add_column("flags")
    for c in t.cells:
        table.add_row(cell_name(c), *(night_text(n) for n in c.nights), f"[red]{trend_flags(c)}[/]")
    return table


def trend_markdown(t: Trend) -> str:
    lines = [f"## Trend over {len(t.labels)} night(s)", ""]
    lines.append(
        f"Flaky: failing in >= {t.flaky_rate:.0%} of >= {t.min_runs} runs over these nights. "
        f"Flaky cells: **{len(t.flaky)}**; new failures since the previous night: "
        f"**{len(t.new_failures)}**."
    )
    lines += ["", "| cell | " + " | ".join(t.labels) + " | flags |"]
    lines.append("|---|" + "---|" * len(t.labels) + "---|")
    for c in t.cells:
        nights = " | ".join(night_text(n) for n in c.nights)
        lines.append(f"| {cell_name(c)} | {nights} | {trend_flags(c)} |")
    return "\n".join(lines) + "\n"


def render_trend(t: Trend, fmt: str, console: Console) -> None:
    if fmt == "json":
        console.print_json(json.dumps(t.to_json()))
    elif fmt == "markdown":
        console.out(trend_markdown(t), end="", highlight=False)
    else:
        console.print(trend_table(t))
