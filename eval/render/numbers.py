"""How every report writes a number: formatted, or "-" when there is none."""

from __future__ import annotations


def num(v: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if v is None else fmt.format(v)


def pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1%}"
