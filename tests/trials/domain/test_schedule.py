"""The visit schedule generated from the design, and a visit's timing from "today"."""

from datetime import date

import pytest

from trials.domain.design import TrialDesign
from trials.domain.schedule import (
    VisitTiming,
    plan_cycles,
    plan_end_of_treatment,
    plan_follow_up,
    study_day,
    visit_timing,
)
from trials.reference_trials import TRIAL_A, TRIAL_B

IPD = TrialDesign.from_dict(TRIAL_A["design"])
CFZ = TrialDesign.from_dict(TRIAL_B["design"])


def test_cycle_1_and_2_of_trial_a():
    visits = plan_cycles(IPD, anchor=date(2025, 1, 6), first_cycle=1, last_cycle=2)

    assert [(v.code, v.planned_date) for v in visits] == [
        ("C1D1", date(2025, 1, 6)),
        ("C1D8", date(2025, 1, 13)),
        ("C1D15", date(2025, 1, 20)),
        ("C1D22", date(2025, 1, 27)),
        ("C2D1", date(2025, 2, 3)),
        ("C2D15", date(2025, 2, 17)),
    ]
    c1d1, c1d8 = visits[0], visits[1]
    assert c1d1.window_start == c1d1.window_end == date(2025, 1, 6)
    assert (c1d8.window_start, c1d8.window_end) == (date(2025, 1, 11), date(2025, 1, 15))
    assert [v.code for v in visits if v.response_assessment] == ["C2D1"]
    assert visits[4].window_end == date(2025, 2, 6)  # day-1 window ± 3


def test_a_delayed_cycle_is_planned_from_its_own_day_1():
    visits = plan_cycles(IPD, anchor=date(2025, 2, 10), first_cycle=2, last_cycle=3, from_day=2)

    assert [(v.code, v.planned_date) for v in visits] == [
        ("C2D15", date(2025, 2, 24)),
        ("C3D1", date(2025, 3, 10)),
        ("C3D15", date(2025, 3, 24)),
    ]


def test_trial_b_has_six_infusion_days_and_response_every_other_cycle():
    visits = plan_cycles(CFZ, anchor=date(2025, 1, 6), first_cycle=1, last_cycle=3)

    assert [v.day for v in visits if v.cycle == 1] == [1, 2, 8, 9, 15, 16]
    assert [v.code for v in visits if v.response_assessment] == ["C3D1"]


def test_max_cycles_stops_the_plan():
    design = IPD.with_changes({"visit_schedule": {"max_cycles": 2}})

    visits = plan_cycles(design, anchor=date(2025, 1, 6), first_cycle=2, last_cycle=5)

    assert {v.cycle for v in visits} == {2}


def test_end_of_treatment_and_follow_up():
    eot = plan_end_of_treatment(IPD, off_treatment_date=date(2025, 6, 1))
    follow_up = plan_follow_up(IPD, off_treatment_date=date(2025, 6, 1), first=1, count=2)

    assert (eot.code, eot.window_start, eot.window_end) == (
        "EOT",
        date(2025, 6, 1),
        date(2025, 7, 1),
    )
    assert [(v.code, v.planned_date) for v in follow_up] == [
        ("FU1", date(2025, 8, 24)),
        ("FU2", date(2025, 11, 16)),
    ]


def test_follow_up_stops_at_the_horizon():
    design = IPD.with_changes({"visit_schedule": {"follow_up_months": 6}})

    visits = plan_follow_up(design, off_treatment_date=date(2025, 1, 31), first=1, count=10)

    assert [v.code for v in visits] == ["FU1", "FU2"]


@pytest.mark.parametrize(
    ("state", "today", "expected"),
    [
        ("planned", date(2025, 1, 10), VisitTiming.UPCOMING),
        ("planned", date(2025, 1, 11), VisitTiming.DUE),
        ("planned", date(2025, 1, 15), VisitTiming.DUE),
        ("planned", date(2025, 1, 16), VisitTiming.OVERDUE),
        ("done", date(2025, 1, 16), VisitTiming.DONE),
        ("missed", date(2025, 1, 16), VisitTiming.MISSED),
    ],
)
def test_visit_timing(state, today, expected):
    timing = visit_timing(
        state=state, window_start=date(2025, 1, 11), window_end=date(2025, 1, 15), today=today
    )

    assert timing == expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [(date(2025, 1, 6), 1), (date(2025, 1, 26), 21), (date(2025, 1, 5), -1)],
)
def test_study_day_has_no_day_zero(day, expected):
    assert study_day(date(2025, 1, 6), day) == expected
