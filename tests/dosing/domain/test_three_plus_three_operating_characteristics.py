"""Exact and simulated operating characteristics of the 3+3 design.

Reference figures: the escalation.md research note and reference/dose-finding.md section 1.5
(escalation only, 5 levels). E[N] for the first scenario computes to 14.67496: escalation.md's
14.67 is the correctly rounded value (the research note prints 14.68).
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from dosing.domain.escalation import EscalationInputError, EscalationSettings
from dosing.domain.operating_characteristics import (
    exact_operating_characteristics,
    simulate_operating_characteristics,
)

FIVE = EscalationSettings(num_levels=5)
FIVE_KORN = EscalationSettings(num_levels=5, allow_deescalate=True)
SCENARIO_1 = (0.05, 0.10, 0.20, 0.30, 0.50)


@pytest.mark.parametrize(
    ("tox", "p_no_dose", "p_select", "expected_n"),
    [
        (SCENARIO_1, 0.0266, (0.0914, 0.2570, 0.3161, 0.2558, 0.0531), 14.67),
        ((0.10, 0.20, 0.30, 0.45, 0.60), 0.0939, (0.2640, 0.3247, 0.2430, 0.0682, 0.0061), 11.90),
        ((0.30, 0.40, 0.50, 0.60, 0.70), 0.5057, (0.3414, 0.1266, 0.0241, 0.0021, 0.0001), 7.19),
    ],
)
def test_reference_operating_characteristics_escalation_only(tox, p_no_dose, p_select, expected_n):
    oc = exact_operating_characteristics(tox, FIVE)
    assert round(oc.p_no_dose, 4) == p_no_dose
    assert tuple(round(p, 4) for p in oc.p_select) == p_select
    assert round(oc.expected_n, 2) == expected_n


def test_expected_n_of_the_first_scenario_to_the_computed_figure():
    oc = exact_operating_characteristics(SCENARIO_1, FIVE)
    assert oc.expected_n == pytest.approx(14.67496, abs=5e-6)
    assert oc.expected_n == pytest.approx(14.67, abs=0.005)


def _escalates(p: float) -> float:
    """P(pass a level): 0/3, or 1/3 then 0/3 (dose-finding.md 1.5)."""
    return (1 - p) ** 3 + 3 * p * (1 - p) ** 2 * (1 - p) ** 3


def _closed_form_escalation_only(tox):
    reach = [1.0]
    for p in tox:
        reach.append(reach[-1] * _escalates(p))
    p_select = [reach[i + 1] * (1 - _escalates(tox[i + 1])) for i in range(len(tox) - 1)]
    p_select.append(reach[len(tox)])
    expected_n = sum(reach[i] * (3 + 3 * 3 * p * (1 - p) ** 2) for i, p in enumerate(tox))
    expected_dlts = sum(
        reach[i] * (3 * p + 3 * p * (1 - p) ** 2 * 3 * p) for i, p in enumerate(tox)
    )
    return 1 - _escalates(tox[0]), p_select, expected_n, expected_dlts


@pytest.mark.parametrize(
    "tox",
    [SCENARIO_1, (0.0, 0.0, 0.0), (1.0, 0.2), (0.33,), (0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5)],
)
def test_escalation_only_matches_closed_form(tox):
    oc = exact_operating_characteristics(tox, EscalationSettings(num_levels=len(tox)))
    p_no_dose, p_select, expected_n, expected_dlts = _closed_form_escalation_only(tox)
    assert oc.p_no_dose == pytest.approx(p_no_dose, abs=1e-12)
    assert oc.p_select == pytest.approx(p_select, abs=1e-12)
    assert oc.expected_n == pytest.approx(expected_n, abs=1e-10)
    assert oc.expected_dlts == pytest.approx(expected_dlts, abs=1e-10)


@pytest.mark.parametrize(("p1", "p2"), [(0.1, 0.4), (0.3, 0.6), (0.05, 0.05), (0.5, 0.2)])
def test_korn_two_levels_matches_hand_derivation(p1, p2):
    a1, b1 = (1 - p1) ** 3, 3 * p1 * (1 - p1) ** 2
    a2, b2 = (1 - p2) ** 3, 3 * p2 * (1 - p2) ** 2
    pass2 = a2 + b2 * a2
    fail2 = 1 - pass2
    at_most_one = a1 + b1  # <=1 DLT in the 3 more treated at level 1 after de-escalation
    mtd2 = (a1 + b1 * a1) * pass2
    mtd1 = a1 * fail2 * at_most_one + b1 * a1 * fail2
    no_dose = (1 - a1 - b1) + b1 * (1 - a1) + a1 * fail2 * (1 - at_most_one)
    expected_n = 3 + 3 * b1 + (a1 + b1 * a1) * (3 + 3 * b2) + a1 * fail2 * 3

    oc = exact_operating_characteristics(
        (p1, p2), EscalationSettings(num_levels=2, allow_deescalate=True)
    )

    assert oc.p_select == pytest.approx((mtd1, mtd2), abs=1e-12)
    assert oc.p_no_dose == pytest.approx(no_dose, abs=1e-12)
    assert oc.expected_n == pytest.approx(expected_n, abs=1e-10)


def test_korn_figures_for_the_first_scenario():
    # Computed by this enumeration (V1); de-escalation adds patients and more "no dose".
    oc = exact_operating_characteristics(SCENARIO_1, FIVE_KORN)
    assert round(oc.p_no_dose, 4) == 0.0272
    assert tuple(round(p, 4) for p in oc.p_select) == (0.0971, 0.2773, 0.3278, 0.2175, 0.0531)
    assert round(oc.expected_n, 2) == 16.92


def test_level_minus_one_fallback():
    p_minus, p1 = 0.1, 0.6
    oc = exact_operating_characteristics(
        (p_minus, p1), EscalationSettings(num_levels=1, lowest_level=-1)
    )
    assert oc.levels == (-1, 1)
    fail1 = 1 - _escalates(p1)
    assert oc.p_select == pytest.approx((fail1 * _escalates(p_minus), 1 - fail1), abs=1e-12)
    assert oc.p_no_dose == pytest.approx(fail1 * (1 - _escalates(p_minus)), abs=1e-12)


@pytest.mark.parametrize(
    "design",
    [
        FIVE,
        FIVE_KORN,
        EscalationSettings(num_levels=5, require_six_at_mtd=True),
        EscalationSettings(num_levels=5, require_six_at_mtd=True, allow_deescalate=True),
        EscalationSettings(num_levels=4, lowest_level=-1, allow_deescalate=True),
    ],
)
def test_probabilities_sum_to_one_and_n_is_consistent(design):
    oc = exact_operating_characteristics(SCENARIO_1, design)
    assert oc.p_no_dose + sum(oc.p_select) == pytest.approx(1.0, abs=1e-12)
    assert sum(oc.expected_n_per_level) == pytest.approx(oc.expected_n, abs=1e-10)


def test_require_six_treats_more_patients_than_plain_escalation():
    plain = exact_operating_characteristics(SCENARIO_1, FIVE)
    six = exact_operating_characteristics(
        SCENARIO_1, EscalationSettings(num_levels=5, require_six_at_mtd=True)
    )
    assert six.expected_n > plain.expected_n
    # Confirmation can only move the selection down, so the top level is picked less often.
    assert six.p_select[-1] < plain.p_select[-1]


@pytest.mark.parametrize(
    ("tox", "design", "message"),
    [
        ((0.1, 0.2), FIVE, "2 true DLT rates given for 5 levels"),
        ((0.1, 0.2, 1.2, 0.3, 0.4), FIVE, r"must lie in \[0, 1\]"),
        ((0.1, float("nan"), 0.2, 0.3, 0.4), FIVE, r"must lie in \[0, 1\]"),
        (SCENARIO_1, EscalationSettings(num_levels=5, rule_set="rolling6"), "3\\+3 only"),
    ],
)
def test_invalid_input(tox, design, message):
    with pytest.raises(EscalationInputError, match=message):
        exact_operating_characteristics(tox, design)


def _within_four_sigma(sim, exact):
    n = sim.n_sims
    for got, want in zip(
        (sim.p_no_dose, *sim.p_select), (exact.p_no_dose, *exact.p_select), strict=True
    ):
        sigma = math.sqrt(max(want * (1 - want), 1e-12) / n)
        assert abs(got - want) <= 4 * sigma + 1e-12, (got, want, sigma)
    assert abs(sim.expected_n - exact.expected_n) <= 4 * sim.se_expected_n


@pytest.mark.parametrize(
    ("tox", "design", "seed"),
    [
        (SCENARIO_1, FIVE, 20240501),
        (SCENARIO_1, FIVE_KORN, 7),
        ((0.10, 0.20, 0.30, 0.45, 0.60), FIVE, 11),
        ((0.30, 0.40, 0.50, 0.60, 0.70), FIVE_KORN, 12),
    ],
)
def test_monte_carlo_agrees_with_exact_enumeration(tox, design, seed):
    calls = []
    sim = simulate_operating_characteristics(
        tox, design, 20_000, random.Random(seed), progress=lambda d, t: calls.append((d, t))
    )
    exact = exact_operating_characteristics(tox, design)
    _within_four_sigma(sim, exact)
    assert sim.method == "simulation"
    assert calls[-1] == (20_000, 20_000)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert 50 <= len(calls) <= 101


def test_monte_carlo_accepts_a_numpy_generator_and_is_reproducible():
    a = simulate_operating_characteristics(SCENARIO_1, FIVE, 5_000, np.random.default_rng(3))
    b = simulate_operating_characteristics(SCENARIO_1, FIVE, 5_000, np.random.default_rng(3))
    assert a == b
    _within_four_sigma(a, exact_operating_characteristics(SCENARIO_1, FIVE))


def test_monte_carlo_detects_a_wrong_scenario():
    # The 4-sigma check has power: rates of another scenario are rejected.
    sim = simulate_operating_characteristics(
        (0.10, 0.20, 0.30, 0.45, 0.60), FIVE, 20_000, random.Random(5)
    )
    with pytest.raises(AssertionError):
        _within_four_sigma(sim, exact_operating_characteristics(SCENARIO_1, FIVE))


def test_oc_to_dict():
    data = exact_operating_characteristics(SCENARIO_1, FIVE).to_dict()
    assert data["method"] == "exact"
    assert len(data["p_select"]) == 5
    assert data["levels"] == [1, 2, 3, 4, 5]
    assert "n_sims" not in data
