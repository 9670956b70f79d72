"""The trial's DLT definition (data, versioned with the protocol), each patient's DLT window,
potential DLTs flagged by the rules, and the investigator's signed adjudication."""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Q

from safety.domain.dlt_window import DltWindowStatus
from safety.models.adverse_events import AdverseEvent
from safety.models.signatures import Signature
from trials.models import Patient, ProtocolVersion, Trial, audited_events


@pghistory.track(*audited_events(), model_name="DltDefinitionVersionEvent")
class DltDefinitionVersion(models.Model):
    """A trial's DLT definition as of one protocol version (validated by
    ``safety.domain.dlt_rules.dlt_definition_from_data``). Without any row the product's
    default (trial A's) applies."""

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="dlt_definitions")
    protocol_version = models.ForeignKey(
        ProtocolVersion, on_delete=models.PROTECT, related_name="dlt_definitions"
    )
    definition = models.JSONField()
    reason = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["trial", "protocol_version"], name="dltdefinition_one_per_protocol"
            ),
        ]
        ordering = ["trial", "protocol_version__number"]

    def __str__(self) -> str:
        return f"{self.trial.code} DLT definition ({self.protocol_version})"


class DltWindowState(models.TextChoices):
    PENDING = DltWindowStatus.PENDING.value, "Pending (in the window)"
    DLT = DltWindowStatus.DLT.value, "DLT"
    COMPLETED_EVALUABLE = DltWindowStatus.COMPLETED_EVALUABLE.value, "Completed, evaluable"
    NOT_EVALUABLE = DltWindowStatus.NOT_EVALUABLE.value, "Not evaluable"


@pghistory.track(*audited_events(), model_name="DltWindowEvent")
class DltWindow(models.Model):
    """One patient's DLT window: opens at the first dose, lasts the trial's ``dlt_window_days``.

    ``status`` and ``reason`` are what ``safety.domain.dlt_window.dlt_window_status`` said at
    the last evaluation (``evaluated_on``); only ``safety.services`` writes them.
    """

    patient = models.OneToOneField(Patient, on_delete=models.PROTECT, related_name="dlt_window")
    dose_level = models.ForeignKey(
        "dosing.DoseLevel", on_delete=models.PROTECT, related_name="dlt_windows"
    )
    opens_on = models.DateField(help_text="Date of the first dose (study day 1).")
    length_days = models.PositiveSmallIntegerField()
    last_day = models.DateField(help_text="Last date inside the window.")
    status = models.CharField(
        max_length=20, choices=DltWindowState.choices, default=DltWindowState.PENDING
    )
    reason = models.TextField(blank=True)
    planned_doses = models.PositiveSmallIntegerField(default=1)
    doses_received = models.PositiveSmallIntegerField(default=0)
    doses_held = models.PositiveSmallIntegerField(default=0)
    definition_id = models.CharField(max_length=80, help_text="The DLT definition applied.")
    evaluated_on = models.DateField()
    closed_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(length_days__gte=1) & Q(length_days__lte=120),
                name="dltwindow_length_1_120",
            ),
            models.CheckConstraint(
                condition=Q(last_day__gte=models.F("opens_on")), name="dltwindow_last_after_open"
            ),
            models.CheckConstraint(
                condition=Q(status__in=DltWindowState.values), name="dltwindow_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status=DltWindowState.NOT_EVALUABLE) | ~Q(reason=""),
                name="dltwindow_not_evaluable_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(status=DltWindowState.PENDING, closed_at__isnull=True)
                | (~Q(status=DltWindowState.PENDING) & Q(closed_at__isnull=False)),
                name="dltwindow_closed_iff_decided",
            ),
            models.CheckConstraint(
                condition=Q(planned_doses__gte=1), name="dltwindow_planned_doses_positive"
            ),
        ]
        indexes = [models.Index(fields=["status", "last_day"])]
        ordering = ["opens_on", "id"]

    def __str__(self) -> str:
        return f"DLT window of {self.patient_id} from {self.opens_on:%Y-%m-%d}"


class PotentialDltStatus(models.TextChoices):
    PENDING = "pending", "To adjudicate"
    CONFIRMED = "confirmed", "Confirmed DLT"
    REJECTED = "rejected", "Not a DLT"
    WITHDRAWN = "withdrawn", "No longer matches the definition"


@pghistory.track(*audited_events(), model_name="PotentialDltEvent")
class PotentialDlt(models.Model):
    """An adverse event that the trial's DLT rules match inside the patient's window."""

    adverse_event = models.OneToOneField(
        AdverseEvent, on_delete=models.PROTECT, related_name="potential_dlt"
    )
    dlt_window = models.ForeignKey(
        DltWindow, on_delete=models.PROTECT, related_name="potential_dlts"
    )
    rule_ids = models.JSONField(default=list)
    reasons = models.JSONField(default=list)
    toxicity_onset = models.DateField(help_text="First date the matched rule's grade was met.")
    status = models.CharField(
        max_length=10, choices=PotentialDltStatus.choices, default=PotentialDltStatus.PENDING
    )
    flagged_at = models.DateTimeField()
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=PotentialDltStatus.values), name="potentialdlt_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["status"])]
        ordering = ["flagged_at", "id"]

    def __str__(self) -> str:
        return f"potential DLT {self.adverse_event_id} ({self.status})"


class AdjudicationDecision(models.TextChoices):
    CONFIRMED = "confirmed", "Confirm: this is a DLT"
    REJECTED = "rejected", "Reject: not a DLT"


@pghistory.track(*audited_events(), model_name="DltAdjudicationEvent")
class DltAdjudication(models.Model):
    """An investigator's decision on a potential DLT, with the reason and an e-signature.

    At most one valid (not voided) adjudication per potential DLT; a change to the event after
    signing voids it and the potential DLT goes back to the queue.
    """

    potential_dlt = models.ForeignKey(
        PotentialDlt, on_delete=models.PROTECT, related_name="adjudications"
    )
    decision = models.CharField(max_length=10, choices=AdjudicationDecision.choices)
    reason = models.TextField()
    adjudicated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    adjudicated_at = models.DateTimeField()
    signature = models.OneToOneField(
        Signature, on_delete=models.PROTECT, related_name="dlt_adjudication"
    )
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["potential_dlt"],
                condition=Q(voided_at__isnull=True),
                name="dltadjudication_one_valid_per_potential_dlt",
            ),
            models.CheckConstraint(
                condition=Q(decision__in=AdjudicationDecision.values),
                name="dltadjudication_decision_valid",
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="dltadjudication_has_reason"),
        ]
        ordering = ["adjudicated_at", "id"]

    def __str__(self) -> str:
        return f"{self.decision} by {self.adjudicated_by} at {self.adjudicated_at:%Y-%m-%d %H:%M}"
