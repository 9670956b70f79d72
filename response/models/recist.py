"""RECIST 1.0 / 1.1 data (Therasse 2000; Eisenhauer 2009): the baseline lesions, and per
assessment the measurements, the non-target status and new lesions. The computed timepoint and
best overall response are stored in ``ResponseTimepoint`` / ``PatientResponse`` like IMWG's."""

from __future__ import annotations

import pghistory
from django.db import models
from django.db.models import Q

from response.domain.recist import ImagingMethod, NewLesions, NonTargetStatus
from trials.models import Patient, audited_events

IMAGING_METHOD_LABELS = {
    ImagingMethod.CT: "Spiral CT",
    ImagingMethod.CT_CONVENTIONAL: "Conventional CT",
    ImagingMethod.MRI: "MRI",
    ImagingMethod.CALIPER: "Caliper (clinical)",
    ImagingMethod.CHEST_XRAY: "Chest X-ray",
}
IMAGING_METHOD_CHOICES = [(m.value, IMAGING_METHOD_LABELS[m]) for m in ImagingMethod]
NON_TARGET_CHOICES = [
    (NonTargetStatus.CR.value, "CR (all non-target lesions gone)"),
    (NonTargetStatus.NON_CR_NON_PD.value, "Non-CR/non-PD (present, not progressing)"),
    (NonTargetStatus.PD.value, "Unequivocal progression"),
    (NonTargetStatus.NE.value, "Not (all) evaluated"),
]
NEW_LESION_CHOICES = [
    (NewLesions.NO.value, "No"),
    (NewLesions.YES.value, "Yes"),
    (NewLesions.EQUIVOCAL.value, "Equivocal"),
]


class LesionKind(models.TextChoices):
    TARGET = "target", "Target"
    NON_TARGET = "non_target", "Non-target"


@pghistory.track(*audited_events(), model_name="RecistLesionEvent")
class RecistLesion(models.Model):
    """A lesion documented at baseline. For a lymph node under RECIST 1.1 the diameter is the
    short axis. Non-target lesions need no measurement."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="recist_lesions")
    code = models.CharField(max_length=10, help_text="e.g. T1, T2, NT1")
    kind = models.CharField(max_length=10, choices=LesionKind.choices)
    organ = models.CharField(max_length=60)
    is_node = models.BooleanField("lymph node", default=False)
    method = models.CharField(max_length=16, choices=IMAGING_METHOD_CHOICES, default="CT")
    slice_thickness_mm = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    baseline_date = models.DateField()
    baseline_diameter_mm = models.DecimalField(
        max_digits=6, decimal_places=1, null=True, blank=True
    )
    version = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "code"], name="recistlesion_unique_code"),
            models.CheckConstraint(
                condition=Q(kind="non_target") | Q(baseline_diameter_mm__gt=0),
                name="recistlesion_target_measured",
            ),
            models.CheckConstraint(
                condition=Q(baseline_diameter_mm__isnull=True) | Q(baseline_diameter_mm__gt=0),
                name="recistlesion_diameter_positive",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["target", "non_target"]), name="recistlesion_kind_valid"
            ),
        ]
        ordering = ["patient", "kind", "code"]

    def __str__(self) -> str:
        return f"{self.code} {self.organ}"


@pghistory.track(*audited_events(), model_name="RecistAssessmentEvent")
class RecistAssessment(models.Model):
    """One imaging timepoint after baseline."""

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="recist_assessments"
    )
    assessment_date = models.DateField()
    non_target_status = models.CharField(
        max_length=14, choices=NON_TARGET_CHOICES, default=NonTargetStatus.NON_CR_NON_PD.value
    )
    new_lesions = models.CharField(
        max_length=10, choices=NEW_LESION_CHOICES, default=NewLesions.NO.value
    )
    version = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "assessment_date"], name="recistassessment_unique_date"
            ),
            models.CheckConstraint(
                condition=Q(non_target_status__in=[c for c, _ in NON_TARGET_CHOICES]),
                name="recistassessment_non_target_valid",
            ),
            models.CheckConstraint(
                condition=Q(new_lesions__in=[c for c, _ in NEW_LESION_CHOICES]),
                name="recistassessment_new_lesions_valid",
            ),
        ]
        ordering = ["patient", "assessment_date"]

    def __str__(self) -> str:
        return f"{self.assessment_date:%Y-%m-%d}"


@pghistory.track(*audited_events(), model_name="RecistMeasurementEvent")
class RecistMeasurement(models.Model):
    """A target lesion's diameter at one assessment (mm; 0 = disappeared; empty = not
    evaluated)."""

    assessment = models.ForeignKey(
        RecistAssessment, on_delete=models.PROTECT, related_name="measurements"
    )
    lesion = models.ForeignKey(RecistLesion, on_delete=models.PROTECT, related_name="measurements")
    diameter_mm = models.DecimalField(max_digits=6, decimal_places=1, null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["assessment", "lesion"], name="recistmeasurement_unique_lesion"
            ),
            models.CheckConstraint(
                condition=Q(diameter_mm__isnull=True) | Q(diameter_mm__gte=0),
                name="recistmeasurement_not_negative",
            ),
        ]
        ordering = ["assessment", "lesion__code"]

    def __str__(self) -> str:
        return f"{self.lesion.code}: {self.diameter_mm}"
