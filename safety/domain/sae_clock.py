"""Serious adverse event (SAE) reporting clocks: deadlines, reminders and overdue flags.

ICH E6 (R2) 4.11.1 / ICH E2A: the investigator reports an SAE to the sponsor immediately,
in practice within 24 hours of becoming aware of it, followed by a detailed (full) report
within the period the protocol sets (TrialDesk default: 5 days; a trial setting).

Clocks start at ``awareness_at``, the moment site staff first knew of the event (not the
onset). Deadlines are elapsed time, computed in UTC and shown in the awareness time zone, so
a daylight-saving change never shortens or lengthens "24 hours". A report submitted at its
deadline exactly is on time. A full report also satisfies the initial report if it comes
first. Sponsor-to-regulator expedited timelines (SUSAR 7/15 days) are not computed here.
All datetimes must be timezone-aware; "now" is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum


class SaeReportKind(StrEnum):
    INITIAL = "initial"
    FULL = "full"


class SaeReportStatus(StrEnum):
    PENDING = "pending"
    OVERDUE = "overdue"
    SUBMITTED_ON_TIME = "submitted_on_time"
    SUBMITTED_LATE = "submitted_late"


@dataclass(frozen=True, slots=True)
class SaeReportingPolicy:
    """A trial's SAE reporting timelines and reminder schedule."""

    initial_report_hours: int = 24
    full_report_days: int = 5
    initial_reminders_before: tuple[timedelta, ...] = (
        timedelta(hours=12),
        timedelta(hours=4),
        timedelta(hours=1),
    )
    full_reminders_before: tuple[timedelta, ...] = (
        timedelta(days=2),
        timedelta(days=1),
        timedelta(hours=4),
    )
    overdue_reminder_every: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        if self.initial_report_hours < 1:
            raise ValueError("initial_report_hours must be at least 1")
        if self.full_report_days < 1:
            raise ValueError("full_report_days must be at least 1")
        if timedelta(days=self.full_report_days) < timedelta(hours=self.initial_report_hours):
            raise ValueError("the full report cannot be due before the initial report")
        if self.overdue_reminder_every <= timedelta(0):
            raise ValueError("overdue_reminder_every must be positive")
        offsets = self.initial_reminders_before + self.full_reminders_before
        if any(offset <= timedelta(0) for offset in offsets):
            raise ValueError("reminder offsets are durations before the deadline, > 0")

    def deadline_after(self, kind: SaeReportKind) -> timedelta:
        if kind is SaeReportKind.INITIAL:
            return timedelta(hours=self.initial_report_hours)
        return timedelta(days=self.full_report_days)

    def reminders_before(self, kind: SaeReportKind) -> tuple[timedelta, ...]:
        if kind is SaeReportKind.INITIAL:
            return self.initial_reminders_before
        return self.full_reminders_before


DEFAULT_SAE_POLICY = SaeReportingPolicy()


@dataclass(frozen=True, slots=True)
class SaeReminder:
    kind: SaeReportKind
    remind_at: datetime
    due_at: datetime
    overdue: bool  # an escalation sent at or after the deadline


@dataclass(frozen=True, slots=True)
class SaeDeadline:
    kind: SaeReportKind
    due_at: datetime
    submitted_at: datetime | None
    status: SaeReportStatus
    time_remaining: timedelta | None  # until due (negative once overdue); None if submitted

    @property
    def overdue(self) -> bool:
        return self.status is SaeReportStatus.OVERDUE


@dataclass(frozen=True, slots=True)
class SaeClock:
    awareness_at: datetime
    now: datetime
    initial: SaeDeadline
    full: SaeDeadline
    next_reminder: SaeReminder | None

    @property
    def overdue(self) -> bool:
        return self.initial.overdue or self.full.overdue

    @property
    def complete(self) -> bool:
        return self.initial.submitted_at is not None and self.full.submitted_at is not None


