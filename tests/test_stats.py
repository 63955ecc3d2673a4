"""helpers.stats against scipy.stats and against simulated data with a known effect and with none."""

import math

import numpy as np
import pytest
from scipy import stats as sp

from helpers import stats


def test_summary_and_mean_std_match_numpy():
    values = [0.3, 0.5, 0.4, 0.9]
    found = stats.summary(values)
    assert (found.mean, found.std, found.n) == (pytest.approx(np.mean(values)),
                                                pytest.approx(np.std(values, ddof=1)), 4)
    assert stats.mean_std([4.0]) == (4.0, 0.0)
    table = stats.summarise([{"a": 1.0, "b": 2.0}, {"a": 3.0, "b": 2.0}])
    assert table == {"a": (2.0, pytest.approx(math.sqrt(2))), "b": (2.0, 0.0)}
    for bad in ([], [1.0, float("nan")], [[1.0, 2.0]]):
        with pytest.raises(ValueError, match="values"):
            stats.summary(bad)
    with pytest.raises(ValueError, match="columns"):
        stats.summarise([{"a": 1.0}, {"b": 1.0}])


def test_paired_interval_is_scipys_paired_t_interval():
    rng = np.random.default_rng(1)
    a, b = rng.normal(1.0, 1.0, 5), rng.normal(0.0, 1.0, 5)
    found = stats.paired_difference(a, b, level=0.9)
    reference = sp.ttest_rel(a, b).confidence_interval(0.9)
    assert (found.low, found.high) == (pytest.approx(reference.low), pytest.approx(reference.high))
    assert found.mean == pytest.approx(np.mean(a - b)) and found.n == 5 and found.level == 0.9
    # the same interval by hand from the t quantile (scipy's t.ppf, not ours)
    half = sp.t.ppf(0.95, 4) * np.std(a - b, ddof=1) / math.sqrt(5)
    assert found.high - found.mean == pytest.approx(half)


def test_pairing_resolves_what_the_spread_of_each_arm_hides():
    # seeds move both arms together (a large shared seed effect), the arms differ by a constant 0.01
    seed_effect = np.array([0.0, 0.3, -0.2, 0.1])
    a, b = 1.0 + seed_effect + 0.01 + np.array([0, 1e-3, -1e-3, 0]), 1.0 + seed_effect
    found = stats.paired_difference(a, b)
    assert found.verdict == stats.HOLDS
    assert np.ptp(a) > 0.4 and found.mean < 0.02  # each arm's range is 40 x the difference
    assert stats.paired_difference(b, a).verdict == stats.REVERSED


def test_one_seed_is_unresolved_and_constant_differences_are_decided_by_their_sign():
    one = stats.paired_difference([2.0], [1.0])
    assert one.verdict == stats.UNRESOLVED and math.isinf(one.resolvable) and one.p == 1.0
    same = stats.paired_difference([2.0, 3.0], [1.0, 2.0])
    assert same.verdict == stats.HOLDS and same.low == same.high == 1.0
    assert stats.paired_difference([1.0, 2.0], [1.0, 2.0]).verdict == stats.UNRESOLVED
    with pytest.raises(ValueError, match="as many each"):
        stats.paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="level"):
        stats.paired_difference([1.0, 2.0], [1.0, 1.0], level=95)


def test_sign_flip_p_is_exact():
    assert stats.sign_flip_p([1.0, 2.0, 3.0]) == pytest.approx(2 / 8)  # the smallest p with 3 seeds
    assert stats.sign_flip_p([1.0, 2.0, 3.0, 4.0, 5.0]) == pytest.approx(2 / 32)
    # [1, -1, 2]: mean 2/3; sign patterns with |mean| >= 2/3: (+,-,+), (-,+,+)... counted by enumeration
    d = np.array([1.0, -1.0, 2.0])
    signs = np.array(np.meshgrid(*[[-1, 1]] * 3)).reshape(3, -1).T
    expected = np.mean(np.abs((signs * d).mean(1)) >= abs(d.mean()) - 1e-12)
    assert stats.sign_flip_p(d) == pytest.approx(expected)


def test_the_verdict_rule_false_positive_rate_is_its_level_at_every_n():
    """Measured, not assumed: with no difference the rule says "holds" or "reversed" 5 % of the time
    at 95 %, with 2, 3 or 8 seeds alike (the range rule it replaced: 22 % at 2 vs 2 seeds)."""
    for n in (2, 3, 8):
        rate = stats.false_positive_rate(n, level=0.95, trials=40_000, seed=n)
        assert abs(rate - 0.05) < 0.006, (n, rate)  # 40,000 trials: binomial sd 0.0011
    assert abs(stats.false_positive_rate(4, level=0.8, trials=40_000) - 0.2) < 0.01


