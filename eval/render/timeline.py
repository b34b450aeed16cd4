"""The history timeline of a register trial whose history is not linearizable: one lane per
logical client (process), each operation a bar from invocation to completion (an `unknown`
one runs on to the end, dashed), the fault window shaded, the offending operations (the
window the checker could not order) outlined in red. Drawn twice: the whole trial, and a
zoom around the first error, which the section links to. Pure; returns HTML text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from chaos_eval.history import Op, OpKind
from chaos_eval.outcomes import OpOutcome
from chaos_eval.render.svg_frame import FONT, M_LEFT, M_RIGHT, M_TOP, Frame, nice_ticks, svg_open
from chaos_eval.store.records import TrialRow, trial_label

LANE = 16
WIDTH = 1300
ZOOM_S = 1.5  # seconds either side of the first error
COLOURS = {OpKind.READ: "#1f77b4", OpKind.WRITE: "#2ca02c", OpKind.CAS: "#ff7f0e"}


@dataclass(frozen=True)
class HistoryChart:
    trial: TrialRow
    ops: Sequence[Op]  # the trial's history, as chaos_eval.history parses it


def _label(o: Op) -> str:
    if o.kind is OpKind.CAS:
        return f"cas {o.expected}→{o.value}"
    return f"{o.kind} {o.value}" if o.kind is OpKind.WRITE or o.outcome is OpOutcome.OK else "r"


def _lanes(
    ops: Sequence[Op], lo: float, hi: float, title: str, window: dict[str, Any],
    bad: set[int], first: int | None, labels: bool,
) -> str:
    shown = [o for o in ops if o.invoke <= hi and (o.complete is None or o.complete >= lo)]
    procs = sorted({o.process for o in shown})
    row = {p: i for i, p in enumerate(procs)}
    height = M_TOP + LANE * max(len(procs), 1) + 30
    f = Frame(WIDTH, height, lo, hi, 0, 1)
    out = svg_open(WIDTH, height, title)
    bottom = M_TOP + LANE * len(procs)
    for a, b, shade in (
        (window.get("injected_at"), window.get("removed_at"), "#fde0dc"),
        (window.get("active_from"), window.get("active_to"), "#f9b4ab"),
    ):
        if isinstance(a, int | float) and isinstance(b, int | float) and b > lo and a < hi:
            x0, x1 = f.x(max(a, lo)), f.x(min(b, hi))
            out.append(f'<rect x="{x0:.1f}" y="{M_TOP}" width="{x1 - x0:.1f}" '
                       f'height="{bottom - M_TOP}" fill="{shade}"/>')
    for p, i in row.items():
        y = M_TOP + i * LANE
        out.append(f'<text x="{M_LEFT - 4}" y="{y + 11}" text-anchor="end" {FONT}>p{p}</text>')
    for o in shown:
        y = M_TOP + row[o.process] * LANE + 2
        x0 = f.x(max(o.invoke, lo))
        x1 = f.x(hi if o.complete is None else min(o.complete, hi))
        colour = COLOURS[o.kind] if o.outcome is not OpOutcome.FAIL else "#bbbbbb"
        style = ' stroke-dasharray="3,2" fill-opacity="0.35"' if o.complete is None else ""
        edge = ' stroke="#d00000" stroke-width="2"' if o.id in bad else f' stroke="{colour}"'
        anchor = f' id="op-{o.id}"' if o.id == first else ""
        tip = escape(o.describe())
        out.append(f'<rect{anchor} x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1.5):.1f}" '
                   f'height="{LANE - 4}" fill="{colour}"{edge}{style}><title>{tip}</title></rect>')
        if labels and x1 - x0 > 30:
            out.append(f'<text x="{x0 + 2:.1f}" y="{y + 9}" {FONT} font-size="9">'
                       f"{escape(_label(o))}</text>")
    for t in nice_ticks(lo, hi, 10):
        if lo <= t <= hi:
            out.append(f'<text x="{f.x(t):.1f}" y="{bottom + 14}" text-anchor="middle" '
                       f"{FONT}>{t:g}</text>")
    out.append(f'<text x="{(M_LEFT + WIDTH - M_RIGHT) / 2:.0f}" y="{height - 4}" '
               f'text-anchor="middle" {FONT}>trial clock (s)</text>')
    out.append("</svg>")
    return "\n".join(out)


def history_section(chart: HistoryChart) -> str:
    """One failing trial: what the checker said, a link to the first error, both views."""
    t = chart.trial
    m = t.measurements_dict
    lin = m.get("linearizability") or {}
    window = m.get("window") or {}
    bad = {int(i) for i in lin.get("window") or []}
    first = lin.get("op") if isinstance(lin.get("op"), int) else None
    key = lin.get("key")
    ops = [o for o in chart.ops if key is None or o.key == key]
    if not ops:
        return ""
    lo = min(o.invoke for o in ops)
    hi = max(o.complete if o.complete is not None else o.invoke for o in ops)
    anchor = f"first-error-{t.id}"
    parts = [
        f"<h3>trial {t.id}: {escape(trial_label(t))}, key {escape(str(key))}</h3>",
        f"<p class='bad'>{escape(str(lin.get('reason', '')))}</p>",
        f"<p><a href='#{anchor}'>jump to the first error (op #{first})</a> · red outline: the "
        "operations the checker could not order; dashed: unknown outcome; grey: failed</p>",
        _lanes(ops, lo, hi, f"history of {key}: whole trial", window, bad, None, False),
    ]
    focus = next((o for o in ops if o.id == first), None)
    if focus is not None:
        z_lo = max(lo, min(o.invoke for o in ops if o.id in bad) - ZOOM_S)
        z_hi = focus.invoke + ZOOM_S
        parts.append(f"<div id='{anchor}'>")
        parts.append(_lanes(ops, z_lo, z_hi, f"around op #{first}", window, bad, first, True))
        parts.append("</div>")
    return "\n".join(parts)
