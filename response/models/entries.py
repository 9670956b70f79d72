"""What people record beside the computed call: the investigator's response entries, the
queries raised where they disagree with it, and the investigator's signature of the final
response."""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Q

from response.domain.imwg_discrepancy import PD_BASES, DiscrepancyFlag
from response.domain.queries import ACTIVE_STATUSES, QUERY_STATUS_LABELS, QueryStatus
from response.models.results import CATEGORY_CODES, RESPONSE_CATEGORY_CHOICES
from trials.models import Patient, audited_events


class EntryScope(models.TextChoices):
    ASSESSMENT = "assessment", "Assessment"
    BEST_OVERALL_RESPONSE = "best_overall_response", "Best overall response"


PD_BASIS_CHOICES = [
    (b, b.replace("dflc", "dFLC").replace("bmpc", "marrow")) for b in sorted(PD_BASES)
]
FLAG_CHOICES = [(f.value, f.value) for f in DiscrepancyFlag]
QUERY_STATUS_CHOICES = [(s.value, QUERY_STATUS_LABELS[s]) for s in QueryStatus]


@pghistory.track(*audited_events(), model_name="InvestigatorResponseEvent")
class InvestigatorResponse(models.Model):
    """The investigator's call at one assessment date, or their best overall response.

    Never overwritten by the computed call (IMWG note 5.5): disagreements become queries.
    """

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="investigator_responses"
    )
    scope = models.CharField(max_length=24, choices=EntryScope.choices)
    assessment_date = models.DateField(null=True, blank=True)
    category = models.CharField(max_length=14, choices=RESPONSE_CATEGORY_CHOICES)
    pd_basis = models.CharField(
        max_length=12,
        choices=PD_BASIS_CHOICES,
        blank=True,
        help_text="For PD: the marker it rests on.",
    )
    note = models.TextField(blank=True)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    entered_at = models.DateTimeField()
    version = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "assessment_date"],
                condition=Q(scope="assessment"),
                name="investigatorresponse_unique_date",
            ),
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(scope="best_overall_response"),
                name="investigatorresponse_unique_bor",
            ),
            models.CheckConstraint(
                condition=(Q(scope="assessment") & Q(assessment_date__isnull=False))
                | (Q(scope="best_overall_response") & Q(assessment_date__isnull=True)),
                name="investigatorresponse_scope_date",
            ),
            models.CheckConstraint(
                condition=Q(category__in=CATEGORY_CODES),
                name="investigatorresponse_category_valid",
            ),
            models.CheckConstraint(
                condition=Q(pd_basis="") | Q(category="PD"),
                name="investigatorresponse_pd_basis_only_for_pd",
            ),
        ]
        ordering = ["patient", "scope", "assessment_date"]

    def __str__(self) -> str:
        when = f"{self.assessment_date:%Y-%m-%d}" if self.assessment_date else "BOR"
        return f"{when} {self.category}"


@pghistory.track(*audited_events(), model_name="ResponseQueryEvent")
class ResponseQuery(models.Model):
    """A typed discrepancy between the computed call and the investigator's entry (or a
    computed call that missing data hold back), raised as a query for the site.

    ``key`` identifies the disagreement (flag, scope, date, entered and computed calls): the same
    disagreement is never raised twice while one is active, and a closed one is not raised
    again. Only ``response.services.query_transition`` changes ``status``.
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="response_queries")
    flag = models.CharField(max_length=30, choices=FLAG_CHOICES)
    scope = models.CharField(max_length=24, choices=EntryScope.choices)
    assessment_date = models.DateField(null=True, blank=True)
    entered = models.CharField(
        max_length=14, choices=RESPONSE_CATEGORY_CHOICES, null=True, blank=True
    )
    computed = models.CharField(
        max_length=14, choices=RESPONSE_CATEGORY_CHOICES, null=True, blank=True
    )
    detail = models.TextField()
    key = models.CharField(max_length=200)
    status = models.CharField(
        max_length=10,
        choices=QUERY_STATUS_CHOICES,
        default=QueryStatus.OPEN.value,
        editable=False,
    )
    raised_at = models.DateTimeField()
    answer = models.TextField(blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    answered_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "key"],
                condition=Q(status__in=sorted(s.value for s in ACTIVE_STATUSES)),
                name="responsequery_one_active_per_key",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in QueryStatus]),
                name="responsequery_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(flag__in=[f.value for f in DiscrepancyFlag]),
                name="responsequery_flag_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status="answered") | Q(answered_at__isnull=False),
                name="responsequery_answered_has_answer",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["closed", "withdrawn"]) | Q(closed_at__isnull=False),
                name="responsequery_closed_has_time",
            ),
        ]
        indexes = [models.Index(fields=["patient", "status"])]
        ordering = ["patient", "assessment_date", "id"]

    def __str__(self) -> str:
        return f"{self.flag} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in {s.value for s in ACTIVE_STATUSES}


class SignatureMeaning(models.TextChoices):
    FINAL_RESPONSE = (
        "final_response",
        "I have reviewed the computed response and the entries, and I confirm this "
        "patient's best overall response.",
    )


@pghistory.track(*audited_events(), model_name="ResponseSignatureEvent")
class ResponseSignature(models.Model):
    """The investigator's electronic signature of a patient's final response (21 CFR 11.50):
    who, when, what it means, and the hash of exactly what was signed. A change to the signed
    data voids it (``voided_at`` and why); it is never edited otherwise."""

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="response_signatures"
    )
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    signed_at = models.DateTimeField()
    meaning = models.CharField(max_length=30, choices=SignatureMeaning.choices)
    content = models.JSONField(help_text="What was signed.")
    content_hash = models.CharField(max_length=64)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(voided_at__isnull=True),
                name="responsesignature_one_valid",
            ),
            models.CheckConstraint(
                condition=(Q(voided_at__isnull=True) & Q(void_reason=""))
                | (Q(voided_at__isnull=False) & ~Q(void_reason="")),
                name="responsesignature_void_has_reason",
            ),
        ]
        ordering = ["patient", "-signed_at"]

    def __str__(self) -> str:
        state = "void" if self.voided_at else "valid"
        return f"signature {self.signed_at:%Y-%m-%d %H:%M} ({state})"
