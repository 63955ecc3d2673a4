"""The statistics every training comparison of the course is decided by, built on ``scipy.stats``.

A comparison of two arms (two losses, two settings) trains each arm with the same seeds: seed s means
the same initial weights and the same batch order in both arms, so the two runs of seed s share whatever
the seed did. The course therefore compares arms by their *seed-paired differences*
d_s = a_s - b_s, never by the spread of each arm on its own:

- :func:`summary` / :func:`mean_std`: mean and standard deviation of one arm's values over seeds;
- :func:`paired_difference`: the mean of d, its Student-t interval at a stated level, and an exact
  sign-flip permutation p-value (for n seeds the smallest p it can give is 2 / 2^n: 0.25 at n = 3);
- :attr:`Difference.verdict`: one three-valued verdict, "holds" (the interval lies above 0),
  "reversed" (below 0) or "unresolved" (it contains 0, always so with one seed);
- :func:`resolvable_difference`: the smallest true mean difference that n seeds resolve with a stated
  power, given the spread of the differences: what a design could have shown;
- :func:`false_positive_rate`: the verdict rule's rate of "holds" or "reversed" where there is no
  difference at all, simulated rather than assumed;
- :func:`rank_correlation`: Spearman's rho with an exact permutation p-value;
- :func:`bootstrap_interval`: a percentile bootstrap interval of any statistic (``scipy.stats.bootstrap``).

Levels are two-sided confidence levels in (0, 1): 0.95 means a 95 % interval, a 5 % two-sided test.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from helpers.checks import positive_int

HOLDS, REVERSED, UNRESOLVED = "holds", "reversed", "unresolved"
VERDICTS = (HOLDS, REVERSED, UNRESOLVED)
LEVEL = 0.95  # the course's confidence level, unless a notebook states another


def _check_level(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ValueError(f"{name} must be a number in (0, 1); got {value!r}")
    return float(value)


def _values(name: str, values: Sequence[float], at_least: int = 1) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or len(array) < at_least:
        raise ValueError(f"{name} must be a sequence of at least {at_least} number(s); got {values!r}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must hold finite numbers; got {array.tolist()}")
    return array


# --------------------------------------------------------------------------------------------
# One arm: seed summaries
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """One arm over its seeds: ``mean``, ``std`` (``ddof=1``; 0 for one seed) and ``n`` seeds."""

    mean: float
    std: float
    n: int

    def __str__(self) -> str:
        return f"{self.mean:.4g} ± {self.std:.2g} (n={self.n})"


def summary(values: Sequence[float]) -> Summary:
    """The :class:`Summary` of ``values`` (one value per seed, at least one, finite)."""
    array = _values("values", values)
    std = float(np.std(array, ddof=1)) if len(array) > 1 else 0.0
    return Summary(float(array.mean()), std, len(array))


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """``(mean, std)`` of ``values`` over seeds (std with ``ddof=1``; 0 for one value)."""
    found = summary(values)
    return found.mean, found.std


def summarise(reports: Sequence[Mapping[str, float]]) -> dict[str, tuple[float, float]]:
    """``{column: (mean, std)}`` over runs, one report (column -> value) per run, every report with
    the columns of the first."""
    if not reports:
        raise ValueError("reports must hold at least one report; got none")
    columns = list(reports[0])
    for report in reports:
        if list(report) != columns:
            raise ValueError(f"every report must have the columns {columns}; got {list(report)}")
    return {column: mean_std([r[column] for r in reports]) for column in columns}


# --------------------------------------------------------------------------------------------
# Two arms: seed-paired differences and their verdict
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """``a - b`` paired by seed: ``mean`` over the ``n`` seeds, its t-interval ``[low, high]`` at
    ``level`` (infinite for one seed), ``std`` of the per-seed differences, the two-sided exact
    sign-flip permutation ``p`` (1 for one seed) and the ``resolvable`` difference: the smallest true
    mean difference this many seeds would resolve with 80 % power at this spread (inf below 2 seeds)."""

    mean: float
    low: float
    high: float
    std: float
    n: int
    level: float
    p: float
    resolvable: float

    @property
    def verdict(self) -> str:
        """"holds" when the interval lies above 0 (a > b), "reversed" when below, else "unresolved"."""
        return HOLDS if self.low > 0 else REVERSED if self.high < 0 else UNRESOLVED

    def describe(self, digits: int = 4) -> str:
        """One line: the mean, the interval with its level, the sign-flip p (from 6 seeds on, where it
        can fall below 0.05) and the verdict; for an unresolved difference also what the design could
        have resolved; with 2 seeds, a warning that the spread rests on one degree of freedom."""
        # with n seeds the sign-flip p cannot go below 2 / 2^n (0.5 at 2, 0.25 at 3): shown from 6 on
        p = f", sign-flip p = {self.p:.3g}" if self.n >= 6 else ""
        text = (f"{self.mean:+.{digits}f}, {100 * self.level:g} % interval [{self.low:+.{digits}f}, "
                f"{self.high:+.{digits}f}] over {self.n} seed pairs{p}: {self.verdict}")
        if self.verdict == UNRESOLVED:
            text += f" (the design resolves about ±{self.resolvable:.{digits}f})"
        if self.n == 2:  # t with 1 degree of freedom: the interval and what it resolves are rough
            text += " [2 seeds: the spread rests on one degree of freedom]"
        return text


def paired_difference(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Difference:
    """The :class:`Difference` of ``a[s] - b[s]`` over seeds s. ``a`` and ``b``: one value per seed,
    in the same seed order, as many each (at least one), finite."""
    level = _check_level("level", level)
    a, b = _values("a", a), _values("b", b)
    if a.shape != b.shape:
        raise ValueError(f"a and b must hold one value per seed, as many each; got {len(a)} and {len(b)}")
    d = a - b
    mean, n = float(d.mean()), len(d)
    if n < 2:
        return Difference(mean, -math.inf, math.inf, 0.0, n, level, 1.0, math.inf)
    std = float(np.std(d, ddof=1))
    if std == 0:  # every seed moved by exactly the same amount: no t-interval; the sign says it
        low = high = mean
    else:
        low, high = stats.ttest_1samp(d, 0.0).confidence_interval(level)
    p = sign_flip_p(d)
    return Difference(mean, float(low), float(high), std, n, level, p, resolvable_difference(std, n, level))


def sign_flip_p(differences: Sequence[float]) -> float:
    """The exact two-sided permutation p-value of the mean of ``differences`` under the null that
    each difference is as likely negative as positive (every one of the 2^n sign patterns). Its
    smallest possible value is 2 / 2^n."""
    d = _values("differences", differences)
    if not np.any(d):
        return 1.0
    return float(stats.permutation_test((d,), np.mean, permutation_type="samples", n_resamples=math.inf,
                                        alternative="two-sided").pvalue)


def needed_t(n: int, level: float = LEVEL) -> float:
    """How many standard errors a paired mean of ``n`` seeds must lie from 0 for its two-sided
    t-interval at ``level`` to exclude 0: Student's t quantile with ``n - 1`` degrees of freedom
    (``scipy.stats.t``; 4.30 at 3 seeds and 95 %)."""
    level = _check_level("level", level)
    positive_int("n", n)
    if n < 2:
        raise ValueError(f"n must be at least 2 (one seed has no interval); got {n}")
    return float(stats.t.ppf(0.5 + level / 2, n - 1))


def resolvable_difference(std: float, n: int, level: float = LEVEL, power: float = 0.8) -> float:
    """The smallest true mean difference that a two-sided paired t-test at ``level`` with ``n`` seed
    pairs detects with probability ``power``, when the per-seed differences have standard deviation
    ``std`` (from the non-central t distribution). ``inf`` for fewer than 2 seeds; 0 for ``std`` 0."""
    level, power = _check_level("level", level), _check_level("power", power)
    positive_int("n", n)
    if not (math.isfinite(std) and std >= 0):
        raise ValueError(f"std must be a finite number >= 0; got {std!r}")
    if n < 2:
        return math.inf
    if std == 0:
        return 0.0
    df = n - 1
    critical = stats.t.ppf(0.5 + level / 2, df)

    def shortfall(effect: float) -> float:  # power at this standardised effect, less the power asked
        nc = effect * math.sqrt(n)
        # the lower tail P(T < -c) as P(T > c) at -nc: scipy's nct.cdf far in its tail can give NaN
        return stats.nct.sf(critical, df, nc) + stats.nct.sf(critical, df, -nc) - power

    high = 1.0
    while shortfall(high) < 0:
        high *= 2
    return float(optimize.brentq(shortfall, 0.0, high, xtol=1e-10)) * std


def false_positive_rate(n: int, level: float = LEVEL, trials: int = 100_000, seed: int = 0) -> float:
    """How often :attr:`Difference.verdict` says "holds" or "reversed" where there is no difference:
    ``trials`` sets of ``n`` per-seed differences drawn from one normal distribution of mean 0, the
    share whose t-interval at ``level`` excludes 0. Should be close to ``1 - level`` at every n."""
    level = _check_level("level", level)
    for name, value in (("n", n), ("trials", trials)):
        positive_int(name, value)
    if n < 2:
        raise ValueError(f"n must be at least 2 (one seed has no interval); got {n}")
    d = np.random.default_rng(seed).standard_normal((trials, n))
    low, high = stats.ttest_1samp(d, 0.0, axis=1).confidence_interval(level)
    return float(np.mean((low > 0) | (high < 0)))


def combine(verdicts: Sequence[str]) -> str:
    """One verdict from several readings of the same claim: "holds" (or "reversed") only when every
    reading says so, else "unresolved"."""
    if not verdicts or any(v not in VERDICTS for v in verdicts):
        raise ValueError(f"verdicts must be a non-empty list of {VERDICTS}; got {list(verdicts)!r}")
    first = verdicts[0]
    return first if first != UNRESOLVED and all(v == first for v in verdicts) else UNRESOLVED


def all_of(verdicts: Sequence[str]) -> str:
    """The verdict of "each of these holds": "holds" when each holds, "reversed" when one is reversed
    (the conjunction is then false), else "unresolved"."""
    if not verdicts or any(v not in VERDICTS for v in verdicts):
        raise ValueError(f"verdicts must be a non-empty list of {VERDICTS}; got {list(verdicts)!r}")
    if all(v == HOLDS for v in verdicts):
        return HOLDS
    return REVERSED if REVERSED in verdicts else UNRESOLVED


# --------------------------------------------------------------------------------------------
# Rankings and intervals of other statistics
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Correlation:
    """Spearman's ``rho`` of ``n`` pairs and its two-sided permutation ``p`` (exact up to 9 pairs)."""

    rho: float
    p: float
    n: int


