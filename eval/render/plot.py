"""A tiny SVG plotting kit: line charts with shaded spans, strip plots and heatmaps (their
frame, ticks and axes: eval/render/svg_frame.py).

Each function returns one inline <svg> element as a string (no xmlns, no scripts, no
external references), so an HTML page can embed it and stay self-contained. Pure.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

from chaos_eval.render.svg_frame import (
    FONT,
    M_BOTTOM,
    M_LEFT,
    M_RIGHT,
    M_TOP,
    Frame,
    axes,
    fmt,
    nice_ticks,
    svg_open,
)

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[float, float | None]]  # y None: a gap in the line
    color: str = PALETTE[0]


@dataclass(frozen=True)
class Span:
    """A shaded interval of the x axis (e.g. a fault window); x1 == x0 draws a marker line."""

    x0: float
    x1: float
    label: str
    color: str = "#d62728"
    opacity: float = 0.12


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    spans: Sequence[Span] = (),
    width: int = 640,
    height: int = 240,
) -> str:
    """Lines over a shared x axis, y from 0; spans are shaded behind the lines."""
    xs = [x for s in series for x, _ in s.points] + [v for sp in spans for v in (sp.x0, sp.x1)]
    ys = [y for s in series for _, y in s.points if y is not None]
    x_lo, x_hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
    ticks = tuple(nice_ticks(0.0, max(ys, default=1.0) or 1.0))
    f = Frame(width, height, x_lo, x_hi, 0.0, ticks[-1], ticks)
    out = svg_open(width, height, title)
    for sp in spans:
        x0, x1 = f.x(max(sp.x0, x_lo)), f.x(min(sp.x1, x_hi))
        if sp.x1 <= sp.x0:  # a zero-width span is a marker line
            out.append(
                f'<line x1="{x0:.1f}" x2="{x0:.1f}" y1="{M_TOP}" y2="{height - M_BOTTOM}" '
                f'stroke="{sp.color}" stroke-width="2" stroke-opacity="{sp.opacity}">'
                f"<title>{escape(sp.label)}</title></line>"
            )
            continue
        out.append(
            f'<rect x="{x0:.1f}" y="{M_TOP}" width="{max(x1 - x0, 0):.1f}" '
            f'height="{height - M_TOP - M_BOTTOM}" fill="{sp.color}" '
            f'fill-opacity="{sp.opacity}"><title>{escape(sp.label)}</title></rect>'
        )
    out += axes(f, x_label, y_label)
    for i, s in enumerate(series):
        runs: list[list[str]] = [[]]
        for x, y in s.points:
            if y is None:
                runs.append([])
            else:
                runs[-1].append(f"{f.x(x):.1f},{f.y(y):.1f}")
        for run in runs:
            if len(run) == 1:
                cx, cy = run[0].split(",")
                out.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{s.color}"/>')
            elif run:
                out.append(
                    f'<polyline points="{" ".join(run)}" fill="none" '
                    f'stroke="{s.color}" stroke-width="1.6"/>'
                )
        lx = M_LEFT + 110 * i  # legend: one row under the title
        out.append(
            f'<rect x="{lx}" y="26" width="10" height="3" fill="{s.color}"/>'
            f'<text x="{lx + 14}" y="31" {FONT}>{escape(s.name)}</text>'
        )
    for j, sp in enumerate(spans):
        x = f.x(sp.x0)
        right = x > M_LEFT + 0.75 * (width - M_LEFT - M_RIGHT)  # label leftwards near the edge
        out.append(
            f'<text x="{x - 3 if right else x + 3:.1f}" y="{M_TOP + 12 + 12 * j}" '
            f'text-anchor="{"end" if right else "start"}" {FONT} '
            f'fill="{sp.color}">{escape(sp.label)}</text>'
        )
    return "\n".join([*out, "</svg>"])


def strip_plot(
    groups: Sequence[tuple[str, Sequence[float]]],
    *,
    title: str,
    x_label: str,
    width: int = 640,
    row_height: int = 28,
    label_width: int = 220,
) -> str:
    """One row per group: a dot per value, a tick at the median (empty groups say so)."""
    vals = [v for _, vs in groups for v in vs]
    ticks = nice_ticks(0.0, max(vals, default=1.0) or 1.0)
    height = M_TOP + M_BOTTOM + row_height * max(len(groups), 1)
    out = svg_open(width, height, title)
    lo, hi = M_LEFT + label_width, width - M_RIGHT

    def px(v: float) -> float:
        return lo + v / (ticks[-1] or 1.0) * (hi - lo)

    for t in ticks:
        out.append(
            f'<line x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{M_TOP}" '
            f'y2="{height - M_BOTTOM}" stroke="#e5e5e5"/>'
        )
        out.append(
            f'<text x="{px(t):.1f}" y="{height - M_BOTTOM + 14}" text-anchor="middle" '
            f"{FONT}>{fmt(t)}</text>"
        )
    for i, (label, vs) in enumerate(groups):
        y = M_TOP + row_height * i + row_height / 2
        out.append(
            f'<text x="{lo - 8}" y="{y + 4:.1f}" text-anchor="end" {FONT}>{escape(label)}</text>'
        )
        if not vs:
            out.append(f'<text x="{lo + 4}" y="{y + 4:.1f}" {FONT} fill="#888">no values</text>')
            continue
        color = PALETTE[i % len(PALETTE)]
        for k, v in enumerate(sorted(vs)):
            jitter = ((k % 5) - 2) * 2.5
            out.append(
                f'<circle cx="{px(v):.1f}" cy="{y + jitter:.1f}" r="4" fill="{color}" '
                f'fill-opacity="0.7"><title>{v:.3f}</title></circle>'
            )
        med = statistics.median(vs)
        out.append(
            f'<line x1="{px(med):.1f}" x2="{px(med):.1f}" y1="{y - 10:.1f}" '
            f'y2="{y + 10:.1f}" stroke="#000" stroke-width="2"/>'
        )
    out.append(
        f'<text x="{(lo + hi) / 2:.0f}" y="{height - 6}" text-anchor="middle" {FONT}>'
        f"{escape(x_label)}</text>"
    )
    return "\n".join([*out, "</svg>"])


def _ramp(v: float) -> str:
    """0 -> red, 0.5 -> amber, 1 -> green."""
    stops = ((0.0, (214, 39, 40)), (0.5, (255, 191, 0)), (1.0, (44, 160, 44)))
    v = min(1.0, max(0.0, v))
    (a, ca), (b, cb) = (stops[0], stops[1]) if v <= 0.5 else (stops[1], stops[2])
    t = (v - a) / (b - a)
    r, g, bl = (round(x + (y - x) * t) for x, y in zip(ca, cb, strict=True))
    return f"#{r:02x}{g:02x}{bl:02x}"


def heatmap(
    rows: Sequence[str],
    cols: Sequence[str],
    values: Mapping[tuple[str, str], float | None],
    *,
    title: str,
    notes: Mapping[tuple[str, str], str] | None = None,
    cell_w: int = 190,
    cell_h: int = 40,
    label_width: int = 160,
) -> str:
    """A rows x cols grid coloured by value in [0, 1] (grey: no value), labelled in place."""
    width = label_width + cell_w * max(len(cols), 1) + M_RIGHT
    height = M_TOP + 16 + cell_h * max(len(rows), 1) + 10
    out = svg_open(width, height, title)
    top = M_TOP + 16
    for j, c in enumerate(cols):
        x = label_width + cell_w * j + cell_w / 2
        head, _, rest = c.partition(" ")  # a long label wraps after its first word
        out.append(
            f'<text x="{x:.0f}" y="{top - (18 if rest else 6)}" text-anchor="middle" '
            f"{FONT}>{escape(head)}</text>"
        )
        if rest:
            out.append(
                f'<text x="{x:.0f}" y="{top - 6}" text-anchor="middle" {FONT} '
                f'font-size="10">{escape(rest)}</text>'
            )
    for i, r in enumerate(rows):
        y = top + cell_h * i
        out.append(
            f'<text x="{label_width - 8}" y="{y + cell_h / 2 + 4:.0f}" text-anchor="end" '
            f"{FONT}>{escape(r)}</text>"
        )
        for j, c in enumerate(cols):
            v = values.get((r, c))
            x = label_width + cell_w * j
            fill = "#dddddd" if v is None else _ramp(v)
            text = "n/a" if v is None else f"{v:.0%}"
            note = (notes or {}).get((r, c), "")
            out.append(
                f'<rect x="{x + 1}" y="{y + 1}" width="{cell_w - 2}" height="{cell_h - 2}" '
                f'fill="{fill}"><title>{escape(r)} / {escape(c)}: {text} {escape(note)}'
                "</title></rect>"
            )
            out.append(
                f'<text x="{x + cell_w / 2:.0f}" y="{y + cell_h / 2 + 4:.0f}" '
                f'text-anchor="middle" {FONT} font-weight="bold">{text}'
                + (f' <tspan font-weight="normal">{escape(note)}</tspan>' if note else "")
                + "</text>"
            )
    return "\n".join([*out, "</svg>"])
