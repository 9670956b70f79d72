"""Visits (planned from the schedule, or unscheduled), doses given, and lab results."""

from __future__ import annotations

import pghistory
from django.db import models
from django.db.models import Q

from trials.domain.dosing import DOSE_STATUS_LABELS, DoseStatus
from trials.domain.labs import ANALYTES
from trials.domain.schedule import VisitKind, VisitState, visit_label
from trials.models.core import Patient, Site, audited_events
from trials.models.protocol import TrialAgent

VISIT_KIND_CHOICES = [
    (VisitKind.SCREENING, "Screening"),
    (VisitKind.TREATMENT, "Treatment"),
    (VisitKind.END_OF_TREATMENT, "End of treatment"),
    (VisitKind.FOLLOW_UP, "Follow-up"),
    (VisitKind.UNSCHEDULED, "Unscheduled"),
]
VISIT_STATE_CHOICES = [
    (VisitState.PLANNED, "Planned"),
    (VisitState.DONE, "Done"),
    (VisitState.MISSED, "Missed"),
]
DOSE_STATUS_CHOICES = [(s.value, DOSE_STATUS_LABELS[s]) for s in DoseStatus]
ANALYTE_CHOICES = [(code, a.name) for code, a in ANALYTES.items()]


@pghistory.track(*audited_events(), model_name="VisitEvent")
class Visit(models.Model):
    """One visit of one patient. Planned visits carry their window; the coordinator records
    the date, the body measurements, the doses and the labs."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="visits")
    code = models.CharField(max_length=20)
    kind = models.CharField(max_length=20, choices=VISIT_KIND_CHOICES)
    cycle = models.PositiveSmallIntegerField(null=True, blank=True)
    day = models.PositiveSmallIntegerField(null=True, blank=True)
    planned_date = models.DateField(null=True, blank=True)
    window_start = models.DateField(null=True, blank=True)
    window_end = models.DateField(null=True, blank=True)
    response_assessment = models.BooleanField(default=False)
    status = models.CharField(
        max_length=10, choices=VISIT_STATE_CHOICES, default=VisitState.PLANNED, editable=False
    )
    visit_date = models.DateField(null=True, blank=True)
    height_cm = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    weight_kg = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    bsa_m2 = models.DecimalField(
        "BSA (m²)", max_digits=4, decimal_places=2, null=True, blank=True, editable=False
    )
    missed_reason = models.CharField(max_length=300, blank=True)
    notes = models.TextField(blank=True)
    version = models.PositiveIntegerField(
        default=1, help_text="Incremented on every save; a stale edit is refused, not merged."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "code"], name="visit_unique_code"),
            models.CheckConstraint(
                condition=~Q(status="done") | Q(visit_date__isnull=False),
                name="visit_done_has_date",
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "status", "planned_date"]),
            models.Index(fields=["status", "window_end"]),
            # The worklist's sort key and "next visit" lookups: index-only scans over the
            # planned visits, a small part of the table (migration 0003 builds it concurrently).
            models.Index(
                fields=["patient", "planned_date", "id"],
                include=["window_end", "code"],
                condition=Q(status="planned"),
                name="visit_planned_patient_idx",
            ),
        ]
        ordering = ["patient", "planned_date", "id"]

    def __str__(self) -> str:
        return f"{self.patient.label} {self.label}"

    @property
    def label(self) -> str:
        return visit_label(self.kind, self.cycle, self.day, self.code)

    @property
    def sort_date(self):
        return self.visit_date or self.planned_date


@pghistory.track(*audited_events(), model_name="DoseAdministrationEvent")
class DoseAdministration(models.Model):
    """The dose of one agent at one visit: given, reduced, held or missed (with the reason).

    ``allowed_mg`` is what the patient's level allowed that day (after BSA for mg/m² agents),
    kept so the check can be traced; ``level_dose``/``level_unit`` are the level's own figures.
    """

    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="doses")
    agent = models.ForeignKey(TrialAgent, on_delete=models.PROTECT, related_name="doses")
    dose_level = models.ForeignKey(
        "dosing.DoseLevel", on_delete=models.PROTECT, related_name="administrations"
    )
    status = models.CharField(max_length=10, choices=DOSE_STATUS_CHOICES)
    dose_mg = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    allowed_mg = models.DecimalField(max_digits=8, decimal_places=2)
    level_dose = models.DecimalField(max_digits=8, decimal_places=2)
    level_unit = models.CharField(max_length=6)
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["visit", "agent"], name="dose_unique_agent"),
            models.CheckConstraint(
                condition=Q(dose_mg__isnull=True) | Q(dose_mg__lte=models.F("allowed_mg")),
                name="dose_not_above_allowed",
            ),
        ]
        ordering = ["visit", "agent__position"]

    def __str__(self) -> str:
        return f"{self.agent.code} {self.status} {self.dose_mg or ''}"


@pghistory.track(*audited_events(), model_name="LabResultEvent")
class LabResult(models.Model):
    """One lab result: as entered (value, unit) and canonical (value, unit), converted once."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="lab_results")
    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="lab_results")
    analyte = models.CharField(max_length=12, choices=ANALYTE_CHOICES)
    collected_on = models.DateField()
    value_as_entered = models.CharField(max_length=30)
    unit_as_entered = models.CharField(max_length=20, blank=True)
    value = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    unit = models.CharField(max_length=20, blank=True)
    category = models.CharField(max_length=20, blank=True)
    lln = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    uln = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    limits_source = models.CharField(
        max_length=10,
        choices=[("catalogue", "Default"), ("site", "Site"), ("result", "This result")],
        default="catalogue",
    )
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["visit", "analyte"], name="lab_unique_per_visit"),
            models.CheckConstraint(
                condition=Q(value__isnull=True) | Q(value__gte=0), name="lab_value_not_negative"
            ),
        ]
        indexes = [models.Index(fields=["patient", "analyte", "collected_on"])]
        ordering = ["patient", "collected_on", "analyte"]

    def __str__(self) -> str:
        return f"{self.analyte} {self.display_value}"

    @property
    def display_value(self) -> str:
        if self.category:
            return self.category
        return f"{self.value.normalize():f} {self.unit}" if self.value is not None else ""


@pghistory.track(*audited_events(), model_name="LabReferenceRangeEvent")
class LabReferenceRange(models.Model):
    """A site's own reference limits for one analyte (canonical unit)."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="lab_ranges")
    analyte = models.CharField(max_length=12, choices=ANALYTE_CHOICES)
    lln = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    uln = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "analyte"], name="labrange_unique"),
        ]
        ordering = ["site", "analyte"]

    def __str__(self) -> str:
        return f"{self.site.code} {self.analyte}: {self.lln}–{self.uln}"
