"""Confidence intervals for a cell's figures: Wilson for a pass rate, a percentile bootstrap
for a median. Pure."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def rounded(v: float | None, nd: int = 4) -> float | None:
    return None if v is None else round(v, nd)


@dataclass(frozen=True)
class Interval:
    value: float | None
    low: float | None
    high: float | None

    def to_json(self) -> dict[str, float | None]:
        return {"value": rounded(self.value), "low": rounded(self.low), "high": rounded(self.high)}


def wilson(successes: int, n: int, z: float = 1.959964) -> Interval:
    """Wilson score interval for a binomial proportion (95 % by default)."""
    if n == 0:
        return Interval(None, None, None)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def bootstrap_median(values: Sequence[float], seed: int, rounds: int = 2000) -> Interval:
    """Percentile bootstrap 95 % interval of the median (deterministic for a seed)."""
    if not values:
        return Interval(None, None, None)
    rng = random.Random(seed)
    meds = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(rounds))
    return Interval(
        statistics.median(values), meds[int(0.025 * rounds)], meds[int(0.975 * rounds) - 1]
    )
