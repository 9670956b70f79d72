"""Computed responses: one row per patient and assessment date, and one per patient for the
best overall response. Written only by ``response.services`` from the engines' output, with the
rule-set version and the hash of the input they were computed from."""

from __future__ import annotations

import pghistory
from django.db import models
from django.db.models import Q

from trials.domain.design import RESPONSE_CRITERIA
from trials.models import Patient, audited_events

#: IMWG 2016 categories and RECIST's "non-CR/non-PD" (non-target disease only), best first.
RESPONSE_CATEGORY_CHOICES = [
    ("sCR", "Stringent complete response (sCR)"),
    ("CR", "Complete response (CR)"),
    ("VGPR", "Very good partial response (VGPR)"),
    ("PR", "Partial response (PR)"),
    ("MR", "Minimal response (MR)"),
    ("SD", "Stable disease (SD)"),
    ("NON_CR_NON_PD", "Non-CR/non-PD"),
    ("PD", "Progressive disease (PD)"),
    ("NE", "Not evaluable (NE)"),
]
CATEGORY_CODES = [code for code, _ in RESPONSE_CATEGORY_CHOICES]
CRITERIA_CHOICES = [
    (c, c.replace("IMWG", "IMWG ").replace("RECIST", "RECIST ")) for c in RESPONSE_CRITERIA
]


def _category_check(field: str, name: str, *, nullable: bool) -> models.CheckConstraint:
    condition = Q(**{f"{field}__in": CATEGORY_CODES})
    if nullable:
        condition |= Q(**{f"{field}__isnull": True})
    return models.CheckConstraint(condition=condition, name=name)


@pghistory.track(*audited_events(), model_name="ResponseTimepointEvent")
class ResponseTimepoint(models.Model):
    """The computed call at one assessment date, with the rule trace that explains it."""

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="response_timepoints"
    )
    criteria = models.CharField(max_length=12, choices=CRITERIA_CHOICES)
    assessment_date = models.DateField()
    timepoint = models.CharField(
        max_length=14,
        choices=RESPONSE_CATEGORY_CHOICES,
        help_text="The call at this assessment alone.",
    )
    confirmed = models.CharField(
        max_length=14,
        choices=RESPONSE_CATEGORY_CHOICES,
        null=True,
        blank=True,
        help_text="The confirmed call (empty while the confirming assessment is pending).",
    )
    status = models.CharField(
        max_length=14,
        choices=RESPONSE_CATEGORY_CHOICES,
        null=True,
        blank=True,
        help_text="The best confirmed response known on this date.",
    )
    confirmation_rule = models.CharField(max_length=40, blank=True)
    after_new_therapy = models.BooleanField(default=False)
    flags = models.JSONField(default=list, blank=True)
    trace = models.JSONField(default=dict, blank=True)
    pct_change_from_baseline = models.FloatField(
        null=True, blank=True, help_text="% change of the disease marker (negative = reduction)."
    )
    ruleset_version = models.CharField(max_length=60)
    input_hash = models.CharField(max_length=64)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "assessment_date"], name="responsetimepoint_unique_date"
            ),
            _category_check("timepoint", "responsetimepoint_timepoint_valid", nullable=False),
            _category_check("confirmed", "responsetimepoint_confirmed_valid", nullable=True),
            _category_check("status", "responsetimepoint_status_valid", nullable=True),
            models.CheckConstraint(
                condition=Q(criteria__in=list(RESPONSE_CRITERIA)),
                name="responsetimepoint_criteria_valid",
            ),
        ]
        ordering = ["patient", "assessment_date"]

    def __str__(self) -> str:
        return f"{self.assessment_date:%Y-%m-%d} {self.timepoint}"


@pghistory.track(*audited_events(), model_name="PatientResponseEvent")
class PatientResponse(models.Model):
    """A patient's computed best overall response, its dates and current status.

    ``first_response_date`` is the first assessment confirmed as PR or better (the start of the
    response, for duration of response); ``progression_date`` the first assessment of confirmed
    PD. ``evaluable``: measurable disease at baseline and at least one assessment after it.
    """

    patient = models.OneToOneField(Patient, on_delete=models.PROTECT, related_name="response")
    criteria = models.CharField(max_length=12, choices=CRITERIA_CHOICES)
    best_overall_response = models.CharField(max_length=14, choices=RESPONSE_CATEGORY_CHOICES)
    best_response_date = models.DateField(null=True, blank=True)
    first_response_date = models.DateField(null=True, blank=True)
    progression_date = models.DateField(null=True, blank=True)
    current_status = models.CharField(
        max_length=14, choices=RESPONSE_CATEGORY_CHOICES, null=True, blank=True
    )
    baseline_date = models.DateField(null=True, blank=True)
    last_assessment_date = models.DateField(null=True, blank=True)
    evaluable = models.BooleanField(default=False)
    measurable = models.JSONField(default=list, blank=True)
    flags = models.JSONField(default=list, blank=True)
    trace = models.JSONField(default=dict, blank=True)
    engine_input = models.JSONField(
        default=dict, blank=True, help_text="The engine input, to recompute the call exactly."
    )
    best_pct_change = models.FloatField(null=True, blank=True)
    waterfall_parameter = models.CharField(max_length=20, blank=True)
    ruleset_version = models.CharField(max_length=60)
    input_hash = models.CharField(max_length=64)
    evaluated_at = models.DateTimeField()
    version = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [
            _category_check("best_overall_response", "patientresponse_bor_valid", nullable=False),
            _category_check("current_status", "patientresponse_status_valid", nullable=True),
            models.CheckConstraint(
                condition=Q(criteria__in=list(RESPONSE_CRITERIA)),
                name="patientresponse_criteria_valid",
            ),
            models.CheckConstraint(
                condition=Q(first_response_date__isnull=True)
                | Q(progression_date__isnull=True)
                | Q(first_response_date__lt=models.F("progression_date")),
                name="patientresponse_response_before_progression",
            ),
        ]
        ordering = ["patient"]

    def __str__(self) -> str:
        return f"{self.patient_id}: {self.best_overall_response}"
