"""Lab grading: lab rows graded by CTCAE (canonical value and unit, the row's LLN/ULN), grade
>= 3 suggested as adverse events that a coordinator confirms or dismisses with a reason."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from config.enqueue import enqueue_on_commit
from safety import selectors
from safety.domain.lab_analytes import (
    BASELINE_ANALYTES,
    SUGGESTION_MIN_GRADE,
    lab_term_for,
)
from safety.domain.lab_grading import LabGradingError, grade_lab_value
from safety.models import (
    AdverseEvent,
    LabGradeSuggestion,
    SuggestionStatus,
)
from safety.services._common import _check_version, _now, _today
from safety.services.adverse_events import adverse_event_create, adverse_event_grade_change
from trials import selectors as trial_selectors
from trials.audit import audited, require_reason
from trials.models import (
    LabResult,
    Patient,
    User,
)

logger = logging.getLogger(__name__)


def _baseline(lab: LabResult, first_dose: date | None) -> Decimal | None:
    """The patient's last value of the analyte on or before the first dose (or before this
    result, when there is no dose yet), for terms graded against a baseline."""
    cutoff = first_dose or lab.collected_on
    return (
        LabResult.objects.filter(
            patient_id=lab.patient_id,
            analyte=lab.analyte,
            collected_on__lte=cutoff,
            value__isnull=False,
        )
        .exclude(pk=lab.pk)
        .order_by("-collected_on", "-id")
        .values_list("value", flat=True)
        .first()
    )


@transaction.atomic
def safety_grade_lab_results(
    *,
    patient: Patient,
    lab_result_ids: Iterable[int],
    acting_user: User | None,
) -> list[LabGradeSuggestion]:
    """Grade lab rows by the trial's CTCAE version; suggest grade >= 3 results as AEs.

    Uses each row's canonical value and unit and its LLN/ULN (site or result limits). A
    corrected row updates its pending suggestion, or withdraws it when the grade falls below 3;
    a suggestion already confirmed or dismissed is left as decided. Idempotent.
    """
    patient = Patient.objects.select_related("trial").get(pk=patient.pk)
    version = selectors.ctcae_version_for(patient.trial)
    first_dose = trial_selectors.first_dose_date(patient)
    labs = list(
        LabResult.objects.filter(patient=patient, pk__in=list(lab_result_ids)).order_by("id")
    )
    touched: list[LabGradeSuggestion] = []
    with audited(acting_user=acting_user, reason="lab result graded (CTCAE)"):
        for lab in labs:
            term_name = lab_term_for(lab.analyte, version)
            if term_name is None or lab.value is None:
                continue
            term = selectors.ctcae_term_by_name(version, term_name)
            if term is None:
                continue
            baseline = _baseline(lab, first_dose) if lab.analyte in BASELINE_ANALYTES else None
            try:
                graded = grade_lab_value(
                    term_name,
                    lab.value,
                    lab.unit,
                    lln=lab.lln,
                    uln=lab.uln,
                    baseline=baseline,
                    ctcae_version=version,
                )
            except LabGradingError as exc:
                logger.warning(
                    "lab result not graded",
                    extra={"lab_result": lab.pk, "analyte": lab.analyte, "error": str(exc)},
                )
                continue
            existing = LabGradeSuggestion.objects.filter(lab_result=lab, ctcae_term=term).first()
            if graded.grade < SUGGESTION_MIN_GRADE:
                if existing is not None and existing.status == SuggestionStatus.PENDING:
                    existing.status = SuggestionStatus.WITHDRAWN
                    existing.version += 1
                    existing.save(update_fields=["status", "version"])
                    touched.append(existing)
                continue
            values = {
                "grade": graded.grade,
                "collected_on": lab.collected_on,
                "value": lab.value,
                "unit": lab.unit,
                "rule_text": graded.rule_text,
            }
            if existing is None:
                touched.append(
                    LabGradeSuggestion.objects.create(
                        lab_result=lab, patient=patient, ctcae_term=term, **values
                    )
                )
            elif existing.status == SuggestionStatus.WITHDRAWN or (
                existing.status == SuggestionStatus.PENDING
                and any(getattr(existing, k) != v for k, v in values.items())
            ):
                for k, v in values.items():
                    setattr(existing, k, v)
                existing.status = SuggestionStatus.PENDING
                existing.version += 1
                existing.save()
                touched.append(existing)
    return touched


def safety_grade_lab_results_after_commit(
    *, patient: Patient, lab_result_ids: Iterable[int], acting_user: User | None
) -> None:
    """Grade lab rows in the background once the saving transaction commits (the trials app's
    alternative to calling :func:`safety_grade_lab_results` inline)."""
    from safety.tasks import grade_lab_results

    enqueue_on_commit(
        grade_lab_results,
        patient.pk,
        list(lab_result_ids),
        getattr(acting_user, "pk", None),
    )


@transaction.atomic
def lab_suggestion_confirm(
    *,
    suggestion: LabGradeSuggestion,
    acting_user: User,
    expected_version: int | None = None,
    existing_event: AdverseEvent | None = None,
    reason: str = "",
    today: date | None = None,
    now: datetime | None = None,
    **event_fields: Any,
) -> AdverseEvent:
    """Confirm a suggestion: a new adverse event prefilled from the lab (term, grade, onset =
    collection date), or, with ``existing_event``, a grade change on that event."""
    today, now = _today(today), _now(now)
    locked = LabGradeSuggestion.objects.select_for_update().get(pk=suggestion.pk)
    _check_version(locked, expected_version, "lab suggestion")
    if locked.status != SuggestionStatus.PENDING:
        raise ValidationError(
            {"non_field_errors": f"This suggestion is already {locked.get_status_display()}."}
        )
    patient = Patient.objects.select_related("trial", "site").get(pk=locked.patient_id)
    if existing_event is not None:
        if existing_event.patient_id != patient.pk:
            raise ValidationError({"existing_event": "That event is another patient's."})
        ae = adverse_event_grade_change(
            adverse_event=existing_event,
            grade=locked.grade,
            on_date=locked.collected_on,
            acting_user=acting_user,
            reason=reason or f"lab result graded {locked.grade} confirmed",
            expected_version=None,
            today=today,
            now=now,
        )
    else:
        event_fields.setdefault("verbatim", f"{locked.ctcae_term.term} (lab: {locked.rule_text})")
        ae = adverse_event_create(
            patient=patient,
            meddra_code=locked.ctcae_term.meddra_code,
            onset_date=event_fields.pop("onset_date", locked.collected_on),
            grade=event_fields.pop("grade", locked.grade),
            acting_user=acting_user,
            today=today,
            now=now,
            **event_fields,
        )
    with audited(acting_user=acting_user, reason="lab suggestion confirmed"):
        locked.status = SuggestionStatus.CONFIRMED
        locked.adverse_event = ae
        locked.decided_by = acting_user
        locked.decided_at = now
        locked.decision_reason = (reason or "").strip()
        locked.version += 1
        locked.save()
    return ae


@transaction.atomic
def lab_suggestion_dismiss(
    *,
    suggestion: LabGradeSuggestion,
    reason: str,
    acting_user: User,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> LabGradeSuggestion:
    """Dismiss a suggestion (e.g. a haemolysed sample, already recorded) with the reason."""
    reason = require_reason(reason)
    locked = LabGradeSuggestion.objects.select_for_update().get(pk=suggestion.pk)
    _check_version(locked, expected_version, "lab suggestion")
    if locked.status != SuggestionStatus.PENDING:
        raise ValidationError(
            {"non_field_errors": f"This suggestion is already {locked.get_status_display()}."}
        )
    with audited(acting_user=acting_user, reason=reason):
        locked.status = SuggestionStatus.DISMISSED
        locked.decision_reason = reason
        locked.decided_by = acting_user
        locked.decided_at = _now(now)
        locked.version += 1
        locked.save()
    return locked
