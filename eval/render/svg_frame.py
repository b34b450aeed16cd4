"""The frame every chart of eval/render/plot.py is drawn in: the canvas and its margins, the
mapping from data to pixels, round tick values, and the axes. Pure; returns SVG text."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

FONT = 'font-family="sans-serif" font-size="11"'
M_LEFT, M_RIGHT, M_TOP, M_BOTTOM = 56, 12, 40, 36


@dataclass(frozen=True)
class Frame:
    """Maps data coordinates to pixels inside the plot area."""

    width: int
    height: int
    x_lo: float
    x_hi: float
    y_lo: float
    y_hi: float
    ticks: tuple[float, ...] = field(default=())

    def x(self, v: float) -> float:
        span = (self.x_hi - self.x_lo) or 1.0
        return M_LEFT + (v - self.x_lo) / span * (self.width - M_LEFT - M_RIGHT)

    def y(self, v: float) -> float:
        span = (self.y_hi - self.y_lo) or 1.0
        return self.height - M_BOTTOM - (v - self.y_lo) / span * (self.height - M_TOP - M_BOTTOM)


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About n round tick values from at or below lo up to the first at or above hi."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = [start]
    while ticks[-1] < hi - step * 1e-9:
        ticks.append(round(start + len(ticks) * step, 10))
    return ticks


def fmt(v: float) -> str:
    """A tick label: whole numbers plain, others to two significant digits."""
    return f"{v:.0f}" if abs(v) >= 100 or v == int(v) else f"{v:.2g}"


def svg_open(width: int, height: int, title: str) -> list[str]:
    """The opening <svg> tag, a white background and the title (close with "</svg>")."""
    return [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{M_LEFT}" y="16" {FONT} font-size="13" font-weight="bold">'
        f"{escape(title)}</text>",
    ]


def axes(f: Frame, x_label: str, y_label: str) -> list[str]:
    """Grid lines at the frame's y ticks, x tick labels, both axes and their labels."""
    out = []
    for t in f.ticks:
        y = f.y(t)
        out.append(
            f'<line x1="{M_LEFT}" x2="{f.width - M_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#e5e5e5"/>'
        )
        out.append(
            f'<text x="{M_LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" {FONT}>{fmt(t)}</text>'
        )
    for t in nice_ticks(f.x_lo, f.x_hi, 8):
        if f.x_lo <= t <= f.x_hi:
            x = f.x(t)
            out.append(
                f'<text x="{x:.1f}" y="{f.height - M_BOTTOM + 14}" text-anchor="middle" '
                f"{FONT}>{fmt(t)}</text>"
            )
    bottom = f.height - M_BOTTOM
    out.append(
        f'<line x1="{M_LEFT}" x2="{f.width - M_RIGHT}" y1="{bottom}" y2="{bottom}" stroke="#333"/>'
    )
    out.append(f'<line x1="{M_LEFT}" x2="{M_LEFT}" y1="{M_TOP}" y2="{bottom}" stroke="#333"/>')
    out.append(
        f'<text x="{(M_LEFT + f.width - M_RIGHT) / 2:.0f}" y="{f.height - 6}" '
        f'text-anchor="middle" {FONT}>{escape(x_label)}</text>'
    )
    out.append(
        f'<text x="12" y="{(M_TOP + bottom) / 2:.0f}" text-anchor="middle" {FONT} '
        f'transform="rotate(-90 12 {(M_TOP + bottom) / 2:.0f})">{escape(y_label)}</text>'
    )
    return out
