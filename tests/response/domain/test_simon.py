"""Simon (1989) design search against the published designs in simon.md and dose-finding.md."""

import time

import pytest

from response.domain.simon import (
    NoFeasibleDesignError,
    SimonBoundaries,
    SimonDesignError,
    operating_characteristics,
    search_designs,
)

# Simon's published optimal designs for alpha = 0.05, beta = 0.20 (simon.md).
# p0, p1, r1, n1, r, n, EN(p0) to 2 decimals, PET(p0) to 3 decimals.
OPTIMAL_REFERENCE = [
    (0.10, 0.30, 1, 10, 5, 29, 15.01, 0.736),
    (0.20, 0.40, 3, 13, 12, 43, 20.58, 0.747),
    (0.30, 0.50, 5, 15, 18, 46, 23.63, 0.722),
    (0.40, 0.60, 7, 16, 23, 46, 24.52, 0.716),
    (0.50, 0.70, 8, 15, 26, 43, 23.50, 0.696),
]


@pytest.mark.parametrize(("p0", "p1", "r1", "n1", "r", "n", "en0", "pet0"), OPTIMAL_REFERENCE)
def test_optimal_design_matches_simon_table(p0, p1, r1, n1, r, n, en0, pet0):
    result = search_designs(p0, p1, alpha=0.05, beta=0.20)

    design = result.optimal
    assert (design.r1, design.n1, design.r, design.n) == (r1, n1, r, n)
    assert round(design.en0, 2) == en0
    assert round(design.pet0, 3) == pet0
    assert design.alpha <= 0.05
    assert design.power >= 0.80
    assert design.criterion == "optimal"


def test_trial_a_assumed_design_is_3_of_14_then_7_of_25():
    # trials.md: assumed p0 = 0.20, p1 = 0.45, alpha = 0.10, beta = 0.10 (labelled as assumed).
    result = search_designs(0.20, 0.45, alpha=0.10, beta=0.10)

    optimal = result.optimal
    assert (optimal.r1, optimal.n1, optimal.r, optimal.n) == (3, 14, 7, 25)
    assert optimal.rule_text == (
        "Stop after 14 patients if 3 or fewer respond; "
        "the drug is promising if more than 7 of 25 respond."
    )
    assert optimal.rule_text_critical == (
        "Continue to 25 patients if at least 4 of the first 14 respond; "
        "the drug is promising if at least 8 of 25 respond."
    )
    assert optimal.alpha <= 0.10
    assert optimal.power >= 0.90


def test_optimum_is_found_beyond_a_local_minimum_of_en():
    # dose-finding.md 3.4 pitfall 2: best EN per n is 20.37 (n=25), 20.13 (n=26), ...,
    # 19.84 (n=35, the optimum); 2/18, 4/26 is only the best n=26 design.
    result = search_designs(0.10, 0.30, alpha=0.10, beta=0.10)

    per_n = {d.n: round(d.en0, 2) for d in result.best_per_n}
    assert per_n[25] == 20.37
    assert per_n[26] == 20.13
    assert per_n[28] == 25.29
    assert result.optimal.n == 35
    assert round(result.optimal.en0, 2) == 19.84
    assert (result.optimal.r1, result.optimal.n1, result.optimal.r) == (1, 12, 5)


def test_minimax_at_attained_alpha_0_049999_is_kept():
    # dose-finding.md 3.4 pitfall 3: this minimax design sits at attained alpha 0.049999.
    result = search_designs(0.30, 0.45, alpha=0.05, beta=0.20)

    minimax = result.minimax
    assert (minimax.r1, minimax.n1, minimax.r, minimax.n) == (16, 46, 25, 65)
    assert round(minimax.alpha, 6) == 0.049999
    assert (result.optimal.r1, result.optimal.n1, result.optimal.r, result.optimal.n) == (
        9,
        27,
        30,
        81,
    )


