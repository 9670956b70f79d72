"""The visit schedule generated from a trial's design, and how a visit stands today.

Cycles are anchored on their own day 1: cycle 1 day 1 (C1D1) is the first dose; when a later
cycle's day 1 is recorded (perhaps delayed), the rest of that cycle and the following cycles
are planned from the recorded date. "Today" is always passed in: never read from the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from trials.domain.design import TrialDesign


class VisitKind(StrEnum):
    SCREENING = "screening"
    TREATMENT = "treatment"
    END_OF_TREATMENT = "end_of_treatment"
    FOLLOW_UP = "follow_up"
    UNSCHEDULED = "unscheduled"


class VisitState(StrEnum):
    """What is stored: a planned visit is either still planned, done, or recorded as missed."""

    PLANNED = "planned"
    DONE = "done"
    MISSED = "missed"


class VisitTiming(StrEnum):
    """What the coordinator sees, computed from the state, the window and today."""

    UPCOMING = "upcoming"
    DUE = "due"
    OVERDUE = "overdue"
    DONE = "done"
    MISSED = "missed"


@dataclass(frozen=True)
class PlannedVisit:
    code: str
    kind: VisitKind
    cycle: int | None
    day: int | None
    planned_date: date
    window_start: date
    window_end: date
    response_assessment: bool = False

    @property
    def label(self) -> str:
        return visit_label(self.kind, self.cycle, self.day, self.code)


def visit_code(cycle: int, day: int) -> str:
    return f"C{cycle}D{day}"


def visit_label(kind: str, cycle: int | None, day: int | None, code: str) -> str:
    if kind == VisitKind.TREATMENT and cycle is not None and day is not None:
        return f"Cycle {cycle} day {day}"
    if kind == VisitKind.END_OF_TREATMENT:
        return "End of treatment"
    if kind == VisitKind.FOLLOW_UP:
        return f"Follow-up {code.removeprefix('FU')}"
    if kind == VisitKind.SCREENING:
        return "Screening"
    return f"Unscheduled ({code})"


def plan_cycles(
    design: TrialDesign, *, anchor: date, first_cycle: int, last_cycle: int, from_day: int = 1
) -> list[PlannedVisit]:
    """Visits of cycles ``first_cycle``..``last_cycle``, day 1 of ``first_cycle`` = ``anchor``.

    ``from_day`` skips the days of the first cycle before it (they are already recorded).
    Cycles past the design's ``max_cycles`` are not planned.
    """
    if first_cycle < 1 or last_cycle < first_cycle:
        return []
    schedule = design.visit_schedule
    if schedule.max_cycles is not None:
        last_cycle = min(last_cycle, schedule.max_cycles)
    visits: list[PlannedVisit] = []
    for cycle in range(first_cycle, last_cycle + 1):
        cycle_start = anchor + timedelta(days=(cycle - first_cycle) * design.cycle_length_days)
        for day in schedule.days_of_cycle(cycle):
            if cycle == first_cycle and day < from_day:
                continue
            planned = cycle_start + timedelta(days=day - 1)
            if cycle == 1 and day == 1:
                window = 0  # C1D1 is the anchor: the day it happens is the day
            elif day == 1:
                window = schedule.day_1_window_days
            else:
                window = schedule.window_days
            visits.append(
                PlannedVisit(
                    code=visit_code(cycle, day),
                    kind=VisitKind.TREATMENT,
                    cycle=cycle,
                    day=day,
                    planned_date=planned,
                    window_start=planned - timedelta(days=window),
                    window_end=planned + timedelta(days=window),
                    response_assessment=(
                        schedule.is_response_cycle(cycle)
                        and day == schedule.response_assessment_day
                    ),
                )
            )
    return visits


def plan_end_of_treatment(design: TrialDesign, *, off_treatment_date: date) -> PlannedVisit:
    within = design.visit_schedule.end_of_treatment_within_days
    return PlannedVisit(
        code="EOT",
        kind=VisitKind.END_OF_TREATMENT,
        cycle=None,
        day=None,
        planned_date=off_treatment_date + timedelta(days=within),
        window_start=off_treatment_date,
        window_end=off_treatment_date + timedelta(days=within),
        response_assessment=True,
    )


def plan_follow_up(
    design: TrialDesign, *, off_treatment_date: date, first: int, count: int
) -> list[PlannedVisit]:
    """Follow-up visits ``first``..``first+count-1``, every N weeks after going off treatment,
    up to the design's follow-up horizon."""
    schedule = design.visit_schedule
    horizon = _add_months(off_treatment_date, schedule.follow_up_months)
    visits = []
    for number in range(first, first + count):
        planned = off_treatment_date + timedelta(weeks=schedule.follow_up_every_weeks * number)
        if planned > horizon:
            break
        window = timedelta(days=schedule.follow_up_window_days)
        visits.append(
            PlannedVisit(
                code=f"FU{number}",
                kind=VisitKind.FOLLOW_UP,
                cycle=None,
                day=None,
                planned_date=planned,
                window_start=planned - window,
                window_end=planned + window,
            )
        )
    return visits


def visit_timing(
    *, state: str, window_start: date | None, window_end: date | None, today: date
) -> VisitTiming:
    """due / overdue / done / missed (or upcoming, before its window opens)."""
    if state == VisitState.DONE:
        return VisitTiming.DONE
    if state == VisitState.MISSED:
        return VisitTiming.MISSED
    if window_start is None or window_end is None:
        return VisitTiming.DUE
    if today > window_end:
        return VisitTiming.OVERDUE
    if today >= window_start:
        return VisitTiming.DUE
    return VisitTiming.UPCOMING


def study_day(first_dose: date, day: date) -> int:
    """Day 1 is the first dose; the day before is day −1 (CDISC: there is no day 0)."""
    delta = (day - first_dose).days
    return delta + 1 if delta >= 0 else delta


def _add_months(start: date, months: int) -> date:
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    for day in (start.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover
