"""Rank statistics in pure Python: the Mann-Whitney U test (two-sided).

U for sample x is R_x - n_x (n_x + 1) / 2, where R_x is the sum of x's ranks in the pooled
sample (tied values get the mean of the ranks they span). U_x + U_y = n_x n_y.

p-value (two-sided), as scipy.stats.mannwhitneyu computes it:
- exact, when there are no ties and both samples have at most EXACT_MAX values: the null
  distribution of U counted over all C(n_x + n_y, n_x) arrangements by the recurrence
  f(m, n, u) = f(m - 1, n, u - n) + f(m, n - 1, u); p = min(1, 2 P(U >= max(U_x, U_y))).
- otherwise the normal approximation with the tie correction and a continuity correction:
  sigma^2 = n_x n_y / 12 * ((N + 1) - sum(t^3 - t) / (N (N - 1))) over tie groups of size t,
  z = (max(U_x, U_y) - n_x n_y / 2 - 0.5) / sigma, p = min(1, 2 (1 - Phi(z))).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Literal

EXACT_MAX = 50
Method = Literal["auto", "exact", "asymptotic"]


@dataclass(frozen=True)
class MannWhitney:
    u: float  # U of the first sample
    p: float  # two-sided p-value
    method: str  # "exact" | "asymptotic"
    n_x: int
    n_y: int


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties given the mean of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


@cache
def _count(m: int, n: int) -> tuple[int, ...]:
    """Number of arrangements of m x's and n y's giving each U = 0 .. m n (x counted above)."""
    if m == 0 or n == 0:
        return (1,)
    a, b = _count(m - 1, n), _count(m, n - 1)
    return tuple(
        (a[u - n] if 0 <= u - n < len(a) else 0) + (b[u] if u < len(b) else 0)
        for u in range(m * n + 1)
    )


def _exact_p(u_big: float, m: int, n: int) -> float:
    counts = _count(min(m, n), max(m, n))
    upper = sum(counts[math.ceil(u_big) :])
    return min(1.0, 2 * upper / math.comb(m + n, m))


def _normal_p(u_big: float, m: int, n: int, tie_groups: Sequence[int]) -> float:
    big_n = m + n
    ties = sum(t**3 - t for t in tie_groups)
    var = m * n / 12 * ((big_n + 1) - ties / (big_n * (big_n - 1)))
    if var <= 0:
        return 1.0  # every value tied: no evidence either way
    z = (u_big - m * n / 2 - 0.5) / math.sqrt(var)
    return min(1.0, math.erfc(z / math.sqrt(2)))  # 2 * (1 - Phi(z))


def mann_whitney_u(x: Sequence[float], y: Sequence[float], method: Method = "auto") -> MannWhitney:
    """Two-sided Mann-Whitney U test of x against y. Values may be math.inf (ranked last).
    Raises ValueError for an empty sample."""
    m, n = len(x), len(y)
    if m == 0 or n == 0:
        raise ValueError("mann_whitney_u needs at least one value in each sample")
    pooled = [*x, *y]
    r = ranks(pooled)
    u_x = sum(r[:m]) - m * (m + 1) / 2
    u_big = max(u_x, m * n - u_x)
    tie_groups = [t for t in Counter(pooled).values() if t > 1]
    exact = method == "exact" or (
        method == "auto" and not tie_groups and m <= EXACT_MAX and n <= EXACT_MAX
    )
    if exact and tie_groups:
        raise ValueError("the exact method assumes no ties")
    if exact:
        return MannWhitney(u_x, _exact_p(u_big, m, n), "exact", m, n)
    return MannWhitney(u_x, _normal_p(u_big, m, n, tie_groups), "asymptotic", m, n)
