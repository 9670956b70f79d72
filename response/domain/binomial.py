"""Exact (Clopper–Pearson) confidence intervals for a response rate.

Implements the "exact" interval of Clopper CJ, Pearson ES. The use of confidence or fiducial
limits illustrated in the case of the binomial. Biometrika 1934;26(4):404–413:

    lower = Beta quantile(α/2; x, n − x + 1)      (0 when x = 0)
    upper = Beta quantile(1 − α/2; x + 1, n − x)  (1 when x = n)

computed with ``scipy.stats.binomtest(x, n).proportion_ci(method="exact")``. The interval is
central (α/2 in each tail) and not adjusted at the boundaries, as oncology papers report it
("0/20, 95% CI 0–16.8%"). statsmodels' default ``proportion_confint`` method is the normal
approximation, which is why it is not used here.

The naive x/n and its exact interval ignore a two-stage (Simon 1989) sampling plan; they are
what single-arm papers report and are labelled as such (``method``).
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy.stats import binomtest

RULE_VERSION = "clopper-pearson-1934/1"
METHOD_LABEL = "Clopper-Pearson exact"


@dataclass(frozen=True)
class RateSummary:
    """A response rate with its exact two-sided confidence interval.

    ``rate``, ``lcl`` and ``ucl`` are ``None`` when there is no denominator (n = 0).
    """

    x: int
    n: int
    rate: float | None
    lcl: float | None
    ucl: float | None
    confidence_level: float
    method: str = METHOD_LABEL


def _check_counts(x: int, n: int) -> None:
    if (
        isinstance(x, bool)
        or isinstance(n, bool)
        or not isinstance(x, int)
        or not isinstance(n, int)
    ):
        raise TypeError("x and n must be integers")
    if n < 0 or x < 0:
        raise ValueError(f"counts must be non-negative (x={x}, n={n})")
    if x > n:
        raise ValueError(f"x ({x}) cannot exceed n ({n})")


def _check_confidence(confidence_level: float) -> None:
    if not 0.0 < confidence_level < 1.0:
        raise ValueError(f"confidence_level must be in (0, 1), got {confidence_level}")


def clopper_pearson(x: int, n: int, confidence_level: float = 0.95) -> tuple[float, float]:
    """Two-sided Clopper–Pearson interval (lower, upper) for x responders out of n.

    Clopper & Pearson 1934. Raises ``ValueError`` for n = 0 (no interval exists).
    """
    _check_counts(x, n)
    _check_confidence(confidence_level)
    if n == 0:
        raise ValueError("n must be at least 1 for a confidence interval")
    ci = binomtest(x, n).proportion_ci(confidence_level=confidence_level, method="exact")
    return float(ci.low), float(ci.high)


def rate_summary(x: int, n: int, confidence_level: float = 0.95) -> RateSummary:
    """x/n with its exact (Clopper–Pearson 1934) interval; all-``None`` figures when n = 0."""
    _check_counts(x, n)
    _check_confidence(confidence_level)
    if n == 0:
        return RateSummary(
            x=x, n=n, rate=None, lcl=None, ucl=None, confidence_level=confidence_level
        )
    lcl, ucl = clopper_pearson(x, n, confidence_level)
    return RateSummary(x=x, n=n, rate=x / n, lcl=lcl, ucl=ucl, confidence_level=confidence_level)
