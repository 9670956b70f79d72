"""The live Simon (1989) two-stage monitor of a trial, and the notifications it sent."""

from __future__ import annotations

import pghistory
from django.db import models
from django.db.models import Q

from response.domain.simon import SimonRule
from trials.models import Trial, audited_events

SIMON_RULE_CHOICES = [
    (SimonRule.PENDING.value, "Stage 1 cannot be decided yet"),
    (SimonRule.STOP_FUTILITY.value, "Stop for futility"),
    (SimonRule.CONTINUE.value, "Continue to stage 2"),
    (SimonRule.PROMISING.value, "Promising"),
    (SimonRule.NOT_PROMISING.value, "Not promising"),
]


@pghistory.track(*audited_events(), model_name="SimonMonitorEvent")
class SimonMonitor(models.Model):
    """Where a trial stands against its Simon design, recomputed from the patients' responses
    (``response.services.simon_monitor_update``). ``state`` keeps the whole monitor output."""

    trial = models.OneToOneField(Trial, on_delete=models.PROTECT, related_name="simon_monitor")
    r1 = models.PositiveSmallIntegerField()
    n1 = models.PositiveSmallIntegerField()
    r = models.PositiveSmallIntegerField()
    n = models.PositiveSmallIntegerField()
    design_assumed = models.BooleanField(default=False)
    design_label = models.CharField(max_length=300, blank=True)
    stage = models.PositiveSmallIntegerField()
    rule = models.CharField(max_length=14, choices=SIMON_RULE_CHOICES)
    stage1_decidable = models.BooleanField(default=False)
    stage1_responders = models.PositiveSmallIntegerField(default=0)
    stage1_pending = models.PositiveSmallIntegerField(default=0)
    responders = models.PositiveSmallIntegerField(default=0)
    evaluable_with_outcome = models.PositiveSmallIntegerField(default=0)
    total_responders_in_design = models.PositiveSmallIntegerField(default=0)
    at_futility_boundary = models.BooleanField(default=False)
    final_verdict = models.CharField(
        max_length=14, choices=SIMON_RULE_CHOICES, null=True, blank=True
    )
    state = models.JSONField(default=dict)
    population_rule = models.TextField(blank=True)
    rule_version = models.CharField(max_length=40)
    input_hash = models.CharField(max_length=64)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(stage__in=[1, 2]), name="simonmonitor_stage_valid"),
            models.CheckConstraint(
                condition=Q(rule__in=[c for c, _ in SIMON_RULE_CHOICES]),
                name="simonmonitor_rule_valid",
            ),
            models.CheckConstraint(
                condition=Q(final_verdict__isnull=True)
                | Q(final_verdict__in=[SimonRule.PROMISING.value, SimonRule.NOT_PROMISING.value]),
                name="simonmonitor_verdict_valid",
            ),
            models.CheckConstraint(
                condition=Q(n1__lt=models.F("n")) & Q(r1__lt=models.F("n1")),
                name="simonmonitor_design_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Simon monitor {self.trial_id}: stage {self.stage}, {self.rule}"


class NotificationKind(models.TextChoices):
    FUTILITY_BOUNDARY = "futility_boundary", "Futility boundary reached"
    STAGE1_DECIDABLE = "stage1_decidable", "Stage 1 can be decided"
    FINAL_VERDICT = "final_verdict", "Final verdict"


@pghistory.track(
    pghistory.InsertEvent(), pghistory.UpdateEvent(), model_name="SimonNotificationEvent"
)
class SimonNotification(models.Model):
    """One notification to the trial's investigators. At most one per kind and design, so a
    repeated monitor run never sends it twice."""

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="simon_notifications")
    kind = models.CharField(max_length=20, choices=NotificationKind.choices)
    design_key = models.CharField(max_length=40, help_text="r1/n1, r/n of the design.")
    subject = models.CharField(max_length=200)
    body = models.TextField()
    recipients = models.JSONField(default=list)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["trial", "kind", "design_key"], name="simonnotification_once"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=[k.value for k in NotificationKind]),
                name="simonnotification_kind_valid",
            ),
        ]
        ordering = ["trial", "created_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.trial_id}"
