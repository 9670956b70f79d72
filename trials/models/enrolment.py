"""Screening, consent, status history and vital status of a patient."""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Q

from trials.models.core import Patient, PatientStatus, audited_events
from trials.models.protocol import EligibilityCriterion


@pghistory.track(*audited_events(), model_name="EligibilityAnswerEvent")
class EligibilityAnswer(models.Model):
    """The coordinator's answer to one criterion for one patient.

    For an inclusion criterion ``answer`` means "met"; for an exclusion criterion, "applies".
    """

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="eligibility_answers"
    )
    criterion = models.ForeignKey(
        EligibilityCriterion, on_delete=models.PROTECT, related_name="answers"
    )
    answer = models.BooleanField()
    note = models.CharField(max_length=300, blank=True)
    answered_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "criterion"], name="eligibilityanswer_unique"
            ),
        ]
        ordering = ["patient", "criterion"]

    def __str__(self) -> str:
        return f"{self.patient_id} {self.criterion_id}: {'yes' if self.answer else 'no'}"


@pghistory.track(*audited_events(), model_name="ConsentEvent")
class Consent(models.Model):
    """A signed informed consent: which version of the form, and when."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="consents")
    version = models.CharField(max_length=40, help_text="Consent form version, e.g. 2.1")
    consent_date = models.DateField()
    withdrawn_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "version"], name="consent_unique_version"),
        ]
        ordering = ["patient", "consent_date", "id"]

    def __str__(self) -> str:
        return f"consent v{self.version} on {self.consent_date:%Y-%m-%d}"


@pghistory.track(*audited_events(), model_name="PatientStatusChangeEvent")
class PatientStatusChange(models.Model):
    """One step of the patient status workflow, with its date and reason (insert-only)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="status_changes")
    from_status = models.CharField(max_length=20, choices=PatientStatus.choices)
    to_status = models.CharField(max_length=20, choices=PatientStatus.choices)
    effective_date = models.DateField()
    reason_code = models.CharField(max_length=30, blank=True)
    reason = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["patient", "created_at", "id"]
        indexes = [models.Index(fields=["patient", "to_status"])]

    def __str__(self) -> str:
        return f"{self.from_status} → {self.to_status} on {self.effective_date:%Y-%m-%d}"


class VitalStatus(models.TextChoices):
    ALIVE = "alive", "Alive"
    DEAD = "dead", "Dead"


@pghistory.track(*audited_events(), model_name="LastContactEvent")
class LastContact(models.Model):
    """The patient was known alive on ``contact_date``, or died on ``death_date``.

    Survival (OS, PFS censoring) is derived from the latest row.
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="contacts")
    contact_date = models.DateField()
    vital_status = models.CharField(max_length=5, choices=VitalStatus.choices)
    death_date = models.DateField(null=True, blank=True)
    cause_of_death = models.CharField(max_length=200, blank=True)
    source = models.CharField(
        max_length=100, blank=True, help_text="e.g. clinic visit, telephone, GP letter"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(vital_status="dead") & Q(death_date__isnull=False))
                | (Q(vital_status="alive") & Q(death_date__isnull=True)),
                name="lastcontact_death_date_iff_dead",
            ),
        ]
        ordering = ["patient", "contact_date", "id"]
        indexes = [models.Index(fields=["patient", "contact_date"])]

    def __str__(self) -> str:
        if self.vital_status == VitalStatus.DEAD:
            return f"died {self.death_date:%Y-%m-%d}"
        return f"alive {self.contact_date:%Y-%m-%d}"
