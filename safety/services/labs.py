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
from django.db.models import OuterRef, Q, Subquery

from config.enqueue import enqueue_on_commit
from safety import selectors
from safety.domain.lab_analytes import (
    BASELINE_ANALYTES,
    SUGGESTION_MIN_GRADE,
    lab_term_for,
)
from safety.domain.lab_grading import LabGrade, LabGradingError, grade_lab_value
from safety.models import (
    AdverseEvent,
    CtcaeTerm,
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

#: What grading writes on an existing suggestion.
_SUGGESTION_UPDATE_FIELDS = [
    "grade",
    "collected_on",
    "value",
    "unit",
    "rule_text",
    "status",
    "version",
]


def _terms_by_name(version: str, names: Iterable[str]) -> dict[str, CtcaeTerm]:
    """The version's CTCAE terms by name (matched case-insensitively, as
    :func:`safety.selectors.ctcae_term_by_name` does), in one query."""
    wanted = {name.strip().upper(): name for name in names}
    if not wanted:
        return {}
    match = Q()
    for key in wanted:
        match |= Q(term__iexact=key)
    found: dict[str, CtcaeTerm] = {}
    for term in CtcaeTerm.objects.filter(Q(version=version) & match):
        name = wanted.get(term.term.upper())
        if name is not None:
            found.setdefault(name, term)  # the first in the model's order, as ``.first()``
    return found


def _baselines(labs: list[LabResult], first_dose: date | None) -> dict[int, Decimal | None]:
    """Each lab's baseline, in one query: the patient's last value of the analyte on or before
    the first dose (or before this result, when there is no dose yet), the lab itself aside."""
    if not labs:
        return {}
    cutoff: Any = first_dose if first_dose is not None else OuterRef("collected_on")
    previous = (
        LabResult.objects.filter(
            patient_id=OuterRef("patient_id"),
            analyte=OuterRef("analyte"),
            collected_on__lte=cutoff,
            value__isnull=False,
        )
        .exclude(pk=OuterRef("pk"))
        .order_by("-collected_on", "-id")
        .values("value")[:1]
    )
    rows = (
        LabResult.objects.filter(pk__in=[lab.pk for lab in labs])
        .annotate(baseline=Subquery(previous, output_field=LabResult._meta.get_field("value")))
        .values_list("pk", "baseline")
    )
    return dict(rows)


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

    The cost does not grow with the number of rows: the terms, the baselines and the existing
    suggestions are each read in one query, and the suggestions are written in one insert and
    one update (the audit triggers fire for every row all the same).
    """
    patient = Patient.objects.select_related("trial").get(pk=patient.pk)
    version = selectors.ctcae_version_for(patient.trial)
    named: list[tuple[LabResult, str]] = []
    for lab in LabResult.objects.filter(patient=patient, pk__in=list(lab_result_ids)).order_by(
        "id"
    ):
        term_name = lab_term_for(lab.analyte, version)
        if term_name is not None and lab.value is not None:
            named.append((lab, term_name))
    if not named:
        return []
    terms = _terms_by_name(version, {term_name for _, term_name in named})
    named = [(lab, term_name) for lab, term_name in named if term_name in terms]
    with_baseline = [lab for lab, _ in named if lab.analyte in BASELINE_ANALYTES]
    baselines = (
        _baselines(with_baseline, trial_selectors.first_dose_date(patient)) if with_baseline else {}
    )

    graded_labs: list[tuple[LabResult, CtcaeTerm, LabGrade]] = []
    for lab, term_name in named:
        try:
            graded = grade_lab_value(
                term_name,
                lab.value,
                lab.unit,
                lln=lab.lln,
                uln=lab.uln,
                baseline=baselines.get(lab.pk),
                ctcae_version=version,
            )
        except LabGradingError as exc:
            logger.warning(
                "lab result not graded",
                extra={"lab_result": lab.pk, "analyte": lab.analyte, "error": str(exc)},
            )
            continue
        graded_labs.append((lab, terms[term_name], graded))
    if not graded_labs:
        return []

    existing_by_key = {
        (s.lab_result_id, s.ctcae_term_id): s
        for s in LabGradeSuggestion.objects.filter(
            lab_result_id__in=[lab.pk for lab, _, _ in graded_labs],
            ctcae_term_id__in={term.pk for _, term, _ in graded_labs},
        )
    }
    touched: list[LabGradeSuggestion] = []
    to_create: list[LabGradeSuggestion] = []
    to_update: list[LabGradeSuggestion] = []
    for lab, term, graded in graded_labs:
        existing = existing_by_key.get((lab.pk, term.pk))
        if graded.grade < SUGGESTION_MIN_GRADE:
            if existing is not None and existing.status == SuggestionStatus.PENDING:
                existing.status = SuggestionStatus.WITHDRAWN
                existing.version += 1
                to_update.append(existing)
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
            new = LabGradeSuggestion(lab_result=lab, patient=patient, ctcae_term=term, **values)
            to_create.append(new)
            touched.append(new)
        elif existing.status == SuggestionStatus.WITHDRAWN or (
            existing.status == SuggestionStatus.PENDING
            and any(getattr(existing, k) != v for k, v in values.items())
        ):
            for k, v in values.items():
                setattr(existing, k, v)
            existing.status = SuggestionStatus.PENDING
            existing.version += 1
            to_update.append(existing)
            touched.append(existing)
    with audited(acting_user=acting_user, reason="lab result graded (CTCAE)"):
        if to_create:
            LabGradeSuggestion.objects.bulk_create(to_create)
        if to_update:
            # One UPDATE for corrections and withdrawals; a withdrawal rewrites its values as
            # they are, so only its status and version change.
            LabGradeSuggestion.objects.bulk_update(to_update, _SUGGESTION_UPDATE_FIELDS)
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
