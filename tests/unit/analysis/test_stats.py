"""The Mann-Whitney U test against known values: scipy.stats.mannwhitneyu's documented
example, figures worked by hand, and a brute-force enumeration of the null distribution."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from chaos_eval.analysis.stats import mann_whitney_u, ranks

# scipy.stats.mannwhitneyu docs: ages of male and female employees.
MALES = [19, 22, 16, 29, 24]
FEMALES = [20, 11, 17, 12]


def test_ranks_give_ties_their_mean_rank() -> None:
    assert ranks([10, 20, 20, 5, 30]) == [2, 3.5, 3.5, 1, 5]
    assert ranks([math.inf, 1.0, math.inf]) == [2.5, 1, 2.5]


def test_scipy_documented_example_exact() -> None:
    """Pooled ranks: 11=1 12=2 16=3 17=4 19=5 20=6 22=7 24=8 29=9; males hold 5+7+3+9+8 = 32,
    so U = 32 - 5*6/2 = 17 (and 20 - 17 = 3 for the females). P(U >= 17) counts 7 of the
    C(9,4) = 126 arrangements, so p = 2 * 7/126 = 1/9 (scipy: 0.1111111111111111)."""
    r = mann_whitney_u(MALES, FEMALES)
    assert (r.u, r.method, r.n_x, r.n_y) == (17, "exact", 5, 4)
    assert r.p == pytest.approx(1 / 9, abs=1e-15)
    assert mann_whitney_u(FEMALES, MALES).u == 3
    assert mann_whitney_u(FEMALES, MALES).p == pytest.approx(1 / 9)


def test_scipy_documented_example_asymptotic() -> None:
    """sigma^2 = 5*4/12 * 10 = 16.67, z = (17 - 10 - 0.5) / 4.0825 = 1.5922,
    p = 2 (1 - Phi(z)); scipy's documented value is 0.11134688653314041."""
    r = mann_whitney_u(MALES, FEMALES, method="asymptotic")
    assert r.method == "asymptotic"
    assert r.p == pytest.approx(0.11134688653314041, rel=1e-12)


def test_ties_use_the_normal_approximation_with_tie_correction() -> None:
    """x = 1 2 2 3 5, y = 2 3 4 4 6 7. Ranks: 1=1, 2=(2+3+4)/3=3, 3=(5+6)/2=5.5, 4=7.5, 5=9,
    6=10, 7=11. R_x = 1+3+3+5.5+9 = 21.5, U_x = 21.5 - 15 = 6.5, max U = 23.5.
    Tie groups 3, 2, 2: sum(t^3 - t) = 24 + 6 + 6 = 36; sigma^2 = 30/12 * (12 - 36/110)
    = 29.1818; z = (23.5 - 15 - 0.5) / 5.4020 = 1.48094; p = erfc(z / sqrt 2) = 0.138626
    (scipy 0.13862587987892763)."""
    r = mann_whitney_u([1, 2, 2, 3, 5], [2, 3, 4, 4, 6, 7])
    assert (r.u, r.method) == (6.5, "asymptotic")
    var = 30 / 12 * (12 - 36 / 110)
    assert r.p == pytest.approx(math.erfc((23.5 - 15 - 0.5) / math.sqrt(var) / math.sqrt(2)))
    assert r.p == pytest.approx(0.13862587987892763, rel=1e-12)


def test_complete_separation_is_the_smallest_exact_p() -> None:
    """Every x below every y: U = 0, and only one arrangement of C(9,4) is that extreme on
    each side, so p = 2/126."""
    r = mann_whitney_u([1.2, 3.4, 0.8, 2.2], [5.1, 4.4, 6.0, 3.9, 7.2])
    assert r.u == 0 and r.p == pytest.approx(2 / 126)
    # with two trials a side no difference can ever be significant: p >= 2/C(4,2) = 1/3
    assert mann_whitney_u([1, 2], [3, 4]).p == pytest.approx(1 / 3)


def test_exact_p_matches_brute_force_enumeration() -> None:
    rng = random.Random(7)
    for _ in range(30):
        m, n = rng.randint(1, 6), rng.randint(1, 6)
        values = rng.sample(range(1000), m + n)
        x, y = values[:m], values[m:]
        observed = mann_whitney_u(x, y)
        u_big = max(observed.u, m * n - observed.u)
        extreme = total = 0
        for idx in itertools.combinations(range(m + n), m):
            xs = [values[i] for i in idx]
            u = sum(1 for a in xs for b in values if b not in xs and a > b)
            extreme += max(u, m * n - u) >= u_big
            total += 1
        assert observed.p == pytest.approx(min(1.0, extreme / total)), (x, y)


def test_larger_samples_stay_exact_without_ties() -> None:
    """20 vs 25 values: exact (scipy method='exact' gives 3.667806993743608e-05)."""
    r = mann_whitney_u(list(range(20)), [v + 7.5 for v in range(25)])
    assert (r.u, r.method) == (78, "exact")
    assert r.p == pytest.approx(3.667806993743608e-05, rel=1e-9)


def test_infinity_ranks_last_and_all_ties_mean_no_evidence() -> None:
    slow = mann_whitney_u([1, 2, 3, 4], [math.inf, math.inf, math.inf, math.inf])
    assert slow.u == 0 and slow.method == "asymptotic" and slow.p < 0.05
    assert mann_whitney_u([1, 1, 1], [1, 1]).p == 1.0


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="at least one"):
        mann_whitney_u([], [1.0])
    with pytest.raises(ValueError, match="no ties"):
        mann_whitney_u([1, 2], [2, 3], method="exact")
