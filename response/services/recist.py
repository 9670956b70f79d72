"""RECIST data entry: baseline lesions (the selection checked against the version's limits)
and assessments with their measurements. Each write enqueues the patient's evaluation after
commit, like a lab entry does for IMWG."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from config.enqueue import enqueue_on_commit
from response import selectors
from response.domain import recist as recist_rules
from response.models import RecistAssessment, RecistLesion, RecistMeasurement
from response.models.recist import NEW_LESION_CHOICES, NON_TARGET_CHOICES, LesionKind
from response.services.common import Errors, check_version, require_patient_role
from response.services.evaluation import recist_criteria, recist_lesion_dataclasses
from trials import selectors as trial_selectors
from trials.audit import audited, require_reason
from trials.models import Patient, User


@dataclass(frozen=True)
class LesionInput:
    code: str
    kind: str
    organ: str
    baseline_date: date
    baseline_diameter_mm: Any = None
    is_node: bool = False
    method: str = recist_rules.ImagingMethod.CT.value
    slice_thickness_mm: Any = None


def _design(patient: Patient):
    design = trial_selectors.trial_design(patient.trial)
    if not design.response.is_recist:
        raise ValidationError(
            {
                "non_field_errors": f"{patient.trial.code} uses {design.response.criteria}, not "
                "RECIST: its response comes from the labs."
            }
        )
    return design


def _mm(value: Any, field: str, errors: Errors, *, required: bool) -> Decimal | None:
    if value is None or str(value).strip() == "":
        if required:
            errors.add(field, "Give the diameter in mm.")
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        errors.add(field, f"{value!r} is not a number of millimetres.")
        return None
    if not number.is_finite() or number < 0:
        errors.add(field, "A diameter is a positive number of millimetres (0 = disappeared).")
        return None
    if number > Decimal("9999.9"):
        errors.add(field, "A diameter above 9999.9 mm is not plausible.")
        return None
    return number.quantize(Decimal("0.1"))


def _check_selection(patient: Patient, lesions: list[RecistLesion], errors: Errors) -> None:
    design = _design(patient)
    targets, non_targets = recist_lesion_dataclasses(lesions)
    settings = recist_rules.RecistSettings(require_measurable_disease=False)
    criteria = recist_criteria(design.response)
    for problem in recist_rules.validate_target_selection(criteria, targets, non_targets, settings):
        errors.add("non_field_errors", problem)


def _validated_lesion(
    patient: Patient, data: LesionInput, errors: Errors, *, instance: RecistLesion
) -> RecistLesion:
    code = (data.code or "").strip().upper()
    if not code or len(code) > 10:
        errors.add("code", "Give a short lesion code such as T1 or NT1.")
    if data.kind not in LesionKind.values:
        errors.add("kind", "Choose target or non-target.")
    if not (data.organ or "").strip():
        errors.add("organ", "Give the organ (e.g. liver, lung, lymph node).")
    if data.method not in {m.value for m in recist_rules.ImagingMethod}:
        errors.add("method", "Choose the imaging method.")
    diameter = _mm(
        data.baseline_diameter_mm,
        "baseline_diameter_mm",
        errors,
        required=data.kind == LesionKind.TARGET,
    )
    if diameter is not None and diameter == 0:
        errors.add("baseline_diameter_mm", "A baseline lesion has a positive diameter.")
    thickness = _mm(data.slice_thickness_mm, "slice_thickness_mm", errors, required=False)
    if data.baseline_date is None:
        errors.add("baseline_date", "Give the date of the baseline imaging.")
    instance.patient = patient
    instance.code = code
    instance.kind = data.kind
    instance.organ = " ".join((data.organ or "").split())
    instance.is_node = bool(data.is_node)
    instance.method = data.method
    instance.slice_thickness_mm = thickness
    instance.baseline_date = data.baseline_date
    instance.baseline_diameter_mm = diameter
    return instance


def _enqueue_evaluation(patient: Patient) -> None:
    from response.tasks import evaluate_patient

    enqueue_on_commit(evaluate_patient, patient.pk)


@transaction.atomic
def recist_lesion_add(*, patient: Patient, lesion: LesionInput, acting_user: User) -> RecistLesion:
    """Document one baseline lesion. The whole selection (this lesion with the others) must
    meet the trial's RECIST version: measurability, the target limits in total and per organ,
    node short axes (1.1)."""
    require_patient_role(acting_user, patient, selectors.RECIST_ENTRY_ROLES, "record lesions")
    locked = (
        Patient.objects.select_for_update(of=("self",)).select_related("trial").get(pk=patient.pk)
    )
    errors = Errors()
    row = _validated_lesion(locked, lesion, errors, instance=RecistLesion())
    existing = list(RecistLesion.objects.filter(patient=locked))
    if any(e.code == row.code for e in existing):
        errors.add("code", f"{locked.label} already has a lesion {row.code}.")
    errors.raise_if_any()
    _check_selection(locked, [*existing, row], errors)
    errors.raise_if_any()
    with audited(acting_user=acting_user, reason="baseline lesion recorded"):
        row.save()
    _enqueue_evaluation(locked)
    return row


@transaction.atomic
def recist_lesion_update(
    *,
    lesion: RecistLesion,
    data: LesionInput,
    acting_user: User,
    reason: str,
    expected_version: int | None,
) -> RecistLesion:
    """Correct a baseline lesion (with a reason); the selection is checked again."""
    locked = (
        RecistLesion.objects.select_for_update().select_related("patient__trial").get(pk=lesion.pk)
    )
    patient = locked.patient
    require_patient_role(acting_user, patient, selectors.RECIST_ENTRY_ROLES, "record lesions")
    check_version(locked, expected_version, "lesion")
    reason = require_reason(reason)
    errors = Errors()
    _validated_lesion(patient, data, errors, instance=locked)
    others = list(RecistLesion.objects.filter(patient=patient).exclude(pk=locked.pk))
    if any(e.code == locked.code for e in others):
        errors.add("code", f"{patient.label} already has a lesion {locked.code}.")
    errors.raise_if_any()
    _check_selection(patient, [*others, locked], errors)
    errors.raise_if_any()
    with audited(acting_user=acting_user, reason=reason):
        locked.version += 1
        locked.save()
    _enqueue_evaluation(patient)
    return locked


@transaction.atomic
def recist_assessment_record(
    *,
    patient: Patient,
    assessment_date: date,
    measurements: Mapping[str, Any],
    acting_user: User,
    non_target_status: str = recist_rules.NonTargetStatus.NON_CR_NON_PD.value,
    new_lesions: str = recist_rules.NewLesions.NO.value,
    reason: str | None = None,
    expected_version: int | None = None,
) -> RecistAssessment:
    """Record (or correct, with a reason) one imaging timepoint: each target lesion's diameter
    in mm (0 = disappeared, empty = not evaluated), the non-target status and new lesions."""
    require_patient_role(acting_user, patient, selectors.RECIST_ENTRY_ROLES, "record assessments")
    locked = (
        Patient.objects.select_for_update(of=("self",)).select_related("trial").get(pk=patient.pk)
    )
    _design(locked)
    errors = Errors()
    lesions = {lesion.code: lesion for lesion in RecistLesion.objects.filter(patient=locked)}
    targets = {c: lesion for c, lesion in lesions.items() if lesion.kind == LesionKind.TARGET}
    if not lesions:
        errors.add("non_field_errors", "Record the baseline lesions first.")
    if assessment_date is None:
        errors.add("assessment_date", "Give the date of the imaging.")
    elif lesions and assessment_date <= max(lesion.baseline_date for lesion in lesions.values()):
        errors.add("assessment_date", "An assessment comes after the baseline imaging.")
    if non_target_status not in {c for c, _ in NON_TARGET_CHOICES}:
        errors.add("non_target_status", "Choose the non-target status.")
    if new_lesions not in {c for c, _ in NEW_LESION_CHOICES}:
        errors.add("new_lesions", "Say whether there are new lesions.")
    values: dict[str, Decimal | None] = {}
    for code, value in measurements.items():
        key = str(code).strip().upper()
        if key not in targets:
            errors.add(f"measurements.{code}", f"{code} is not a target lesion of {locked.label}.")
            continue
        values[key] = _mm(value, f"measurements.{code}", errors, required=False)
    errors.raise_if_any()

    existing = (
        RecistAssessment.objects.select_for_update()
        .filter(patient=locked, assessment_date=assessment_date)
        .first()
    )
    if existing is not None:
        check_version(existing, expected_version, "assessment")
        reason = require_reason(reason)
    audit_reason = reason or "imaging assessment recorded"
    with audited(acting_user=acting_user, reason=audit_reason):
        if existing is None:
            assessment = RecistAssessment.objects.create(
                patient=locked,
                assessment_date=assessment_date,
                non_target_status=non_target_status,
                new_lesions=new_lesions,
            )
        else:
            assessment = existing
            assessment.non_target_status = non_target_status
            assessment.new_lesions = new_lesions
            assessment.version += 1
            assessment.save()
        stored = {m.lesion_id: m for m in RecistMeasurement.objects.filter(assessment=assessment)}
        for code, lesion in targets.items():
            diameter = values.get(code)
            row = stored.get(lesion.pk)
            if row is None:
                RecistMeasurement.objects.create(
                    assessment=assessment, lesion=lesion, diameter_mm=diameter
                )
            elif row.diameter_mm != diameter:
                row.diameter_mm = diameter
                row.save(update_fields=["diameter_mm"])
    _enqueue_evaluation(locked)
    return assessment
