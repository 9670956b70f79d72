"""The investigator's response entries, the query workflow and the signature of the final
response."""

from __future__ import annotations

import logging
from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from response import selectors
from response.domain.imwg_discrepancy import PD_BASES
from response.domain.queries import (
    INVESTIGATOR,
    QueryStatus,
    QueryTransitionError,
    check_query_transition,
)
from response.domain.recist_discrepancy import RECIST_CATEGORIES
from response.models import (
    EntryScope,
    InvestigatorResponse,
    PatientResponse,
    ResponseQuery,
    ResponseSignature,
    ResponseTimepoint,
)
from response.models.entries import SignatureMeaning
from response.services.common import Errors, check_version, require_patient_role
from response.services.sync import (
    IMWG_CATEGORIES,
    content_hash,
    signable_content,
    sync_queries,
    void_stale_signature,
)
from trials.audit import audited, require_reason
from trials.models import Patient, User

__all__ = [
    "apply_query_transition",
    "investigator_response_record",
    "query_transition",
    "response_sign",
    "signable_content",
]

logger = logging.getLogger(__name__)


def _lock_patient(patient: Patient) -> Patient:
    return (
        Patient.objects.select_for_update(of=("self",))
        .select_related("trial", "site")
        .get(pk=patient.pk)
    )


@transaction.atomic
def investigator_response_record(
    *,
    patient: Patient,
    scope: str,
    category: str,
    acting_user: User,
    assessment_date: date | None = None,
    pd_basis: str = "",
    note: str = "",
    reason: str | None = None,
    expected_version: int | None = None,
) -> InvestigatorResponse:
    """Record (or correct) the investigator's call at one assessment date, or their best
    overall response. It is kept beside the computed call, never replaced by it; every
    disagreement is raised as a query, and a signature of the old entries is voided.

    The first entry needs no reason; a correction does, with the version it started from.
    """
    require_patient_role(acting_user, patient, selectors.INVESTIGATOR_ROLES, "enter responses")
    locked = _lock_patient(patient)
    computed = PatientResponse.objects.filter(patient=locked).first()
    errors = Errors()
    if computed is None:
        raise ValidationError(
            {
                "non_field_errors": f"{locked.label} has no computed response yet: enter the labs "
                "(or lesions) of an assessment first."
            }
        )
    allowed = IMWG_CATEGORIES if computed.criteria.startswith("IMWG") else RECIST_CATEGORIES
    if scope not in EntryScope.values:
        errors.add("scope", "Choose an assessment date or the best overall response.")
    if category not in allowed:
        errors.add("category", f"Choose one of {', '.join(sorted(allowed))} ({computed.criteria}).")
    pd_basis = (pd_basis or "").strip()
    if pd_basis and category != "PD":
        errors.add("pd_basis", "The basis is given only for PD.")
    if pd_basis and pd_basis not in PD_BASES:
        errors.add("pd_basis", f"Choose one of {', '.join(sorted(PD_BASES))}.")
    if scope == EntryScope.ASSESSMENT:
        if assessment_date is None:
            errors.add("assessment_date", "Give the assessment date.")
        elif not ResponseTimepoint.objects.filter(
            patient=locked, assessment_date=assessment_date
        ).exists():
            errors.add(
                "assessment_date",
                f"{assessment_date:%Y-%m-%d} is not an assessment of {locked.label}.",
            )
    elif assessment_date is not None:
        errors.add("assessment_date", "The best overall response has no assessment date.")
    errors.raise_if_any()

    lookup = {"patient": locked, "scope": scope}
    if scope == EntryScope.ASSESSMENT:
        lookup["assessment_date"] = assessment_date
    existing = InvestigatorResponse.objects.select_for_update().filter(**lookup).first()
    now = timezone.now()
    if existing is None:
        with audited(acting_user=acting_user, reason="investigator response entered"):
            entry = InvestigatorResponse.objects.create(
                **lookup,
                category=category,
                pd_basis=pd_basis,
                note=note or "",
                entered_by=acting_user,
                entered_at=now,
            )
            sync_queries(locked)
            void_stale_signature(locked, why="the investigator's entries changed")
        return entry
    check_version(existing, expected_version, "response entry")
    if (existing.category, existing.pd_basis, existing.note) == (category, pd_basis, note or ""):
        return existing
    reason = require_reason(reason)
    with audited(acting_user=acting_user, reason=reason):
        existing.category, existing.pd_basis, existing.note = category, pd_basis, note or ""
        existing.entered_by, existing.entered_at = acting_user, now
        existing.version += 1
        existing.save()
        sync_queries(locked)
        void_stale_signature(locked, why="the investigator's entries changed")
    return existing


