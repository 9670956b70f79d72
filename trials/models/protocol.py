"""What a trial's protocol fixes: agents, versioned design settings, eligibility criteria."""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from trials.domain.dosing import DOSE_UNITS
from trials.domain.eligibility import CriterionKind
from trials.models.core import Trial, audited_events

DOSE_UNIT_CHOICES = [(u, {"mg": "mg", "mg/m2": "mg/m²"}[u]) for u in DOSE_UNITS]


class Route(models.TextChoices):
    ORAL = "oral", "Oral"
    IV = "iv", "Intravenous"
    SC = "sc", "Subcutaneous"


@pghistory.track(*audited_events(), model_name="TrialAgentEvent")
class TrialAgent(models.Model):
    """A drug of the trial's regimen (ixazomib, pomalidomide, dexamethasone, carfilzomib)."""

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="agents")
    code = models.CharField(
        max_length=12,
        validators=[RegexValidator(r"^[A-Z][A-Z0-9]{1,11}$", "Capital letters and digits.")],
    )
    name = models.CharField(max_length=100)
    unit = models.CharField(
        max_length=6, choices=DOSE_UNIT_CHOICES, help_text="How the protocol doses it."
    )
    route = models.CharField(max_length=5, choices=Route.choices, default=Route.ORAL)
    schedule = models.CharField(max_length=200, blank=True, help_text="e.g. days 1, 8, 15")
    dose_days = models.JSONField(
        default=list,
        blank=True,
        help_text="Cycle days on which the dose is recorded at the visit (empty: every "
        "treatment visit).",
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["trial", "code"], name="trialagent_unique_code"),
        ]
        ordering = ["trial", "position", "code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_unit_display()})"

    def recorded_on(self, day: int | None) -> bool:
        return not self.dose_days or day is None or day in self.dose_days


@pghistory.track(*audited_events(), model_name="ProtocolVersionEvent")
class ProtocolVersion(models.Model):
    """One version of the protocol's design: version 1 at set-up, then one per amendment.

    ``design`` is the whole design document (validated by ``trials.domain.design``), so any
    version can be read back as it was; ``changes`` is what this version changed.
    """

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="protocol_versions")
    number = models.PositiveIntegerField()
    label = models.CharField(max_length=60, blank=True)
    effective_date = models.DateField()
    reason = models.TextField()
    design = models.JSONField()
    changes = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["trial", "number"], name="protocolversion_unique"),
            models.CheckConstraint(condition=Q(number__gte=1), name="protocolversion_number_pos"),
        ]
        ordering = ["trial", "number"]
        get_latest_by = "number"

    def __str__(self) -> str:
        return f"{self.trial.code} protocol v{self.number}" + (
            f" ({self.label})" if self.label else ""
        )


@pghistory.track(*audited_events(), model_name="EligibilityCriterionEvent")
class EligibilityCriterion(models.Model):
    """One inclusion or exclusion criterion, answered for each screened patient."""

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="criteria")
    kind = models.CharField(
        max_length=10,
        choices=[(CriterionKind.INCLUSION, "Inclusion"), (CriterionKind.EXCLUSION, "Exclusion")],
    )
    code = models.CharField(
        max_length=12,
        validators=[RegexValidator(r"^(IN|EX)\d{1,3}$", "IN1, IN2, … or EX1, EX2, …")],
    )
    text = models.TextField()
    position = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["trial", "code"], name="criterion_unique_code"),
        ]
        ordering = ["trial", "kind", "position", "code"]
        verbose_name_plural = "eligibility criteria"

    def __str__(self) -> str:
        return f"{self.code}: {self.text[:60]}"

    @property
    def question(self) -> str:
        return "Met?" if self.kind == CriterionKind.INCLUSION else "Applies?"
