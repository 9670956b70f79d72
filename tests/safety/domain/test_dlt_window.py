"""DLT window status at its edges (21-day window of trial A, trials.md)."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

import pytest

from safety.domain.dlt_window import (
    TRIAL_A_MINIMUM_EXPOSURE,
    DltCourse,
    DltWindow,
    DltWindowStatus,
    MinimumExposureRule,
    OffTreatmentReason,
    dlt_window_status,
)

FIRST_DOSE = date(2024, 3, 4)
LENGTH = 21
PLANNED = 8


def day(n: int) -> date:
    """Study day n (day 1 = first dose)."""
    return FIRST_DOSE + timedelta(days=n - 1)


def course(**changes) -> DltCourse:
    facts = {"first_dose_date": FIRST_DOSE, "planned_doses": PLANNED, "doses_received": PLANNED}
    facts.update(changes)
    return DltCourse(**facts)


def status(facts: DltCourse, today: date, rule: MinimumExposureRule = TRIAL_A_MINIMUM_EXPOSURE):
    return dlt_window_status(facts, length_days=LENGTH, rule=rule, today=today)


def test_window_bounds():
    window = DltWindow(FIRST_DOSE, LENGTH)

    assert window.last_day == date(2024, 3, 24)
    assert window.closes_on == date(2024, 3, 25)
    assert window.contains(day(1)) and window.contains(day(21))
    assert not window.contains(day(22)) and not window.contains(day(0))
    assert (window.study_day(day(1)), window.study_day(day(21)), window.study_day(day(0))) == (
        1,
        21,
        -1,
    )


def test_window_needs_a_positive_length():
    with pytest.raises(ValueError, match="at least 1 day"):
        DltWindow(FIRST_DOSE, 0)


@pytest.mark.parametrize(
    ("today_day", "expected_status", "elapsed", "remaining", "study_day"),
    [
        (0, DltWindowStatus.PENDING, 0, 21, -1),
        (1, DltWindowStatus.PENDING, 0, 21, 1),
        (2, DltWindowStatus.PENDING, 1, 20, 2),
        (21, DltWindowStatus.PENDING, 20, 1, 21),
        (22, DltWindowStatus.COMPLETED_EVALUABLE, 21, 0, 22),
        (60, DltWindowStatus.COMPLETED_EVALUABLE, 21, 0, 60),
    ],
)
def test_progress_through_the_window(today_day, expected_status, elapsed, remaining, study_day):
    result = status(course(), day(today_day))

    assert result.status is expected_status
    assert (result.days_elapsed, result.days_remaining, result.study_day) == (
        elapsed,
        remaining,
        study_day,
    )
    assert result.progress == pytest.approx(elapsed / 21)


def test_pending_reason_names_the_day_and_last_day():
    result = status(course(), day(21))

    assert result.reason == (
        "in the DLT window: study day 21 of 21, 1 day(s) remaining (last day 2024-03-24)"
    )


def test_no_first_dose_yet_is_pending():
    result = status(course(first_dose_date=None, doses_received=0), date(2024, 3, 1))

    assert result.status is DltWindowStatus.PENDING
    assert (result.opens_on, result.days_elapsed, result.days_remaining) == (None, 0, 21)


@pytest.mark.parametrize(
    ("dlt_day", "expected"),
    [
        (1, DltWindowStatus.DLT),
        (21, DltWindowStatus.DLT),
        (22, DltWindowStatus.COMPLETED_EVALUABLE),  # outside the window: not a DLT
    ],
)
def test_confirmed_dlt_inside_the_window(dlt_day, expected):
    result = status(course(confirmed_dlt_dates=(day(dlt_day),)), day(30))

    assert result.status is expected


def test_dlt_decides_before_the_window_closes():
    result = status(course(doses_received=2, confirmed_dlt_dates=(day(9),)), day(10))

    assert result.status is DltWindowStatus.DLT
    assert result.reason == "confirmed DLT on study day 9"
    assert result.days_remaining == 12


def test_dlt_wins_over_going_off_treatment():
    facts = course(
        confirmed_dlt_dates=(day(12),),
        off_treatment_date=day(14),
        off_treatment_reason=OffTreatmentReason.PROGRESSION,
    )

    assert status(facts, day(15)).status is DltWindowStatus.DLT


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        (5, DltWindowStatus.NOT_EVALUABLE),
        (6, DltWindowStatus.COMPLETED_EVALUABLE),
        (8, DltWindowStatus.COMPLETED_EVALUABLE),
    ],
)
def test_minimum_exposure_of_75_percent(received, expected):
    # 6 of 8 is exactly 75 %
    result = status(course(doses_received=received), day(22))

    assert result.status is expected


def test_not_evaluable_reason_gives_the_exposure():
    result = status(course(doses_received=5), day(22))

    assert result.reason == (
        "completed the window without a DLT but received only 5 of 8 planned doses; "
        "at least 75% of planned cycle-1 doses required; replace the patient"
    )


@pytest.mark.parametrize(
    ("counted", "expected"),
    [(False, DltWindowStatus.NOT_EVALUABLE), (True, DltWindowStatus.COMPLETED_EVALUABLE)],
)
def test_doses_held_for_toxicity_can_count(counted, expected):
    rule = MinimumExposureRule(Fraction(3, 4), doses_held_for_toxicity_count=counted)

    result = status(course(doses_received=5, doses_held_for_toxicity=2), day(22), rule)

    assert result.status is expected


@pytest.mark.parametrize(
    ("reason", "off_day", "expected"),
    [
        (OffTreatmentReason.PROGRESSION, 10, DltWindowStatus.NOT_EVALUABLE),
        (OffTreatmentReason.WITHDRAWAL, 21, DltWindowStatus.NOT_EVALUABLE),
        (OffTreatmentReason.DEATH, 5, DltWindowStatus.NOT_EVALUABLE),
        (
            OffTreatmentReason.WITHDRAWAL,
            22,
            DltWindowStatus.COMPLETED_EVALUABLE,
        ),  # after the window
        (OffTreatmentReason.TOXICITY, 10, DltWindowStatus.COMPLETED_EVALUABLE),
    ],
)
def test_going_off_treatment_in_the_window(reason, off_day, expected):
    facts = course(
        doses_received=3 if off_day < 22 else 8,
        off_treatment_date=day(off_day),
        off_treatment_reason=reason,
    )

    result = status(facts, day(30))

    assert result.status is expected


def test_withdrawal_is_not_evaluable_at_once_with_a_reason():
    facts = course(
        doses_received=3,
        off_treatment_date=day(10),
        off_treatment_reason=OffTreatmentReason.WITHDRAWAL,
    )

    result = status(facts, day(11))

    assert result.status is DltWindowStatus.NOT_EVALUABLE
    assert result.reason.startswith("off treatment (withdrawal) on study day 10")


def test_off_treatment_in_the_future_does_not_count_yet():
    facts = course(off_treatment_date=day(15), off_treatment_reason=OffTreatmentReason.WITHDRAWAL)

    assert status(facts, day(12)).status is DltWindowStatus.PENDING


def test_off_treatment_for_toxicity_not_evaluable_when_the_rule_says_so():
    rule = MinimumExposureRule(Fraction(3, 4), off_treatment_for_toxicity_is_evaluable=False)
    facts = course(
        doses_received=3,
        off_treatment_date=day(10),
        off_treatment_reason=OffTreatmentReason.TOXICITY,
    )

    assert status(facts, day(30), rule).status is DltWindowStatus.NOT_EVALUABLE


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"planned_doses": 0}, "planned_doses"),
        ({"doses_received": -1}, "negative"),
        ({"off_treatment_date": date(2024, 3, 10)}, "go together"),
    ],
)
def test_course_validates_itself(changes, message):
    with pytest.raises(ValueError, match=message):
        course(**changes)


def test_exposure_rule_fraction_is_validated():
    with pytest.raises(ValueError, match="between 0 and 1"):
        MinimumExposureRule(Fraction(5, 4))
