"""Confidence intervals of the per-cell figures: the Wilson interval of a pass rate, and the
95 % interval of a median (a seeded percentile bootstrap for small samples; the order-statistic
interval for large ones, so a 100k-trial campaign is analysed in linear time). Pure."""

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


BOOTSTRAP_MAX_N = 500  # above this, the order-statistic interval (same 95 %, linear time)


def bootstrap_median(values: Sequence[float], seed: int, rounds: int = 2000) -> Interval:
    """95 % interval of the median: percentile bootstrap (deterministic for a seed) up to
    BOOTSTRAP_MAX_N values; above, where `rounds` resamples of n would cost rounds x n
    draws, the distribution-free order-statistic interval (ranks n/2 -+ 1.96 sqrt(n)/2 of
    the sorted values), which the bootstrap converges to for large n."""
    if not values:
        return Interval(None, None, None)
    if len(values) > BOOTSTRAP_MAX_N:
        return median_order_interval(values)
    rng = random.Random(seed)
    meds = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(rounds))
    return Interval(
        statistics.median(values), meds[int(0.025 * rounds)], meds[int(0.975 * rounds) - 1]
    )


def median_order_interval(values: Sequence[float], z: float = 1.959964) -> Interval:
    """Distribution-free ~95 % interval of the median from order statistics."""
    ordered = sorted(values)
    n = len(ordered)
    half = z * math.sqrt(n) / 2
    lo = max(1, math.floor(n / 2 - half))
    hi = min(n, math.ceil(n / 2 + half) + 1)
    return Interval(statistics.median(ordered), ordered[lo - 1], ordered[hi - 1])
