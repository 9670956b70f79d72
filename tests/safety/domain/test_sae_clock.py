"""SAE reporting clocks: 24-hour initial report, N-day full report, reminders, overdue flags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from safety.domain.sae_clock import (
    SaeReportingPolicy,
    SaeReportKind,
    SaeReportStatus,
    sae_clock,
    sae_due_at,
    sae_reminder_schedule,
)

AWARE = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)
INITIAL_DUE = datetime(2024, 5, 7, 10, 0, tzinfo=UTC)
FULL_DUE = datetime(2024, 5, 11, 10, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def test_default_deadlines_are_24_hours_and_5_days_after_awareness():
    assert sae_due_at(AWARE, SaeReportKind.INITIAL) == INITIAL_DUE
    assert sae_due_at(AWARE, SaeReportKind.FULL) == FULL_DUE


def test_full_report_period_is_a_trial_setting():
    policy = SaeReportingPolicy(full_report_days=7)

    assert sae_due_at(AWARE, SaeReportKind.FULL, policy) == datetime(2024, 5, 13, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (INITIAL_DUE - SECOND, SaeReportStatus.PENDING),
        (INITIAL_DUE, SaeReportStatus.PENDING),
        (INITIAL_DUE + SECOND, SaeReportStatus.OVERDUE),
    ],
)
def test_initial_report_overdue_after_24_hours(now, expected):
    clock = sae_clock(AWARE, now)

    assert clock.initial.status is expected
    assert clock.initial.overdue is (expected is SaeReportStatus.OVERDUE)
    assert clock.initial.time_remaining == INITIAL_DUE - now
    assert clock.full.status is SaeReportStatus.PENDING


@pytest.mark.parametrize(
    ("now", "overdue"),
    [(FULL_DUE, False), (FULL_DUE + SECOND, True)],
)
def test_full_report_overdue_after_5_days(now, overdue):
    clock = sae_clock(AWARE, now, initial_submitted_at=AWARE + timedelta(hours=3))

    assert clock.full.overdue is overdue
    assert clock.overdue is overdue
    assert clock.initial.status is SaeReportStatus.SUBMITTED_ON_TIME


@pytest.mark.parametrize(
    ("submitted", "expected"),
    [
        (INITIAL_DUE, SaeReportStatus.SUBMITTED_ON_TIME),
        (INITIAL_DUE + SECOND, SaeReportStatus.SUBMITTED_LATE),
    ],
)
def test_submission_at_the_deadline_is_on_time(submitted, expected):
    clock = sae_clock(AWARE, FULL_DUE, initial_submitted_at=submitted, full_submitted_at=submitted)

    assert clock.initial.status is expected
    assert clock.initial.time_remaining is None
    assert clock.full.status is SaeReportStatus.SUBMITTED_ON_TIME
    assert clock.complete is True
    assert clock.overdue is False


def test_a_full_report_sent_first_also_counts_as_the_initial_report():
    sent = AWARE + timedelta(hours=20)

    clock = sae_clock(AWARE, AWARE + timedelta(days=2), full_submitted_at=sent)

    assert clock.initial.status is SaeReportStatus.SUBMITTED_ON_TIME
    assert clock.initial.submitted_at == sent


def test_deadlines_are_elapsed_hours_across_a_daylight_saving_change():
    paris = ZoneInfo("Europe/Paris")
    aware = datetime(2024, 3, 30, 12, 0, tzinfo=paris)  # CET; clocks go forward on 31 March

    due = sae_due_at(aware, SaeReportKind.INITIAL)

    assert due == datetime(2024, 3, 31, 13, 0, tzinfo=paris)  # 24 h elapsed, 25 h on the wall
    assert due.astimezone(UTC) - aware.astimezone(UTC) == timedelta(hours=24)
    assert due.tzinfo is paris


def test_overdue_is_decided_in_utc_across_a_daylight_saving_change():
    paris = ZoneInfo("Europe/Paris")
    aware = datetime(2024, 3, 30, 12, 0, tzinfo=paris)

    on_time = sae_clock(aware, datetime(2024, 3, 31, 12, 30, tzinfo=paris))
    late = sae_clock(aware, datetime(2024, 3, 31, 13, 1, tzinfo=paris))

    assert on_time.initial.status is SaeReportStatus.PENDING
    assert on_time.initial.time_remaining == timedelta(minutes=30)
    assert late.initial.status is SaeReportStatus.OVERDUE


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"awareness_at": datetime(2024, 5, 6, 10, 0), "now": AWARE}, "awareness_at"),  # noqa: DTZ001
        ({"awareness_at": AWARE, "now": datetime(2024, 5, 6, 11, 0)}, "now"),  # noqa: DTZ001
    ],
)
def test_naive_datetimes_are_refused(kwargs, name):
    with pytest.raises(ValueError, match=f"{name} must be a timezone-aware datetime"):
        sae_clock(**kwargs)


def test_default_reminder_schedule():
    schedule = sae_reminder_schedule(AWARE)

    assert [(r.kind, r.remind_at, r.overdue) for r in schedule] == [
        (SaeReportKind.INITIAL, INITIAL_DUE - timedelta(hours=12), False),
        (SaeReportKind.INITIAL, INITIAL_DUE - timedelta(hours=4), False),
        (SaeReportKind.INITIAL, INITIAL_DUE - timedelta(hours=1), False),
        (SaeReportKind.INITIAL, INITIAL_DUE, True),
        (SaeReportKind.FULL, FULL_DUE - timedelta(days=2), False),
        (SaeReportKind.FULL, FULL_DUE - timedelta(days=1), False),
        (SaeReportKind.FULL, FULL_DUE - timedelta(hours=4), False),
        (SaeReportKind.FULL, FULL_DUE, True),
    ]


def test_reminders_stop_once_the_report_is_submitted():
    schedule = sae_reminder_schedule(AWARE, initial_submitted_at=INITIAL_DUE - timedelta(hours=4))

    initial = [r.remind_at for r in schedule if r.kind is SaeReportKind.INITIAL]
    assert initial == [INITIAL_DUE - timedelta(hours=12)]
    assert len([r for r in schedule if r.kind is SaeReportKind.FULL]) == 4


def test_reminders_before_awareness_are_dropped():
    policy = SaeReportingPolicy(initial_reminders_before=(timedelta(hours=30), timedelta(hours=2)))

    schedule = sae_reminder_schedule(AWARE, policy)

    assert [r.remind_at for r in schedule if r.kind is SaeReportKind.INITIAL] == [
        INITIAL_DUE - timedelta(hours=2),
        INITIAL_DUE,
    ]


@pytest.mark.parametrize(
    ("now", "kind", "remind_at", "overdue"),
    [
        (AWARE, SaeReportKind.INITIAL, INITIAL_DUE - timedelta(hours=12), False),
        (INITIAL_DUE - timedelta(hours=1), SaeReportKind.INITIAL, INITIAL_DUE, True),
        # the initial report is overdue: escalate again every 24 h after the deadline
        (
            INITIAL_DUE + timedelta(hours=1),
            SaeReportKind.INITIAL,
            INITIAL_DUE + timedelta(hours=24),
            True,
        ),
        (
            INITIAL_DUE + timedelta(hours=24),
            SaeReportKind.INITIAL,
            INITIAL_DUE + timedelta(hours=48),
            True,
        ),
    ],
)
def test_next_reminder(now, kind, remind_at, overdue):
    reminder = sae_clock(AWARE, now).next_reminder

    assert reminder is not None
    assert (reminder.kind, reminder.remind_at, reminder.overdue) == (kind, remind_at, overdue)


def test_next_reminder_moves_to_the_full_report_once_the_initial_is_in():
    clock = sae_clock(
        AWARE, AWARE + timedelta(hours=5), initial_submitted_at=AWARE + timedelta(hours=2)
    )

    assert clock.next_reminder is not None
    assert (clock.next_reminder.kind, clock.next_reminder.remind_at) == (
        SaeReportKind.FULL,
        FULL_DUE - timedelta(days=2),
    )


def test_no_reminder_once_both_reports_are_in():
    clock = sae_clock(
        AWARE,
        AWARE + timedelta(days=10),
        initial_submitted_at=AWARE + timedelta(hours=2),
        full_submitted_at=AWARE + timedelta(days=6),
    )

    assert clock.next_reminder is None
    assert clock.full.status is SaeReportStatus.SUBMITTED_LATE


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial_report_hours": 0}, "initial_report_hours"),
        ({"full_report_days": 0}, "full_report_days"),
        ({"initial_report_hours": 48, "full_report_days": 1}, "before the initial report"),
        ({"full_reminders_before": (timedelta(0),)}, "reminder offsets"),
        ({"overdue_reminder_every": timedelta(0)}, "overdue_reminder_every"),
    ],
)
def test_policy_is_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SaeReportingPolicy(**kwargs)