def test_resolvable_difference_has_the_power_it_claims():
    """Simulate the design at the resolvable difference: 80 % of the experiments resolve it."""
    for n in (2, 3, 6):  # 2: scipy's nct lower tail gives NaN there; the code avoids it
        effect = stats.resolvable_difference(1.0, n)
        d = np.random.default_rng(n).normal(effect, 1.0, size=(20_000, n))
        low, _ = sp.ttest_1samp(d, 0.0, axis=1).confidence_interval(0.95)
        assert abs(np.mean(low > 0) - 0.8) < 0.015, (n, effect, np.mean(low > 0))
    assert stats.resolvable_difference(1.0, 3) > 3 * stats.resolvable_difference(1.0, 10)
    assert stats.resolvable_difference(2.0, 5) == pytest.approx(2 * stats.resolvable_difference(1.0, 5))
    assert math.isinf(stats.resolvable_difference(1.0, 1)) and stats.resolvable_difference(0.0, 4) == 0.0
    with pytest.raises(ValueError, match="std"):
        stats.resolvable_difference(-1.0, 4)


def test_a_known_effect_is_found_and_none_is_not_claimed():
    rng = np.random.default_rng(7)
    verdicts = [stats.paired_difference(rng.normal(0.5, 0.2, 6), rng.normal(0.0, 0.2, 6)).verdict
                for _ in range(200)]
    assert verdicts.count(stats.HOLDS) > 190 and verdicts.count(stats.REVERSED) == 0


def test_combine_and_all_of():
    h, r, u = stats.HOLDS, stats.REVERSED, stats.UNRESOLVED
    assert stats.combine([h, h]) == h and stats.combine([r, r]) == r
    assert stats.combine([h, u]) == u and stats.combine([h, r]) == u
    assert stats.all_of([h, h]) == h and stats.all_of([h, r, u]) == r and stats.all_of([h, u]) == u
    for bad in ([], ["maybe"]):
        with pytest.raises(ValueError, match="verdicts"):
            stats.combine(bad)


def test_rank_correlation_is_scipys_spearman_with_an_exact_permutation_p():
    a, b = [1, 2, 3, 4, 5, 6, 7], [2, 1, 4, 3, 6, 5, 7]
    found = stats.rank_correlation(a, b)
    assert found.rho == pytest.approx(sp.spearmanr(a, b).statistic) and found.n == 7
    # exact: the share of the 5,040 reorderings with |rho| at least as large
    from itertools import permutations
    null = np.array([sp.spearmanr(a, p).statistic for p in permutations(b)])
    assert found.p == pytest.approx(np.mean(np.abs(null) >= abs(found.rho) - 1e-12))
    assert stats.rank_correlation([1, 2, 3], [3, 2, 1]).rho == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="constant"):
        stats.rank_correlation([1, 1, 1], [1, 2, 3])
    with pytest.raises(ValueError, match="at least 3"):
        stats.rank_correlation([1, 2], [1, 2])


def test_bootstrap_interval_covers_the_median_and_is_scipys():
    values = np.random.default_rng(3).lognormal(0.0, 0.1, 40)
    found = stats.bootstrap_interval(values, level=0.9, resamples=1000, seed=5)
    reference = sp.bootstrap((values,), np.median, vectorized=False, confidence_level=0.9, n_resamples=1000,
                             method="percentile", rng=np.random.default_rng(5)).confidence_interval
    assert (found.low, found.high) == (pytest.approx(reference.low), pytest.approx(reference.high))
    assert found.estimate == pytest.approx(np.median(values)) and found.low < found.estimate < found.high
    assert not found.excludes(found.estimate) and found.excludes(found.high + 1)
    flat = stats.bootstrap_interval([2.0, 2.0, 2.0])
    assert flat.low == flat.high == 2.0


def test_needed_t_is_the_mean_over_standard_error_at_which_an_interval_leaves_0():
    assert stats.needed_t(3) == pytest.approx(4.302653, abs=1e-6)  # Student's t, 2 degrees of freedom
    assert stats.needed_t(2, level=0.99) == pytest.approx(63.656741, abs=1e-5)
    for n, level in ((3, 0.95), (4, 0.999), (6, 0.9)):  # just inside and just outside the line
        t = stats.needed_t(n, level)
        for factor, verdict in ((1.001, stats.HOLDS), (0.999, stats.UNRESOLVED)):
            d = np.array([1.0, -1.0] * n)[:n] - np.array([1.0, -1.0] * n)[:n].mean()  # mean 0, std s
            d = d / d.std(ddof=1) + factor * t / np.sqrt(n)  # mean / (s / sqrt n) = factor * t
            assert stats.paired_difference(d, np.zeros(n), level).verdict == verdict
    with pytest.raises(ValueError, match="n must be at least 2"):
        stats.needed_t(1)


def test_the_range_rule_the_course_replaced_fires_often_where_nothing_differs():
    """The rule the t-interval replaced ("a difference counts when it exceeds the larger of the two
    arms' seed ranges"), simulated with no difference: 22 % of the time at 2 against 2 seeds, 11 % at 3
    against 2, 5 % at 3 against 3 (the numbers notebooks 04-06 quote)."""
    rng = np.random.default_rng(0)
    for n_a, n_b, rate in ((2, 2, 0.22), (3, 2, 0.11), (3, 3, 0.05)):
        a, b = rng.standard_normal((100_000, n_a)), rng.standard_normal((100_000, n_b))
        fires = np.abs(a.mean(1) - b.mean(1)) > np.maximum(np.ptp(a, axis=1), np.ptp(b, axis=1))
        assert abs(fires.mean() - rate) < 0.01, (n_a, n_b, fires.mean())
