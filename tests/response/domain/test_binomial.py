"""Clopper & Pearson (1934) exact intervals against dose-finding.md section 4.1."""

import pytest

from response.domain.binomial import METHOD_LABEL, clopper_pearson, rate_summary

# x, n, lower, upper (95%, two-sided), as printed in the reference table.
REFERENCE = [
    (7, 50, 0.0582, 0.2674),
    (0, 20, 0.0000, 0.1684),
    (1, 10, 0.0025, 0.4450),
    (3, 13, 0.0504, 0.5381),
    (5, 29, 0.0585, 0.3577),
    (6, 35, 0.0656, 0.3365),
    (12, 43, 0.1533, 0.4367),
    (20, 20, 0.8316, 1.0000),
]


@pytest.mark.parametrize(("x", "n", "lower", "upper"), REFERENCE)
def test_clopper_pearson_matches_reference_to_4_decimals(x, n, lower, upper):
    lcl, ucl = clopper_pearson(x, n)

    assert round(lcl, 4) == lower
    assert round(ucl, 4) == upper


def test_scipy_documented_example_to_5_decimals():
    lcl, ucl = clopper_pearson(7, 50)

    assert (round(lcl, 5), round(ucl, 5)) == (0.05819, 0.26740)


def test_boundaries_are_exactly_zero_and_one():
    assert clopper_pearson(0, 20)[0] == 0.0
    assert clopper_pearson(20, 20)[1] == 1.0


def test_a_lower_confidence_level_gives_a_narrower_interval():
    wide = clopper_pearson(12, 25, 0.95)
    narrow = clopper_pearson(12, 25, 0.90)

    assert wide[0] < narrow[0] < narrow[1] < wide[1]


def test_rate_summary_carries_rate_limits_and_method():
    summary = rate_summary(12, 25)

    assert (summary.x, summary.n, summary.rate) == (12, 25, 0.48)
    assert (summary.lcl, summary.ucl) == clopper_pearson(12, 25)
    assert summary.confidence_level == 0.95
    assert summary.method == METHOD_LABEL == "Clopper-Pearson exact"


def test_rate_summary_without_denominator_has_no_figures():
    summary = rate_summary(0, 0)

    assert (summary.rate, summary.lcl, summary.ucl) == (None, None, None)


@pytest.mark.parametrize(
    ("x", "n", "confidence", "error"),
    [
        (3, 2, 0.95, ValueError),
        (-1, 5, 0.95, ValueError),
        (1, 5, 1.0, ValueError),
        (1, 5, 0.0, ValueError),
        (0, 0, 0.95, ValueError),
        (1.0, 5, 0.95, TypeError),
    ],
)
def test_invalid_inputs_are_rejected(x, n, confidence, error):
    with pytest.raises(error):
        clopper_pearson(x, n, confidence)
