"""Kaplan–Meier fits against the toy vector of dose-finding.md §4.2 (lifelines = R log-log)."""

import datetime as dt
import math

import numpy as np
import pytest

from survival.domain.endpoints import EndpointValue
from survival.domain.km import (
    CI_METHOD,
    fit_endpoints,
    fit_km,
    fit_km_by_group,
    median_follow_up,
    numbers_at_risk,
)
from survival.domain.units import DAYS_PER_MONTH

TOY_TIMES = (35, 60, 60, 95, 120, 150, 180, 210, 240, 300, 330, 365)
TOY_EVENTS = (1, 1, 0, 1, 0, 1, 1, 0, 1, 0, 0, 0)


def test_ci_method_is_named():
    assert CI_METHOD == "log-log (Greenwood), pointwise 95%"
    assert fit_km(TOY_TIMES, TOY_EVENTS).ci_method == CI_METHOD


def test_toy_vector_median_240_with_ci_60_to_not_reached():
    fit = fit_km(TOY_TIMES, TOY_EVENTS)
    assert (fit.n, fit.events, fit.censored) == (12, 6, 6)
    assert fit.median.days == 240
    assert fit.median.lcl_days == 60
    assert fit.median.ucl_days is None
    assert fit.median.reached
    assert fit.median.display("days", 0) == "240 (60–NR)"
    assert fit.median.months == pytest.approx(240 / 30.4375)
    assert fit.median.display() == "7.9 (2.0–NR)"


def test_toy_vector_survival_at_180_days_is_0_5291_with_greenwood_log_log_band():
    # given the hand computation: S(180) = 11/12 · 10/11 · 8/9 · 6/7 · 5/6 = 0.5291,
    # Greenwood V = Σ d / (n (n − d)) over the event times up to 180 days
    s = 11 / 12 * 10 / 11 * 8 / 9 * 6 / 7 * 5 / 6
    v = 1 / (12 * 11) + 1 / (11 * 10) + 1 / (9 * 8) + 1 / (7 * 6) + 1 / (6 * 5)
    se = math.sqrt(v) / abs(math.log(s))
    z = 1.959963984540054
    lower, upper = s ** math.exp(z * se), s ** math.exp(-z * se)
    # when
    fit = fit_km(TOY_TIMES, TOY_EVENTS, landmarks_months=(180 / DAYS_PER_MONTH,))
    # then
    at_180 = fit.landmarks[0]
    assert at_180.survival == pytest.approx(0.5291, abs=5e-5)
    assert at_180.survival == pytest.approx(s)
    assert at_180.lcl == pytest.approx(lower, rel=1e-6)
    assert at_180.ucl == pytest.approx(upper, rel=1e-6)
    assert at_180.n_at_risk == 6
    assert at_180.days == pytest.approx(180)


def test_toy_vector_reverse_km_median_follow_up_300_lower_120_upper_not_reached():
    follow_up = median_follow_up(TOY_TIMES, TOY_EVENTS)
    assert follow_up.days == 300
    assert follow_up.lcl_days == 120
    # lifelines' raw band gives 365 (band 0–0 where the curve is 0); R gives NA: so do we
    assert follow_up.ucl_days is None
    assert follow_up.display("days", 0) == "300 (120–NR)"


def test_landmarks_6_12_24_months_and_beyond_follow_up():
    fit = fit_km(TOY_TIMES, TOY_EVENTS)
    six, twelve, twenty_four = fit.landmarks
    assert six.months == 6.0
    # 6 months = 182.625 days: still the step at 180 days
    assert six.survival == pytest.approx(0.529100529)
    assert six.n_at_risk == 5
    # 12 months = 365.25 days is after the last time (365): not estimable
    assert (twelve.survival, twelve.lcl, twelve.ucl, twelve.n_at_risk) == (None, None, None, 0)
    assert twenty_four.survival is None
    assert fit.landmark(12.0) is twelve
    assert fit.landmark(3.0) is None


def test_step_table_has_time_zero_and_every_distinct_time():
    fit = fit_km(TOY_TIMES, TOY_EVENTS)
    rows = [
        (s.time_days, s.n_at_risk, s.n_events, s.n_censored, round(s.survival, 4))
        for s in fit.steps
    ]
    assert rows == [
        (0.0, 12, 0, 0, 1.0),
        (35.0, 12, 1, 0, 0.9167),
        (60.0, 11, 1, 1, 0.8333),
        (95.0, 9, 1, 0, 0.7407),
        (120.0, 8, 0, 1, 0.7407),
        (150.0, 7, 1, 0, 0.6349),
        (180.0, 6, 1, 0, 0.5291),
        (210.0, 5, 0, 1, 0.5291),
        (240.0, 4, 1, 0, 0.3968),
        (300.0, 3, 0, 1, 0.3968),
        (330.0, 2, 0, 1, 0.3968),
        (365.0, 1, 0, 1, 0.3968),
    ]
    assert (fit.steps[0].lcl, fit.steps[0].ucl) == (1.0, 1.0)
    assert fit.steps[6].lcl == pytest.approx(0.205093, abs=1e-6)
    assert fit.steps[6].ucl == pytest.approx(0.774312, abs=1e-6)
    assert fit.steps[8].time_months == pytest.approx(240 / 30.4375)


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        ((0, 35, 36, 60, 61, 365, 366), (12, 12, 11, 11, 9, 1, 0)),
        ((), ()),
    ],
)
def test_numbers_at_risk_count_times_at_or_after_t(times, expected):
    assert numbers_at_risk(TOY_TIMES, times) == expected
    assert fit_km(TOY_TIMES, TOY_EVENTS).n_at_risk_at(times) == expected


