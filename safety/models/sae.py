"""SAE reports (one per serious adverse event) with their clocks, and the reminders sent."""

from __future__ import annotations

import pghistory
from django.db import models
from django.db.models import Q

from safety.domain.sae_clock import SaeReportKind
from safety.domain.sae_workflow import SAE_STATUS_LABELS, SaeStatus
from safety.models.adverse_events import AdverseEvent
from safety.models.signatures import Signature
from trials.models import audited_events

SaeReportState = models.TextChoices(
    "SaeReportState", [(s.name, (s.value, SAE_STATUS_LABELS[s])) for s in SaeStatus]
)
SAE_KIND_CHOICES = [(SaeReportKind.INITIAL.value, "Initial"), (SaeReportKind.FULL.value, "Full")]


@pghistory.track(*audited_events(), model_name="SaeReportEvent")
class SaeReport(models.Model):
    """The reporting of one serious adverse event: the clock starts at ``awareness_at``.

    Due times are stored (computed by ``safety.domain.sae_clock`` with the trial's full-report
    deadline at the time) so that overdue reports can be found by a query; ``status`` changes
    only through ``safety.services.sae_report_transition``.
    """

    adverse_event = models.OneToOneField(
        AdverseEvent, on_delete=models.PROTECT, related_name="sae_report"
    )
    awareness_at = models.DateTimeField()
    full_report_days = models.PositiveSmallIntegerField()
    initial_due_at = models.DateTimeField()
    full_due_at = models.DateTimeField()
    initial_submitted_at = models.DateTimeField(null=True, blank=True)
    full_submitted_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=20, choices=SaeReportState.choices, default=SaeStatus.OPEN.value
    )
    status_reason = models.TextField(blank=True)
    narrative = models.TextField(blank=True)
    signature = models.OneToOneField(
        Signature, on_delete=models.PROTECT, null=True, blank=True, related_name="sae_report"
    )
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(initial_due_at__gt=models.F("awareness_at"))
                & Q(full_due_at__gte=models.F("initial_due_at")),
                name="sae_due_times_in_order",
            ),
            models.CheckConstraint(
                condition=Q(initial_submitted_at__isnull=True)
                | Q(initial_submitted_at__gte=models.F("awareness_at")),
                name="sae_initial_not_before_awareness",
            ),
            models.CheckConstraint(
                condition=Q(full_submitted_at__isnull=True)
                | Q(full_submitted_at__gte=models.F("awareness_at")),
                name="sae_full_not_before_awareness",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in SaeStatus]), name="sae_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status=SaeStatus.INITIAL_SUBMITTED.value)
                | Q(initial_submitted_at__isnull=False),
                name="sae_initial_status_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=[SaeStatus.FULL_SUBMITTED.value, SaeStatus.SIGNED.value])
                | Q(full_submitted_at__isnull=False),
                name="sae_full_status_has_time",
            ),
            models.CheckConstraint(
                condition=Q(status=SaeStatus.SIGNED.value, signature__isnull=False)
                | (~Q(status=SaeStatus.SIGNED.value) & Q(signature__isnull=True)),
                name="sae_signed_iff_signature",
            ),
        ]
        indexes = [models.Index(fields=["status", "full_due_at"])]
        ordering = ["awareness_at", "id"]

    def __str__(self) -> str:
        return f"SAE report {self.pk} ({self.status})"


@pghistory.track(*audited_events(), model_name="SaeReminderEvent")
class SaeReminder(models.Model):
    """One reminder sent: the unique constraint makes the hourly sweep idempotent."""

    sae_report = models.ForeignKey(SaeReport, on_delete=models.PROTECT, related_name="reminders")
    kind = models.CharField(max_length=10, choices=SAE_KIND_CHOICES)
    remind_at = models.DateTimeField(help_text="The scheduled time this reminder stands for.")
    due_at = models.DateTimeField()
    overdue = models.BooleanField(default=False)
    sent_at = models.DateTimeField()
    recipients = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["sae_report", "kind", "remind_at"], name="saereminder_sent_once"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=[k.value for k in SaeReportKind]), name="saereminder_kind"
            ),
        ]
        ordering = ["sae_report", "remind_at"]

    def __str__(self) -> str:
        return (
            f"{self.kind} reminder for SAE {self.sae_report_id} at {self.remind_at:%Y-%m-%d %H:%M}"
        )
