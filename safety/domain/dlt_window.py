"""The dose-limiting-toxicity (DLT) observation window of one patient.

A phase I DLT window opens on the date of the first dose (study day 1) and lasts
``length_days`` calendar days: with a 21-day window (trial A, per its registration) day 1 is
the first-dose date and day 21 its last day. The window is the half-open date interval
``[first_dose_date, first_dose_date + length_days)``: the first-dose date is inside, the
date ``first_dose_date + length_days`` (study day 22) is the first day after it.

``dlt_window_status`` says where a patient stands, for 3+3 bookkeeping: still being observed
(PENDING), a confirmed DLT in the window (DLT), observed through the window with enough
exposure (COMPLETED_EVALUABLE), or not evaluable (to be replaced) with the reason. The
minimum-exposure rule is trial data (``MinimumExposureRule``). "Today" is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from fractions import Fraction


@dataclass(frozen=True, slots=True)
class DltWindow:
    first_dose_date: date
    length_days: int

    def __post_init__(self) -> None:
        if self.length_days < 1:
            raise ValueError(f"DLT window length must be at least 1 day, got {self.length_days}")

    @property
    def last_day(self) -> date:
        """The last date inside the window (study day ``length_days``)."""
        return self.first_dose_date + timedelta(days=self.length_days - 1)

    @property
    def closes_on(self) -> date:
        """The first date after the window (exclusive end)."""
        return self.first_dose_date + timedelta(days=self.length_days)

    def contains(self, day: date) -> bool:
        return self.first_dose_date <= day < self.closes_on

    def study_day(self, day: date) -> int:
        """Study day of ``day``: the first-dose date is day 1 (the day before is day -1)."""
        offset = (day - self.first_dose_date).days
        return offset + 1 if offset >= 0 else offset


class DltWindowStatus(StrEnum):
    PENDING = "pending"
    DLT = "dlt"
    COMPLETED_EVALUABLE = "completed_evaluable"
    NOT_EVALUABLE = "not_evaluable"


class OffTreatmentReason(StrEnum):
    TOXICITY = "toxicity"
    PROGRESSION = "progression"
    WITHDRAWAL = "withdrawal"  # consent withdrawn, lost to follow-up, investigator decision
    DEATH = "death"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class MinimumExposureRule:
    """What a patient without a DLT must have received to count as DLT-evaluable.

    ``min_fraction_of_planned_doses``: share of the planned cycle-1 doses (within the window)
    that must have been received, e.g. 3/4. ``doses_held_for_toxicity_count``: doses held
    because of toxicity count as received. ``off_treatment_for_toxicity_is_evaluable``: a
    patient taken off treatment for toxicity inside the window is evaluable whatever the
    exposure (the toxicity itself is then reviewed as a potential DLT).
    """

    min_fraction_of_planned_doses: Fraction = Fraction(3, 4)
    doses_held_for_toxicity_count: bool = False
    off_treatment_for_toxicity_is_evaluable: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.min_fraction_of_planned_doses <= 1:
            raise ValueError("min_fraction_of_planned_doses must be between 0 and 1")

    def describe(self) -> str:
        percent = float(self.min_fraction_of_planned_doses * 100)
        return f"at least {percent:g}% of planned cycle-1 doses"


# Trial A's default: an assumption of the product, since neither the registration nor the
# paper states the rule; edit per protocol.
TRIAL_A_MINIMUM_EXPOSURE = MinimumExposureRule(
    min_fraction_of_planned_doses=Fraction(3, 4),
    doses_held_for_toxicity_count=False,
    off_treatment_for_toxicity_is_evaluable=True,
)


@dataclass(frozen=True, slots=True)
class DltCourse:
    """The facts about one patient's cycle 1 that decide DLT evaluability."""

    first_dose_date: date | None
    planned_doses: int
    doses_received: int
    doses_held_for_toxicity: int = 0
    confirmed_dlt_dates: tuple[date, ...] = ()
    off_treatment_date: date | None = None
    off_treatment_reason: OffTreatmentReason | None = None

    def __post_init__(self) -> None:
        if self.planned_doses < 1:
            raise ValueError("planned_doses must be at least 1")
        if self.doses_received < 0 or self.doses_held_for_toxicity < 0:
            raise ValueError("dose counts cannot be negative")
        if (self.off_treatment_date is None) != (self.off_treatment_reason is None):
            raise ValueError("off_treatment_date and off_treatment_reason go together")