def _utc(value: datetime, name: str) -> datetime:
    """``value`` in UTC. Aware datetimes sharing a tzinfo compare and subtract as wall-clock
    times, so all arithmetic and comparison here happens in UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value!r}")
    return value.astimezone(UTC)


def _utc_or_none(value: datetime | None, name: str) -> datetime | None:
    return None if value is None else _utc(value, name)


def sae_due_at(
    awareness_at: datetime, kind: SaeReportKind, policy: SaeReportingPolicy = DEFAULT_SAE_POLICY
) -> datetime:
    """When the ``kind`` report is due (elapsed time), in the time zone of ``awareness_at``."""
    aware = _utc(awareness_at, "awareness_at")
    return (aware + policy.deadline_after(kind)).astimezone(awareness_at.tzinfo)


def _submitted(
    kind: SaeReportKind, initial_submitted_at: datetime | None, full_submitted_at: datetime | None
) -> datetime | None:
    if kind is SaeReportKind.FULL:
        return full_submitted_at
    submitted = [t for t in (initial_submitted_at, full_submitted_at) if t is not None]
    return min(submitted, default=None)


def _order(reminder: SaeReminder) -> tuple[datetime, bool]:
    return (reminder.remind_at.astimezone(UTC), reminder.kind is not SaeReportKind.INITIAL)


def sae_reminder_schedule(
    awareness_at: datetime,
    policy: SaeReportingPolicy = DEFAULT_SAE_POLICY,
    *,
    initial_submitted_at: datetime | None = None,
    full_submitted_at: datetime | None = None,
) -> tuple[SaeReminder, ...]:
    """Reminders before each deadline and the escalation at it, in time order.

    Reminders that would fall before awareness, or at/after the report's submission, are
    dropped. Repeated escalations after a missed deadline follow from
    ``policy.overdue_reminder_every`` and are given by ``sae_clock(...).next_reminder``.
    """
    aware = _utc(awareness_at, "awareness_at")
    initial_done = _utc_or_none(initial_submitted_at, "initial_submitted_at")
    full_done = _utc_or_none(full_submitted_at, "full_submitted_at")
    zone = awareness_at.tzinfo
    reminders: list[SaeReminder] = []
    for kind in SaeReportKind:
        due = aware + policy.deadline_after(kind)
        submitted = _submitted(kind, initial_done, full_done)
        times = [(due - offset, False) for offset in policy.reminders_before(kind)]
        times.append((due, True))
        for remind_at, escalation in times:
            if remind_at < aware or (submitted is not None and submitted <= remind_at):
                continue
            reminders.append(
                SaeReminder(kind, remind_at.astimezone(zone), due.astimezone(zone), escalation)
            )
    return tuple(sorted(reminders, key=_order))


def sae_clock(
    awareness_at: datetime,
    now: datetime,
    policy: SaeReportingPolicy = DEFAULT_SAE_POLICY,
    *,
    initial_submitted_at: datetime | None = None,
    full_submitted_at: datetime | None = None,
) -> SaeClock:
    """Both SAE report deadlines on ``now``: status, time remaining, next reminder."""
    aware = _utc(awareness_at, "awareness_at")
    now_utc = _utc(now, "now")
    initial_done = _utc_or_none(initial_submitted_at, "initial_submitted_at")
    full_done = _utc_or_none(full_submitted_at, "full_submitted_at")
    zone = awareness_at.tzinfo

    deadlines: dict[SaeReportKind, SaeDeadline] = {}
    candidates: list[SaeReminder] = []
    for kind in SaeReportKind:
        due = aware + policy.deadline_after(kind)
        submitted = _submitted(kind, initial_done, full_done)
        shown_submitted = (
            None
            if submitted is None
            else (initial_submitted_at if submitted == initial_done else full_submitted_at)
        )
        if submitted is not None:
            status = (
                SaeReportStatus.SUBMITTED_ON_TIME
                if submitted <= due
                else SaeReportStatus.SUBMITTED_LATE
            )
            remaining = None
        else:
            status = SaeReportStatus.OVERDUE if now_utc > due else SaeReportStatus.PENDING
            remaining = due - now_utc
        deadlines[kind] = SaeDeadline(
            kind, due.astimezone(zone), shown_submitted, status, remaining
        )
        if status is SaeReportStatus.OVERDUE:
            periods = (now_utc - due) // policy.overdue_reminder_every + 1
            at = due + policy.overdue_reminder_every * periods
            candidates.append(SaeReminder(kind, at.astimezone(zone), due.astimezone(zone), True))

    schedule = sae_reminder_schedule(
        awareness_at,
        policy,
        initial_submitted_at=initial_submitted_at,
        full_submitted_at=full_submitted_at,
    )
    candidates.extend(r for r in schedule if r.remind_at.astimezone(UTC) > now_utc)
    return SaeClock(
        awareness_at=awareness_at,
        now=now,
        initial=deadlines[SaeReportKind.INITIAL],
        full=deadlines[SaeReportKind.FULL],
        next_reminder=min(candidates, key=_order, default=None),
    )
