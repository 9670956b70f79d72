"""Computing a patient's response from the stored data, idempotently.

IMWG (Kumar 2016 by default; the trial's design chooses the criteria and settings): the lab
results are mapped once to the engine's input (``response.domain.imwg_input``), evaluated, and
stored with the rule-set version and the input's hash. Evaluating the same input again writes
nothing. RECIST 1.0 / 1.1 (Therasse 2000; Eisenhauer 2009): the same, from the baseline lesions
and the assessments.

After a change: the discrepancies with the investigator's entries are raised or withdrawn as
queries, a signature of data that changed is voided, and the trial's Simon monitor is updated
(a Celery task, after commit).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from config.enqueue import enqueue_on_commit
from response.domain import recist as recist_rules
from response.domain.imwg import ImwgInputError, ImwgSettings, evaluate
from response.domain.imwg_input import (
    RESPONSE_ANALYTES,
    LabValue,
    best_percent_change,
    build_imwg_input,
    first_response_date,
    input_hash,
    input_to_dict,
    percent_change,
    waterfall_parameter,
)
from response.models import PatientResponse, RecistAssessment, RecistLesion, ResponseTimepoint
from response.models.recist import LesionKind
from response.services.sync import sync_queries, void_stale_signature
from trials import selectors as trial_selectors
from trials.audit import audited
from trials.domain.design import ResponseSettings, TrialDesign
from trials.domain.schedule import VisitKind, VisitState
from trials.models import Patient, Trial, TrialStatus, User

logger = logging.getLogger(__name__)

#: Trials whose patients the periodic sweep re-evaluates.
SWEPT_TRIAL_STATUSES = (
    TrialStatus.OPEN,
    TrialStatus.PHASE_I,
    TrialStatus.PHASE_II,
    TrialStatus.CLOSED_TO_ACCRUAL,
)
EVALUATION_REASON = "response re-evaluated from the stored data"


@dataclass(frozen=True)
class EvaluationOutcome:
    """What one evaluation did. ``changed``: stored calls were written (or removed)."""

    patient_id: int
    criteria: str | None
    changed: bool
    skipped: str = ""
    input_hash: str = ""


def response_evaluate_patient(
    *, patient_id: int, acting_user: User | None = None
) -> EvaluationOutcome:
    """(Re)compute one patient's response from the stored data. Idempotent: the same input
    and rule-set version write nothing. A missing patient is tolerated (nothing to do)."""
    with transaction.atomic():
        patient = (
            Patient.objects.select_for_update(of=("self",))
            .select_related("trial", "site")
            .filter(pk=patient_id)
            .first()
        )
        if patient is None:
            return EvaluationOutcome(patient_id, None, False, "no such patient")
        design = trial_selectors.trial_design(patient.trial)
        with audited(acting_user=acting_user, reason=EVALUATION_REASON):
            if design.response.is_recist:
                outcome = _evaluate_recist(patient, design)
            else:
                outcome = _evaluate_imwg(patient, design)
            if outcome.changed:
                sync_queries(patient)
                void_stale_signature(patient, why="the computed response changed")
        if outcome.changed and design.simon is not None:
            from response.tasks import update_simon_monitor

            enqueue_on_commit(update_simon_monitor, patient.trial_id)
    if outcome.changed:
        logger.info(
            "response evaluated",
            extra={"patient": patient_id, "criteria": outcome.criteria, "hash": outcome.input_hash},
        )
    return outcome


def response_sweep(*, acting_user: User | None = None) -> int:
    """Re-evaluate every enrolled patient of the active trials (the periodic catch-up for a
    task that was never sent), then their Simon monitors. Returns how many changed."""
    from response.services.simon import simon_monitor_update

    changed = 0
    for trial in Trial.objects.filter(status__in=list(SWEPT_TRIAL_STATUSES)).order_by("pk"):
        ids = Patient.objects.filter(trial=trial, enrolment_date__isnull=False).values_list(
            "pk", flat=True
        )
        for patient_id in ids:
            if response_evaluate_patient(patient_id=patient_id, acting_user=acting_user).changed:
                changed += 1
        simon_monitor_update(trial_id=trial.pk)
    return changed


# --- IMWG ------------------------------------------------------------------------------------


def imwg_settings(response: ResponseSettings) -> ImwgSettings:
    """The engine's settings from the trial design's response settings."""
    return ImwgSettings(
        criteria=response.criteria,
        nadir_policy=response.nadir_policy,
        mr_plasmacytoma_min_reduction_pct=response.mr_plasmacytoma_min_reduction_pct,
        waive_urine_for_vgpr=response.waive_urine_for_vgpr,
        plasmacytoma_missing_imaging=(
            "ne" if response.plasmacytoma_missing_imaging == "not_evaluable" else "hold"
        ),
    )


def _treatment_start(patient: Patient, visits: list[Any]) -> date | None:
    """The first dose (C1D1 as given); without a recorded dose, the date of a done C1D1."""
    first = trial_selectors.first_dose_date(patient)
    if first is not None:
        return first
    for v in visits:
        if (
            v.kind == VisitKind.TREATMENT
            and v.cycle == 1
            and v.day == 1
            and v.status == VisitState.DONE
            and v.visit_date
        ):
            return v.visit_date
    return None


def _death_date(patient: Patient) -> date | None:
    contact = trial_selectors.last_contact(patient)
    return getattr(contact, "death_date", None) if contact is not None else None


def _evaluate_imwg(patient: Patient, design: TrialDesign) -> EvaluationOutcome:
    criteria = design.response.criteria
    visits = trial_selectors.patient_visits(patient)
    start = _treatment_start(patient, visits)
    if start is None:
        changed = _clear(patient)
        return EvaluationOutcome(patient.pk, criteria, changed, "treatment has not started")
    labs = [
        LabValue(lab.analyte, v.visit_date, lab.value, lab.category)
        for v in visits
        if v.status == VisitState.DONE and v.visit_date is not None
        for lab in sorted(v.lab_results.all(), key=lambda r: r.pk)
        if lab.analyte in RESPONSE_ANALYTES
    ]
    try:
        case = build_imwg_input(
            labs=sorted(labs, key=lambda x: x.visit_date),
            treatment_start=start,
            settings=imwg_settings(design.response),
            death_date=_death_date(patient),
        )
    except ImwgInputError as exc:  # stored data the engine refuses: keep the last good call
        logger.warning("IMWG input refused", extra={"patient": patient.pk, "error": str(exc)})
        return EvaluationOutcome(patient.pk, criteria, False, f"input refused: {exc}")
    payload = input_to_dict(case)
    digest = input_hash(payload)
    current = PatientResponse.objects.filter(patient=patient).first()
    if current is not None and current.input_hash == digest and current.criteria == criteria:
        return EvaluationOutcome(patient.pk, criteria, False, "unchanged", digest)

    result = evaluate(case)
    now = timezone.now()
    parameter = waterfall_parameter(result)
    rows = {}
    for a in result.assessments:
        rows[a.date] = {
            "criteria": criteria,
            "timepoint": a.timepoint.value,
            "confirmed": a.confirmed.value if a.confirmed is not None else None,
            "status": a.status.value if a.status is not None else None,
            "confirmation_rule": a.confirmation_rule,
            "after_new_therapy": a.after_new_therapy,
            "flags": list(a.flags),
            "trace": a.trace_dict(),
            "pct_change_from_baseline": _round(percent_change(a, parameter)),
            "ruleset_version": result.ruleset_version,
        }
    _store_timepoints(patient, rows, digest, now)
    before_pd = [a for a in result.assessments if not a.after_new_therapy and a.status is not None]
    values = {
        "criteria": criteria,
        "best_overall_response": result.best_overall_response.value,
        "best_response_date": result.best_response_date,
        "first_response_date": first_response_date(result),
        "progression_date": result.progression_date,
        "current_status": before_pd[-1].status.value if before_pd else None,
        "baseline_date": case.baseline.date,
        "last_assessment_date": case.assessments[-1].date if case.assessments else None,
        "evaluable": bool(result.measurable) and bool(case.assessments),
        "measurable": list(result.measurable),
        "flags": list(result.flags),
        "trace": result.to_dict(include_trace=True)["trace"],
        "engine_input": payload,
        "best_pct_change": _round(best_percent_change(result)),
        "waterfall_parameter": parameter or "",
        "ruleset_version": result.ruleset_version,
    }
    _store_patient_response(patient, current, values, digest, now)
    return EvaluationOutcome(patient.pk, criteria, True, "", digest)


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


# --- RECIST ----------------------------------------------------------------------------------


def recist_criteria(response: ResponseSettings) -> recist_rules.RecistCriteria:
    """The version's rules, with the design's overrides (target limits, thresholds, 5 mm)."""
    base = recist_rules.get_criteria(response.criteria.removeprefix("RECIST"))
    changes: dict[str, Any] = {
        "pr_min_decrease": Decimal(str(response.pr_threshold_pct)) / 100,
        "pd_min_increase": Decimal(str(response.pd_threshold_pct)) / 100,
    }
    if response.pd_min_absolute_mm is not None:
        changes["pd_min_absolute_increase_mm"] = Decimal(str(response.pd_min_absolute_mm))
    if response.max_target_lesions is not None:
        changes["max_targets_total"] = response.max_target_lesions
    if response.max_target_lesions_per_organ is not None:
        changes["max_targets_per_organ"] = response.max_target_lesions_per_organ
    return dataclasses.replace(base, **changes)


def recist_settings(response: ResponseSettings) -> recist_rules.RecistSettings:
    return recist_rules.RecistSettings(
        confirmation_required=response.confirmation_required,
        confirmation_min_days=max(1, response.confirmation_min_days),
    )


def recist_lesion_dataclasses(
    lesions: list[RecistLesion],
) -> tuple[list[recist_rules.TargetLesion], list[recist_rules.NonTargetLesion]]:
    targets = [
        recist_rules.TargetLesion(
            lesion_id=lesion.code,
            organ=lesion.organ,
            is_node=lesion.is_node,
            diameter_mm=lesion.baseline_diameter_mm,
            method=recist_rules.ImagingMethod(lesion.method),
            slice_thickness_mm=lesion.slice_thickness_mm,
        )
        for lesion in lesions
        if lesion.kind == LesionKind.TARGET
    ]
    non_targets = [
        recist_rules.NonTargetLesion(
            lesion_id=lesion.code,
            organ=lesion.organ,
            is_node=lesion.is_node,
            diameter_mm=lesion.baseline_diameter_mm,
        )
        for lesion in lesions
        if lesion.kind == LesionKind.NON_TARGET
    ]
    return targets, non_targets


def _evaluate_recist(patient: Patient, design: TrialDesign) -> EvaluationOutcome:
    criteria_name = design.response.criteria
    lesions = list(RecistLesion.objects.filter(patient=patient).order_by("kind", "code"))
    if not lesions:
        return EvaluationOutcome(patient.pk, criteria_name, _clear(patient), "no baseline lesions")
    assessments = list(
        RecistAssessment.objects.filter(patient=patient)
        .prefetch_related("measurements__lesion")
        .order_by("assessment_date")
    )
    start = trial_selectors.first_dose_date(patient) or max(
        lesion.baseline_date for lesion in lesions
    )
    criteria = recist_criteria(design.response)
    settings = recist_settings(design.response)
    targets, non_targets = recist_lesion_dataclasses(lesions)
    engine_assessments = [
        recist_rules.Assessment(
            assessment_date=a.assessment_date,
            target_measurements={
                m.lesion.code: m.diameter_mm
                for m in a.measurements.all()
                if m.lesion.kind == LesionKind.TARGET and m.diameter_mm is not None
            },
            non_target_status=recist_rules.NonTargetStatus(a.non_target_status),
            new_lesions=recist_rules.NewLesions(a.new_lesions),
        )
        for a in assessments
    ]
    payload = {
        "criteria": dataclasses.asdict(criteria),
        "settings": dataclasses.asdict(settings),
        "treatment_start": start.isoformat(),
        "targets": [dataclasses.asdict(t) for t in targets],
        "non_targets": [dataclasses.asdict(n) for n in non_targets],
        "assessments": [
            {
                "date": a.assessment_date.isoformat(),
                "targets": {k: str(v) for k, v in sorted(a.target_measurements.items())},
                "non_target_status": str(a.non_target_status),
                "new_lesions": str(a.new_lesions),
            }
            for a in engine_assessments
        ],
    }
    payload = json.loads(json.dumps(payload, default=str))  # Decimals as their printed value
    digest = input_hash(payload, ruleset_version=criteria.rule_version)
    current = PatientResponse.objects.filter(patient=patient).first()
    if current is not None and current.input_hash == digest and current.criteria == criteria_name:
        return EvaluationOutcome(patient.pk, criteria_name, False, "unchanged", digest)
    try:
        result = recist_rules.evaluate_recist(
            criteria=criteria,
            settings=settings,
            treatment_start=start,
            targets=targets,
            non_targets=non_targets,
            assessments=engine_assessments,
        )
    except ValueError as exc:  # includes TargetSelectionError: keep the last good call
        logger.warning("RECIST input refused", extra={"patient": patient.pk, "error": str(exc)})
        return EvaluationOutcome(patient.pk, criteria_name, False, f"input refused: {exc}")
    now = timezone.now()
    rows = {}
    trace_lines = list(result.trace)
    for index, tp in enumerate(result.timepoints):
        rows[tp.assessment_date] = {
            "criteria": criteria_name,
            "timepoint": tp.overall_response.value,
            "confirmed": None,
            "status": None,
            "confirmation_rule": "",
            "after_new_therapy": False,
            "flags": ["AFTER_PROGRESSION"] if tp.after_progression else [],
            "trace": {
                "rule": trace_lines[index + 2] if index + 2 < len(trace_lines) else "",
                "target_response": tp.target_response.value,
                "non_target_status": tp.non_target_status.value,
                "new_lesions": tp.new_lesions.value,
                "all_targets_evaluated": tp.all_targets_evaluated,
                "target_sum_mm": tp.target_sum_mm,
                "reference_sum_mm": tp.reference_sum_mm,
                "pct_change_from_baseline": _round(tp.pct_change_from_baseline),
                "pct_change_from_nadir": _round(tp.pct_change_from_nadir),
            },
            "pct_change_from_baseline": _round(tp.pct_change_from_baseline),
            "ruleset_version": result.rule_version,
        }
    _store_timepoints(patient, rows, digest, now)
    bor = result.best_overall_response.value
    responded = bor in ("CR", "PR") and result.best_response_confirmed is not False
    values = {
        "criteria": criteria_name,
        "best_overall_response": bor,
        "best_response_date": result.best_overall_response_date,
        "first_response_date": result.best_overall_response_date if responded else None,
        "progression_date": result.progression_date,
        "current_status": "PD" if result.progression_date else bor,
        "baseline_date": max(lesion.baseline_date for lesion in lesions),
        "last_assessment_date": assessments[-1].assessment_date if assessments else None,
        "evaluable": bool(assessments) and (bool(targets) or bool(non_targets)),
        "measurable": ["target_lesions"] if targets else [],
        "flags": [],
        "trace": {
            "criteria": result.criteria,
            "rule_version": result.rule_version,
            "baseline_sum_mm": result.baseline_sum_mm,
            "best_response_confirmed": result.best_response_confirmed,
            "lines": trace_lines,
        },
        "engine_input": payload,
        "best_pct_change": _round(result.best_pct_change_from_baseline),
        "waterfall_parameter": "sum_of_diameters" if targets else "",
        "ruleset_version": result.rule_version,
    }
    _store_patient_response(patient, current, values, digest, now)
    return EvaluationOutcome(patient.pk, criteria_name, True, "", digest)


# --- Storage ---------------------------------------------------------------------------------


def _store_timepoints(
    patient: Patient, rows: dict[date, dict[str, Any]], digest: str, now: Any
) -> None:
    """Upsert one row per assessment date; remove dates that are no longer assessments. A row
    whose call did not change keeps its audit trail quiet (no update written)."""
    existing = {tp.assessment_date: tp for tp in ResponseTimepoint.objects.filter(patient=patient)}
    for when, values in rows.items():
        row = existing.pop(when, None)
        if row is None:
            ResponseTimepoint.objects.create(
                patient=patient,
                assessment_date=when,
                input_hash=digest,
                computed_at=now,
                **values,
            )
        elif any(getattr(row, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(row, k, v)
            row.input_hash, row.computed_at = digest, now
            row.save()
    for stale in existing.values():
        stale.delete()


def _store_patient_response(
    patient: Patient,
    current: PatientResponse | None,
    values: dict[str, Any],
    digest: str,
    now: Any,
) -> None:
    if current is None:
        PatientResponse.objects.create(
            patient=patient, input_hash=digest, evaluated_at=now, **values
        )
        return
    for k, v in values.items():
        setattr(current, k, v)
    current.input_hash, current.evaluated_at = digest, now
    current.version += 1
    current.save()


def _clear(patient: Patient) -> bool:
    """Remove computed rows that no longer have a basis (e.g. the first dose was corrected
    away). Returns whether anything was removed."""
    removed, _ = ResponseTimepoint.objects.filter(patient=patient).delete()
    gone, _ = PatientResponse.objects.filter(patient=patient).delete()
    return bool(removed or gone)
