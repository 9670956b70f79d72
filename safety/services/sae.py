"""SAE reports: the clock from awareness (24-hour initial report, full report within the
trial's deadline), submissions, the investigator's signature, the transition service, and the
hourly reminders (each recorded once)."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from safety import selectors
from safety.domain.sae_clock import (
    SaeReportingPolicy,
    SaeReportKind,
    sae_due_at,
    sae_reminder_schedule,
)
from safety.domain.sae_workflow import SaeStatus, SaeTransitionError, check_sae_transition
from safety.models import (
    AdverseEvent,
    SaeReminder,
    SaeReport,
    Signature,
)
from safety.services._common import (
    _ae_snapshot,
    _check_version,
    _Errors,
    _now,
    _sign,
    _void_signature,
)
from trials import selectors as trial_selectors
from trials.audit import audited
from trials.models import (
    Membership,
    Role,
    User,
)

logger = logging.getLogger(__name__)


def _report_payload(report: SaeReport) -> dict[str, Any]:
    return {
        "kind": "sae_report",
        "sae_report": report.pk,
        "adverse_event": _ae_snapshot(report.adverse_event),
        "awareness_at": report.awareness_at.isoformat(),
        "initial_submitted_at": (
            report.initial_submitted_at.isoformat() if report.initial_submitted_at else None
        ),
        "full_submitted_at": (
            report.full_submitted_at.isoformat() if report.full_submitted_at else None
        ),
        "narrative": report.narrative,
    }


def _set_clock(report: SaeReport, awareness_at: datetime, full_report_days: int) -> None:
    policy = SaeReportingPolicy(full_report_days=full_report_days)
    report.awareness_at = awareness_at
    report.full_report_days = full_report_days
    report.initial_due_at = sae_due_at(awareness_at, SaeReportKind.INITIAL, policy)
    report.full_due_at = sae_due_at(awareness_at, SaeReportKind.FULL, policy)


def sae_report_transition(
    *,
    sae_report: SaeReport,
    to_status: str,
    acting_user: User | None,
    reason: str = "",
    submitted_at: datetime | None = None,
    signature: Signature | None = None,
    system: bool = False,
) -> SaeReport:
    """The one way an SAE report's status changes (see ``safety.domain.sae_workflow``).

    Callers hold the row lock and the transaction (``sae_report_submit``, ``sae_report_sign``
    and the event's own updates).
    """
    report = sae_report
    try:
        check_sae_transition(
            report.status,
            to_status,
            reason=reason,
            signed=signature is not None,
            system=system,
        )
    except SaeTransitionError as exc:
        raise ValidationError({"status": exc.message}) from None
    target = SaeStatus(to_status)
    if target is SaeStatus.INITIAL_SUBMITTED:
        report.initial_submitted_at = submitted_at
    elif target is SaeStatus.FULL_SUBMITTED and report.status != SaeStatus.SIGNED:
        report.full_submitted_at = submitted_at
    if target is SaeStatus.SIGNED:
        report.signature = signature
    elif report.status == SaeStatus.SIGNED:
        report.signature = None
    report.status = target.value
    report.status_reason = reason.strip()
    report.version += 1
    with audited(acting_user=acting_user, reason=reason.strip() or f"SAE report {target.value}"):
        report.save()
    return report


def _sync_sae_report(
    ae: AdverseEvent, *, acting_user: User | None, reason: str, now: datetime
) -> None:
    """A serious event has a report; the clock follows the awareness time until something is
    submitted; a report still open for an event no longer serious is withdrawn; a change to
    a signed report's event voids the signature."""
    report = SaeReport.objects.select_for_update().filter(adverse_event=ae).first()
    days = trial_selectors.trial_design(ae.patient.trial).sae_full_report_days
    if ae.is_serious and report is None:
        report = SaeReport(adverse_event=ae, status=SaeStatus.OPEN.value)
        _set_clock(report, ae.awareness_at or now, days)
        report.save()
        logger.info("SAE clock started", extra={"adverse_event": ae.pk, "sae_report": report.pk})
        return
    if report is None:
        return
    status = SaeStatus(report.status)
    if not ae.is_serious:
        if status in (SaeStatus.OPEN, SaeStatus.INITIAL_SUBMITTED):
            sae_report_transition(
                sae_report=report,
                to_status=SaeStatus.WITHDRAWN,
                acting_user=acting_user,
                reason=f"event no longer serious: {reason}",
            )
        return
    if status is SaeStatus.WITHDRAWN:
        _set_clock(report, ae.awareness_at or now, days)
        report.initial_submitted_at = None
        sae_report_transition(
            sae_report=report,
            to_status=SaeStatus.OPEN,
            acting_user=acting_user,
            reason=f"event serious again: {reason}",
            system=True,
        )
        return
    if status is SaeStatus.OPEN and ae.awareness_at and ae.awareness_at != report.awareness_at:
        _set_clock(report, ae.awareness_at, report.full_report_days)
        report.version += 1
        report.save()
    signature = report.signature if status is SaeStatus.SIGNED else None
    if signature is not None and signature.payload.get("adverse_event") != _ae_snapshot(ae):
        _void_signature(signature, reason=f"event changed: {reason}", now=now)
        sae_report_transition(
            sae_report=report,
            to_status=SaeStatus.FULL_SUBMITTED,
            acting_user=acting_user,
            reason=f"signature voided: the event changed ({reason})",
            system=True,
        )


@transaction.atomic
def sae_report_submit(
    *,
    sae_report: SaeReport,
    kind: str,
    acting_user: User,
    expected_version: int | None,
    submitted_at: datetime | None = None,
    narrative: str | None = None,
    now: datetime | None = None,
) -> SaeReport:
    """Record that the initial or the full report was sent to the sponsor (at ``submitted_at``,
    default now). A full report sent first also satisfies the initial report."""
    now = _now(now)
    locked = (
        SaeReport.objects.select_for_update(of=("self",))
        .select_related("adverse_event__patient__trial")
        .get(pk=sae_report.pk)
    )
    _check_version(locked, expected_version, "SAE report")
    at = submitted_at or now
    errors = _Errors()
    if kind not in (SaeReportKind.INITIAL, SaeReportKind.FULL):
        errors.add("kind", "Choose the initial or the full report.")
    if at > now + timedelta(minutes=5):
        errors.add("submitted_at", "The submission time is in the future.")
    if at < locked.awareness_at:
        errors.add("submitted_at", "A report cannot be sent before the site knew of the event.")
    errors.raise_if_any()
    if narrative is not None:
        locked.narrative = narrative.strip()
    target = (
        SaeStatus.INITIAL_SUBMITTED if kind == SaeReportKind.INITIAL else SaeStatus.FULL_SUBMITTED
    )
    return sae_report_transition(
        sae_report=locked,
        to_status=target,
        acting_user=acting_user,
        reason=f"{kind} SAE report submitted",
        submitted_at=at,
    )


@transaction.atomic
def sae_report_sign(
    *,
    sae_report: SaeReport,
    signer: User,
    meaning: str,
    acting_user: User,
    expected_version: int | None,
    signature_method: str = "password",
    now: datetime | None = None,
) -> SaeReport:
    """The investigator signs the full report (already verified: password, and OTP if set)."""
    now = _now(now)
    if signer.pk != acting_user.pk:
        raise PermissionDenied("Only the signer may record their own signature.")
    locked = (
        SaeReport.objects.select_for_update(of=("self",))
        .select_related("adverse_event__patient__trial", "adverse_event__patient__site")
        .get(pk=sae_report.pk)
    )
    if not selectors.can_sign(signer, locked.adverse_event.patient):
        raise PermissionDenied("Only an investigator of the patient's site signs SAE reports.")
    _check_version(locked, expected_version, "SAE report")
    if locked.status != SaeStatus.FULL_SUBMITTED:
        raise ValidationError(
            {"status": "Submit the full report first; the investigator signs the full report."}
        )
    with audited(acting_user=acting_user, reason="SAE report signed"):
        signature = _sign(
            signer=signer,
            meaning=meaning,
            method=signature_method,
            subject_kind="sae_report",
            subject_id=locked.pk,
            payload=_report_payload(locked),
            now=now,
        )
    return sae_report_transition(
        sae_report=locked,
        to_status=SaeStatus.SIGNED,
        acting_user=acting_user,
        reason="SAE report signed",
        signature=signature,
    )


def _reminder_recipients(report: SaeReport) -> list[str]:
    patient = report.adverse_event.patient
    memberships = Membership.objects.filter(
        trial_id=patient.trial_id,
        active=True,
        role__in=[Role.INVESTIGATOR, Role.COORDINATOR],
        user__is_active=True,
    ).filter(Q(all_sites=True) | Q(sites=patient.site_id))
    return sorted(set(memberships.values_list("user__email", flat=True)))


def _due_reminder(report: SaeReport, kind: SaeReportKind, now: datetime):
    """The latest reminder of ``kind`` due at ``now`` (scheduled, or the repeated escalation
    after a missed deadline), or None."""
    submitted = report.full_submitted_at
    if kind is SaeReportKind.INITIAL:
        submitted = report.initial_submitted_at or report.full_submitted_at
    if submitted is not None:
        return None  # a submitted report needs no reminder, even one missed before
    policy = selectors.sae_policy(report)
    schedule = sae_reminder_schedule(
        report.awareness_at,
        policy,
        initial_submitted_at=report.initial_submitted_at,
        full_submitted_at=report.full_submitted_at,
    )
    due = [r for r in schedule if r.kind is kind and r.remind_at <= now]
    if not due:
        return None
    latest = max(due, key=lambda r: r.remind_at)
    if latest.overdue:
        periods = (now - latest.due_at) // policy.overdue_reminder_every
        at = latest.due_at + policy.overdue_reminder_every * periods
        latest = replace(latest, remind_at=at)
    return latest


def sae_reminders_send(*, now: datetime | None = None) -> int:
    """Send each SAE reminder that is due and not yet sent (the hourly sweep). Each report is
    handled in its own transaction, its reminder row written before the mail goes out, so a
    reminder is never sent twice; a failed mail rolls back and is retried next hour."""
    now = _now(now)
    sent = 0
    open_ids = list(
        SaeReport.objects.filter(
            status__in=[SaeStatus.OPEN.value, SaeStatus.INITIAL_SUBMITTED.value]
        ).values_list("pk", flat=True)
    )
    for report_id in open_ids:
        try:
            sent += _send_due_reminders(report_id, now=now)
        except Exception as exc:  # noqa: BLE001 - one failing mail must not stop the sweep
            logger.warning(
                "SAE reminder not sent; retried next sweep",
                extra={"sae_report": report_id, "error": repr(exc)},
            )
    return sent


def _send_due_reminders(report_id: int, *, now: datetime) -> int:
    """One report, one transaction: its reminder rows are written before each mail goes out,
    and a failed mail rolls the rows back so the next sweep sends it."""
    sent = 0
    with transaction.atomic():
        report = (
            SaeReport.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("adverse_event__patient__trial", "adverse_event__patient__site")
            .filter(pk=report_id)
            .first()
        )
        if report is None:
            return 0
        for kind in SaeReportKind:
            reminder = _due_reminder(report, kind, now)
            if reminder is None:
                continue
            if SaeReminder.objects.filter(
                sae_report=report, kind=kind.value, remind_at=reminder.remind_at
            ).exists():
                continue
            recipients = _reminder_recipients(report)
            try:
                with transaction.atomic(), audited(acting_user=None, reason="SAE reminder"):
                    SaeReminder.objects.create(
                        sae_report=report,
                        kind=kind.value,
                        remind_at=reminder.remind_at,
                        due_at=reminder.due_at,
                        overdue=reminder.overdue,
                        sent_at=now,
                        recipients=recipients,
                    )
            except IntegrityError:
                continue  # another sweep recorded it first
            _send_reminder_mail(report, reminder, recipients)
            sent += 1
    return sent


def _send_reminder_mail(report: SaeReport, reminder: Any, recipients: list[str]) -> None:
    patient = report.adverse_event.patient
    ae = report.adverse_event
    state = "OVERDUE" if reminder.overdue else "due"
    subject = (
        f"[{patient.trial.code}] SAE {reminder.kind.value} report {state}: "
        f"{patient.label}, {ae.term} grade {ae.max_grade}"
    )
    body = (
        f"The {reminder.kind.value} report of the serious adverse event {ae.term} "
        f"(grade {ae.max_grade}) of {patient.label} is {state} "
        f"{reminder.due_at.astimezone(timezone.get_current_timezone()):%Y-%m-%d %H:%M %Z}.\n"
        f"The site became aware at {report.awareness_at:%Y-%m-%d %H:%M %Z}.\n"
        "Open TrialDesk's SAE list to submit or sign it."
    )
    if recipients:
        send_mail(subject, body, None, recipients, fail_silently=False)
    logger.info(
        "SAE reminder sent",
        extra={
            "sae_report": report.pk,
            "kind": reminder.kind.value,
            "overdue": reminder.overdue,
            "recipients": len(recipients),
        },
    )