@pytest.mark.parametrize(
    ("p0", "p1", "r1", "n1", "r", "n"),
    [
        (0.10, 0.30, 1, 15, 5, 25),
        (0.20, 0.40, 4, 18, 10, 33),
        (0.30, 0.50, 6, 19, 16, 39),
        (0.40, 0.60, 17, 34, 20, 39),
        (0.50, 0.70, 12, 23, 23, 37),
    ],
)
def test_minimax_design_matches_simon_table(p0, p1, r1, n1, r, n):
    minimax = search_designs(p0, p1, alpha=0.05, beta=0.20).minimax

    assert (minimax.r1, minimax.n1, minimax.r, minimax.n) == (r1, n1, r, n)
    assert minimax.criterion == "minimax"


def test_minimax_is_the_smallest_feasible_n():
    result = search_designs(0.20, 0.40, alpha=0.05, beta=0.20)

    assert result.minimax.n == min(d.n for d in result.best_per_n)
    assert result.optimal.en0 == min(d.en0 for d in result.best_per_n)


def test_optimum_near_nmax_is_flagged():
    result = search_designs(0.30, 0.45, alpha=0.05, beta=0.20, nmax=90)

    assert result.optimal.n == 81
    assert result.optimal_near_nmax
    assert "nmax (90)" in result.warnings[0]


def test_optimum_far_from_nmax_is_not_flagged():
    result = search_designs(0.20, 0.45, alpha=0.10, beta=0.10)

    assert not result.optimal_near_nmax
    assert result.warnings == ()


def test_no_feasible_design_raises_a_clear_error():
    with pytest.raises(NoFeasibleDesignError, match="No Simon two-stage design with n ≤ 40"):
        search_designs(0.30, 0.45, alpha=0.05, beta=0.20, nmax=40)


@pytest.mark.parametrize(
    ("p0", "p1", "alpha", "beta", "nmax", "message"),
    [
        (0.40, 0.40, 0.05, 0.2, 100, "p1 .* must be greater than p0"),
        (0.50, 0.30, 0.05, 0.2, 100, "p1 .* must be greater than p0"),
        (0.00, 0.30, 0.05, 0.2, 100, "p0 must be strictly between 0 and 1"),
        (0.10, 1.00, 0.05, 0.2, 100, "p1 must be strictly between 0 and 1"),
        (0.10, 0.30, 0.00, 0.2, 100, "alpha must be strictly between 0 and 1"),
        (0.10, 0.30, 0.05, 1.5, 100, "beta must be strictly between 0 and 1"),
        (0.10, 0.30, 0.05, 0.2, 1, "nmax must be at least 2"),
        (0.10, 0.30, 0.05, 0.2, 10_000, "nmax must be at most"),
    ],
)
def test_invalid_parameters_are_rejected(p0, p1, alpha, beta, nmax, message):
    with pytest.raises(SimonDesignError, match=message):
        search_designs(p0, p1, alpha, beta, nmax)


def test_search_for_nmax_100_answers_within_5_seconds():
    started = time.perf_counter()
    search_designs(0.30, 0.45, alpha=0.05, beta=0.20, nmax=100)

    assert time.perf_counter() - started < 5.0


def test_operating_characteristics_agree_with_the_search():
    design = search_designs(0.20, 0.45, alpha=0.10, beta=0.10).optimal

    oc = operating_characteristics(design.boundaries, 0.20, 0.45)

    assert oc.alpha == pytest.approx(design.alpha, abs=1e-12)
    assert oc.power == pytest.approx(design.power, abs=1e-12)
    assert oc.pet0 == pytest.approx(design.pet0, abs=1e-12)
    assert oc.en0 == pytest.approx(design.en0, abs=1e-12)
    assert oc.en1 > oc.en0  # a good drug rarely stops early


def test_rule_text_says_none_when_r1_is_zero():
    assert SimonBoundaries(r1=0, n1=9, r=2, n=17).rule_text == (
        "Stop after 9 patients if none respond; the drug is promising if more than 2 of 17 respond."
    )


@pytest.mark.parametrize(
    ("r1", "n1", "r", "n"),
    [(3, 14, 7, 14), (14, 14, 20, 25), (5, 14, 4, 25), (3, 0, 7, 25), (3, 14, 25, 25)],
)
def test_inconsistent_boundaries_are_rejected(r1, n1, r, n):
    with pytest.raises(SimonDesignError):
        SimonBoundaries(r1=r1, n1=n1, r=r, n=n)
