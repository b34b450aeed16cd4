"""`plan` for a terminal: the matrix with each cell's estimate and where it comes from, what
a run of the file would do, the images, and the estimated duration."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from chaos_eval.analysis.forecast import Forecast
from chaos_eval.render.progress import duration


def plan_table(f: Forecast) -> Table:
    t = Table(title=f"plan · {f.name} · parallel {f.parallel}", caption_justify="left")
    for col in ("cell", "trials", "to run", "per trial", "estimate from"):
        t.add_column(col, justify="right" if col in ("trials", "to run", "per trial") else "left")
    for c in f.cells:
        params = ", ".join(f"{k}={v}" for k, v in sorted(json.loads(c.params).items()))
        t.add_row(
            escape(f"{c.subject} / {c.fault}") + (f"\n[dim]{escape(params)}[/]" if params else ""),
            str(c.trials) + ("" if c.max_trials is None else f" (max {c.max_trials})"),
            str(c.todo), duration(c.seconds), escape(c.source),
        )
    return t


def render_plan(
    f: Forecast, images: Sequence[Any], image_note: str, fmt: str, console: Console
) -> None:
    """images: chaos_eval.images.state.ImageState values (empty with a note when Docker could
    not be asked)."""
    if fmt == "json":
        data = f.to_json() | {
            "images": [{"name": i.name, "ref": i.ref, "present": i.present,
                        "current": i.current} for i in images],
            "images_note": image_note,
        }
        console.print_json(json.dumps(data))
        return
    console.print(plan_table(f))
    console.print(f"a run of this file: {f.what_runs}", markup=False, highlight=False)
    for i in images:
        console.print(f"image {i.name}: {i.ref} {i.verdict}", markup=False, highlight=False)
    if image_note:
        console.print(f"images: {image_note}", markup=False, highlight=False)
    cells = len(f.cells)
    console.print(
        f"estimated duration: {duration(f.todo_s)} for the {f.todo} trial(s) a run would "
        f"start; {duration(f.fresh_s)} for a fresh run of all {f.trials} "
        f"({cells} cell(s), parallel {f.parallel}, cooldown {f.cooldown_s:g}s)",
        markup=False, highlight=False,
    )
    if f.fresh_max_s is not None:
        console.print(
            f"sampled: trials per cell are each cell's target (every trial a sample); up to "
            f"{duration(f.fresh_max_s)} if every cell spends its max_trials "
            "(error trials are no samples)", markup=False, highlight=False,
        )