def test_all_censored_median_not_reached():
    fit = fit_km((10, 20, 30), (0, 0, 0))
    assert fit.events == 0
    assert fit.median.days is None
    assert not fit.median.reached
    assert fit.median.display() == "NR (NR–NR)"
    assert fit.landmarks[0].survival is None  # 6 months is after the last time


def test_single_patient_with_event():
    fit = fit_km((100,), (1,))
    assert fit.median.days == 100
    # the curve falls from 1 to 0: the log(−log) band is undefined at 0
    assert fit.median.lcl_days is None
    assert fit.median.ucl_days is None
    assert fit.median.display("days", 0) == "100 (NE–NR)"
    assert fit.steps[-1].survival == 0.0
    assert (fit.steps[-1].lcl, fit.steps[-1].ucl) == (None, None)
    # a curve that reached 0 stays 0 after the last time
    assert fit.landmarks[0].survival == 0.0


def test_single_censored_patient():
    fit = fit_km((100,), (0,))
    assert (fit.n, fit.events, fit.censored) == (1, 0, 1)
    assert fit.median.days is None


def test_empty_input_gives_an_empty_fit():
    fit = fit_km((), ())
    assert (fit.n, fit.events, fit.censored, fit.steps) == (0, 0, 0, ())
    assert fit.median.days is None
    assert [lm.survival for lm in fit.landmarks] == [None, None, None]
    assert fit.n_at_risk_at((0.0, 10.0)) == (0, 0)


def test_median_at_exactly_one_half_takes_the_first_time_as_lifelines():
    # R and SAS would report 25 (midpoint of the flat part at 0.5); documented difference
    assert fit_km((10, 20, 30, 40), (1, 1, 1, 1)).median.days == 20


def test_event_at_time_zero_is_counted():
    fit = fit_km((0, 5, 10), (1, 0, 1))
    assert fit.steps[0].time_days == 0.0
    assert fit.steps[0].n_events == 1
    assert fit.steps[0].survival == pytest.approx(2 / 3)


def test_by_group_keeps_the_requested_order_and_empty_groups():
    groups = ["DL1"] * 6 + ["DL2"] * 6
    fits = fit_km_by_group(TOY_TIMES, TOY_EVENTS, groups, group_order=["DL2", "DL1", "DL3"])
    assert [(f.group, f.n) for f in fits] == [("DL2", 6), ("DL1", 6), ("DL3", 0)]
    assert fits[1].events == 4  # 35, 60, 95, 150
    assert fits[2].median.display() == "NR (NR–NR)"


def test_by_group_default_order_is_sorted():
    fits = fit_km_by_group((1, 2, 3), (1, 1, 0), ["b", "a", "b"])
    assert [f.group for f in fits] == ["a", "b"]


@pytest.mark.parametrize(
    ("times", "events", "message"),
    [
        ((1, 2), (1,), "equal length"),
        ((-1,), (1,), "negative"),
        ((float("nan"),), (1,), "finite"),
        ((1,), (2,), "1 \\(event\\) or 0"),
    ],
)
def test_invalid_input_is_rejected(times, events, message):
    with pytest.raises(ValueError, match=message):
        fit_km(times, events)


def _value(usubjid, paramcd, aval, cnsr):
    start = dt.date(2024, 1, 1)
    return EndpointValue(
        usubjid=usubjid,
        paramcd=paramcd,
        param=paramcd,
        startdt=start,
        adt=start + dt.timedelta(days=aval),
        aval_days=aval,
        avalm=aval / DAYS_PER_MONTH,
        cnsr=cnsr,
        evntdesc="",
        cnsdtdsc=None,
        srcdom="RS",
        srcid=None,
    )


def test_fit_endpoints_from_derived_values_overall_and_by_group():
    values = [
        _value(f"P{i}", "PFS", t, 1 - e)
        for i, (t, e) in enumerate(zip(TOY_TIMES, TOY_EVENTS, strict=True))
    ] + [_value("P0", "OS", 400, 1)]
    overall = fit_endpoints(values, paramcds=("PFS", "OS", "DOR"))
    assert [(f.paramcd, f.n, f.median.days) for f in overall] == [
        ("PFS", 12, 240.0),
        ("OS", 1, None),
        ("DOR", 0, None),
    ]
    groups = {f"P{i}": ("DL1" if i < 6 else "DL2") for i in range(11)}  # P11 has no group
    grouped = fit_endpoints(values, groups=groups, paramcds=("PFS",))
    assert [(f.paramcd, f.group, f.n) for f in grouped] == [("PFS", "DL1", 6), ("PFS", "DL2", 5)]


def test_results_hold_plain_python_numbers():
    fit = fit_km(np.array(TOY_TIMES), np.array(TOY_EVENTS))
    step = fit.steps[3]
    assert type(step.time_days) is float
    assert type(step.n_at_risk) is int
    assert type(fit.median.days) is float
    assert type(fit.landmarks[0].survival) is float
