"""The live dashboard of a running campaign (rich renderables; the Live loop is
eval/cli/live.py): a bar per cell (done / target) with its last verdict and recovery time,
the running trials with their phase and elapsed time, the totals line (failure and error
rate, trials per hour, ETA) and any drift alarm."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from chaos_eval.analysis.progress import CellProgress
from chaos_eval.analysis.snapshot import Snapshot
from chaos_eval.render.numbers import num
from chaos_eval.render.progress import duration, pace_line, totals_line

COLOURS = {"passed": "green", "failed": "red", "error": "yellow", "cleanup_failed": "bold red"}


def cells_panel(cells: Sequence[CellProgress]) -> Table:
    t = Table(box=None, pad_edge=False, show_edge=False)
    for col, just in (("cell", "left"), ("progress", "left"), ("done", "right"),
                      ("last", "left"), ("recovery s", "right")):
        t.add_column(col, justify=just, no_wrap=col == "cell")  # type: ignore[arg-type]
    for c in cells:
        last = c.last_status or "-"
        t.add_row(
            escape(c.label),
            ProgressBar(total=max(c.target, 1), completed=c.done, width=24),
            f"{c.done}/{c.target}" + (f" [cyan]+{c.running}[/]" if c.running else ""),
            f"[{COLOURS.get(last, 'dim')}]{last}[/]",
            num(c.last_recovery_s),
        )
    return t


def running_panel(s: Snapshot) -> RenderableType:
    if not s.running:
        return Text("no trial running", style="dim")
    t = Table(box=None, pad_edge=False, show_edge=False)
    for col in ("running trial", "phase", "elapsed"):
        t.add_column(col)
    for r in s.running:
        t.add_row(f"{r.id} {escape(r.label)}", r.phase, duration(r.elapsed_s))
    return t


def dashboard(title: str, snap: Snapshot, cells: Sequence[CellProgress]) -> RenderableType:
    parts: list[RenderableType] = [
        Text(title, style="bold"), cells_panel(cells), running_panel(snap),
        Text(totals_line(snap)), Text(pace_line(snap)),  # two short lines: never wrapped
    ]
    parts += [Text(f"drift alarm: {a.detail}", style="bold red") for a in snap.alarms]
    return Group(*parts)