def apply_query_transition(
    query: ResponseQuery,
    to_status: str,
    *,
    actors: set[str],
    acting_user: User | None,
    text: str,
) -> ResponseQuery:
    """The one place a query's status changes (the caller holds the transaction)."""
    try:
        target = check_query_transition(query.status, to_status, actors=actors)
    except QueryTransitionError as exc:
        raise ValidationError({exc.field: exc.message}) from None
    now = timezone.now()
    if target == QueryStatus.ANSWERED:
        query.answer, query.answered_by, query.answered_at = text, acting_user, now
    elif target in (QueryStatus.CLOSED, QueryStatus.WITHDRAWN):
        query.resolution, query.closed_by, query.closed_at = text, acting_user, now
    elif target == QueryStatus.OPEN:  # re-opened: the answer did not resolve it
        query.resolution = text
    query.status = target.value
    query.version += 1
    reason = f"query {target.value}: {text}"
    with audited(acting_user=acting_user, reason=reason[:500]):
        query.save()
    return query


@transaction.atomic
def query_transition(
    *,
    query: ResponseQuery,
    to_status: str,
    text: str,
    acting_user: User,
    expected_version: int | None = None,
) -> ResponseQuery:
    """Answer, close or re-open a query (see ``response.domain.queries`` for who may do what).

    ``text`` is the answer (to ``answered``), the resolution (to ``closed``) or why the answer
    does not resolve it (back to ``open``); it is required and kept in the audit trail.
    """
    locked = (
        ResponseQuery.objects.select_for_update()
        .select_related("patient__trial", "patient__site")
        .get(pk=query.pk)
    )
    roles = selectors.patient_roles(acting_user, locked.patient)
    actors = roles & set(selectors.QUERY_ANSWER_ROLES)
    if not actors:
        raise PermissionDenied("Only the site's coordinators and the investigators act on queries.")
    check_version(locked, expected_version, "query")
    cleaned = (text or "").strip()
    if len(cleaned) < 3:
        field = {"answered": "answer", "closed": "resolution"}.get(to_status, "reason")
        raise ValidationError({field: "Say what was found or done (it is kept in the record)."})
    if to_status in (QueryStatus.CLOSED, QueryStatus.OPEN) and INVESTIGATOR not in actors:
        raise PermissionDenied("Only an investigator closes or re-opens a query.")
    return apply_query_transition(
        locked, to_status, actors=actors, acting_user=acting_user, text=cleaned
    )


@transaction.atomic
def response_sign(
    *,
    patient: Patient,
    acting_user: User,
    meaning: str = SignatureMeaning.FINAL_RESPONSE,
) -> ResponseSignature:
    """The investigator signs the patient's final response.

    The caller has checked the electronic signature (password re-entered and, where required, an
    authenticator code: ``config.otp.verify_signature``) before this transaction. Signing needs
    a computed response, the investigator's best overall response and no open or answered query.
    The record keeps what was signed and its hash; a later change voids it.
    """
    require_patient_role(acting_user, patient, selectors.INVESTIGATOR_ROLES, "sign responses")
    locked = _lock_patient(patient)
    errors = Errors()
    if meaning not in SignatureMeaning.values:
        errors.add("meaning", "Choose what the signature means.")
    content = signable_content(locked)
    if content is None:
        errors.add("non_field_errors", f"{locked.label} has no computed response to sign.")
    elif not InvestigatorResponse.objects.filter(
        patient=locked, scope=EntryScope.BEST_OVERALL_RESPONSE
    ).exists():
        errors.add("non_field_errors", "Enter your best overall response before signing.")
    active = ResponseQuery.objects.filter(
        patient=locked, status__in=[QueryStatus.OPEN, QueryStatus.ANSWERED]
    ).count()
    if active:
        errors.add(
            "non_field_errors",
            f"{active} quer{'y is' if active == 1 else 'ies are'} still open or answered: close "
            "them before signing.",
        )
    errors.raise_if_any()
    digest = content_hash(content)
    current = (
        ResponseSignature.objects.select_for_update()
        .filter(patient=locked, voided_at__isnull=True)
        .first()
    )
    if current is not None and current.content_hash == digest:
        raise ValidationError({"non_field_errors": "This response is already signed as it is."})
    with audited(acting_user=acting_user, reason="final response signed"):
        if current is not None:  # pragma: no cover - a change voids it before we get here
            current.voided_at = timezone.now()
            current.void_reason = "Voided: replaced by a new signature."
            current.save(update_fields=["voided_at", "void_reason"])
        signature = ResponseSignature.objects.create(
            patient=locked,
            signed_by=acting_user,
            signed_at=timezone.now(),
            meaning=meaning,
            content=content,
            content_hash=digest,
        )
    logger.info(
        "response signed", extra={"patient": locked.pk, "user": acting_user.pk, "hash": digest}
    )
    return signature