@dataclass(frozen=True, slots=True)
class DltWindowResult:
    status: DltWindowStatus
    reason: str
    opens_on: date | None
    last_day: date | None
    study_day: int | None  # today's study day (None before the first dose)
    days_elapsed: int  # whole window days already passed, 0..length
    days_remaining: int  # length - days_elapsed
    length_days: int

    @property
    def progress(self) -> float:
        """Share of the window that has passed, 0.0..1.0."""
        return self.days_elapsed / self.length_days


def dlt_window_status(
    course: DltCourse,
    *,
    length_days: int,
    rule: MinimumExposureRule,
    today: date,
) -> DltWindowResult:
    """Where a patient stands in the DLT window on ``today``.

    Precedence: a confirmed DLT inside the window decides (DLT), even before the window
    closes. Otherwise going off treatment inside the window decides: for toxicity, evaluable
    if the rule says so; for any other reason not evaluable (the window was not observed).
    Otherwise the window is PENDING until its last day has passed, and then evaluable only
    if the minimum exposure was received.
    """
    if course.first_dose_date is None:
        return DltWindowResult(
            status=DltWindowStatus.PENDING,
            reason="no dose given yet; the DLT window opens on the first dose",
            opens_on=None,
            last_day=None,
            study_day=None,
            days_elapsed=0,
            days_remaining=length_days,
            length_days=length_days,
        )
    window = DltWindow(course.first_dose_date, length_days)
    elapsed = min(max((today - window.first_dose_date).days, 0), length_days)

    def result(status: DltWindowStatus, reason: str) -> DltWindowResult:
        return DltWindowResult(
            status=status,
            reason=reason,
            opens_on=window.first_dose_date,
            last_day=window.last_day,
            study_day=window.study_day(today),
            days_elapsed=elapsed,
            days_remaining=length_days - elapsed,
            length_days=length_days,
        )

    dlt_days = sorted(d for d in course.confirmed_dlt_dates if window.contains(d))
    if dlt_days:
        return result(
            DltWindowStatus.DLT,
            f"confirmed DLT on study day {window.study_day(dlt_days[0])}",
        )

    off = course.off_treatment_date
    if off is not None and off < window.closes_on and off <= today:
        day = window.study_day(off)
        for_toxicity = course.off_treatment_reason is OffTreatmentReason.TOXICITY
        if for_toxicity and rule.off_treatment_for_toxicity_is_evaluable:
            return result(
                DltWindowStatus.COMPLETED_EVALUABLE,
                f"off treatment for toxicity on study day {day}, inside the window; "
                "evaluable by the trial's rule (review the toxicity as a potential DLT)",
            )
        return result(
            DltWindowStatus.NOT_EVALUABLE,
            f"off treatment ({course.off_treatment_reason}) on study day {day}, before the "
            f"{length_days}-day DLT window was completed without a DLT; replace the patient",
        )

    if today <= window.last_day:
        return result(
            DltWindowStatus.PENDING,
            f"in the DLT window: study day {window.study_day(today)} of {length_days}, "
            f"{length_days - elapsed} day(s) remaining (last day {window.last_day.isoformat()})",
        )

    counted = course.doses_received
    if rule.doses_held_for_toxicity_count:
        counted += course.doses_held_for_toxicity
    received = Fraction(counted, course.planned_doses)
    exposure = f"{counted} of {course.planned_doses} planned doses"
    if received >= rule.min_fraction_of_planned_doses:
        return result(
            DltWindowStatus.COMPLETED_EVALUABLE,
            f"completed the {length_days}-day DLT window without a DLT; received {exposure} "
            f"({rule.describe()} required)",
        )
    return result(
        DltWindowStatus.NOT_EVALUABLE,
        f"completed the window without a DLT but received only {exposure}; "
        f"{rule.describe()} required; replace the patient",
    )