def rank_correlation(a: Sequence[float], b: Sequence[float], resamples: int = 20_000,
                     seed: int = 0) -> Correlation:
    """Spearman's rank correlation of ``a`` and ``b`` (equally long, at least 3, neither constant)
    with a permutation p-value: every pairing where there are at most 9! of them, else ``resamples``
    random ones from ``seed``."""
    a, b = _values("a", a, 3), _values("b", b, 3)
    if a.shape != b.shape:
        raise ValueError(f"a and b must be equally long; got {len(a)} and {len(b)}")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        raise ValueError("a and b must not be constant: a rank correlation needs an order")
    rho = float(stats.spearmanr(a, b).statistic)
    # Spearman's rho is Pearson's r of the ranks; re-pairing is a reordering of one side's ranks
    rank_a, rank_b = stats.rankdata(a), stats.rankdata(b)
    exact = math.factorial(len(a)) <= math.factorial(9)
    def statistic(x: np.ndarray, axis: int = -1) -> np.ndarray:
        return stats.pearsonr(x, rank_b, axis=axis).statistic

    test = stats.permutation_test((rank_a,), statistic, vectorized=True, permutation_type="pairings",
                                  n_resamples=math.inf if exact else resamples,
                                  alternative="two-sided", rng=np.random.default_rng(seed))
    return Correlation(rho, float(test.pvalue), len(a))


@dataclass(frozen=True)
class Interval:
    """A point ``estimate`` and its interval ``[low, high]`` at ``level``."""

    estimate: float
    low: float
    high: float
    level: float

    def excludes(self, value: float) -> bool:
        """True when ``value`` lies outside ``[low, high]``."""
        return value < self.low or value > self.high


def bootstrap_interval(values: Sequence[float], statistic: Callable[[np.ndarray], float] = np.median,
                       level: float = LEVEL, resamples: int = 2000, seed: int = 0) -> Interval:
    """``statistic`` of ``values`` (at least 2) and its percentile bootstrap interval at ``level``
    (``resamples`` draws with replacement, from ``seed``). A constant sample gives a zero-width
    interval."""
    level = _check_level("level", level)
    array = _values("values", values, 2)
    estimate = float(statistic(array))
    if np.ptp(array) == 0:
        return Interval(estimate, estimate, estimate, level)
    found = stats.bootstrap((array,), statistic, vectorized=False, confidence_level=level,
                            n_resamples=resamples, method="percentile", rng=np.random.default_rng(seed))
    interval = found.confidence_interval
    return Interval(estimate, float(interval.low), float(interval.high), level)
