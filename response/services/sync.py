"""What follows a change to a patient's response data: the queries (discrepancies between the
computed call and the investigator's entries, IMWG note 5.5) are raised or withdrawn, and a
signature of data that changed is voided. Called inside the writing service's transaction."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.utils import timezone

from response.domain.imwg import ImwgInput, evaluate
from response.domain.imwg_discrepancy import (
    DiscrepancyFlag,
    EnteredResponse,
    classify_discrepancies,
)
from response.domain.imwg_rules import Category
from response.domain.queries import QueryStatus
from response.domain.recist_discrepancy import classify_recist_discrepancies
from response.models import (
    EntryScope,
    InvestigatorResponse,
    PatientResponse,
    ResponseQuery,
    ResponseSignature,
    ResponseTimepoint,
)
from trials.models import Patient

IMWG_CATEGORIES = frozenset(c.value for c in Category)


def _iso(d: Any) -> str:
    return d.isoformat() if d is not None else ""


def discrepancy_key(d: Any) -> str:
    """What identifies one disagreement: the same key is never raised twice while active."""
    parts = [str(d.flag), str(d.scope), _iso(d.date), str(d.entered or ""), str(d.computed or "")]
    if d.flag == DiscrepancyFlag.RULESET_MISMATCH:
        parts.append(d.detail.split(":", 1)[0])  # "under nadir_policy=lowest_confirmed"
    return "|".join(parts)[:200]


def current_discrepancies(patient: Patient) -> list[Any]:
    """The discrepancies the stored computed response and the entries show now."""
    response = PatientResponse.objects.filter(patient=patient).first()
    if response is None:
        return []
    entries = list(InvestigatorResponse.objects.filter(patient=patient))
    bor_entry = next((e for e in entries if e.scope == EntryScope.BEST_OVERALL_RESPONSE), None)
    per_date = [e for e in entries if e.scope == EntryScope.ASSESSMENT]
    if not response.criteria.startswith("IMWG"):
        timepoints = dict(
            ResponseTimepoint.objects.filter(patient=patient).values_list(
                "assessment_date", "timepoint"
            )
        )
        return list(
            classify_recist_discrepancies(
                timepoints=timepoints,
                best_overall_response=response.best_overall_response,
                entered=[
                    (e.assessment_date, e.category)
                    for e in per_date
                    if e.assessment_date in timepoints
                ],
                entered_bor=bor_entry.category if bor_entry else None,
            )
        )
    case = ImwgInput.from_dict(response.engine_input)
    result = evaluate(case)
    dates = {a.date for a in result.assessments}
    entered = [
        EnteredResponse(e.assessment_date, e.category, e.pd_basis or None)
        for e in per_date
        if e.assessment_date in dates and e.category in IMWG_CATEGORIES
    ]
    bor = bor_entry.category if bor_entry and bor_entry.category in IMWG_CATEGORIES else None
    return list(classify_discrepancies(case, result, entered=entered, entered_bor=bor))


def sync_queries(patient: Patient) -> tuple[int, int]:
    """Raise a query for each new discrepancy and withdraw the active ones that no longer
    apply. A closed query is not raised again for the same disagreement. Returns (raised,
    withdrawn)."""
    from response.services.entries import apply_query_transition

    wanted: dict[str, Any] = {}
    for d in current_discrepancies(patient):
        wanted.setdefault(discrepancy_key(d), d)
    existing = list(ResponseQuery.objects.select_for_update().filter(patient=patient))
    active = {q.key: q for q in existing if q.is_active}
    closed = {q.key for q in existing if q.status == QueryStatus.CLOSED}
    now = timezone.now()
    raised = withdrawn = 0
    for key, d in wanted.items():
        if key in active:
            query = active[key]
            if query.detail != d.detail:
                query.detail = d.detail
                query.version += 1
                query.save(update_fields=["detail", "version"])
            continue
        if key in closed:
            continue
        ResponseQuery.objects.create(
            patient=patient,
            flag=str(d.flag),
            scope=str(d.scope),
            assessment_date=d.date,
            entered=str(d.entered) if d.entered is not None else None,
            computed=str(d.computed) if d.computed is not None else None,
            detail=d.detail,
            key=key,
            raised_at=now,
        )
        raised += 1
    for key, query in active.items():
        if key not in wanted:
            apply_query_transition(
                query,
                QueryStatus.WITHDRAWN,
                actors={"system"},
                acting_user=None,
                text="The discrepancy no longer applies after the latest data or entry.",
            )
            withdrawn += 1
    return raised, withdrawn


# --- Signatures -------------------------------------------------------------------------------


def signable_content(patient: Patient) -> dict[str, Any] | None:
    """Exactly what an investigator signs: the computed response (with its rule-set version and
    input hash), every computed call and every investigator entry."""
    response = PatientResponse.objects.filter(patient=patient).first()
    if response is None:
        return None
    timepoints = ResponseTimepoint.objects.filter(patient=patient).order_by("assessment_date")
    entries = InvestigatorResponse.objects.filter(patient=patient).order_by(
        "scope", "assessment_date"
    )
    return {
        "patient": patient.label,
        "criteria": response.criteria,
        "ruleset_version": response.ruleset_version,
        "input_hash": response.input_hash,
        "best_overall_response": response.best_overall_response,
        "best_response_date": _iso(response.best_response_date),
        "first_response_date": _iso(response.first_response_date),
        "progression_date": _iso(response.progression_date),
        "timepoints": [
            [_iso(t.assessment_date), t.timepoint, t.confirmed or ""] for t in timepoints
        ],
        "entries": [
            [e.scope, _iso(e.assessment_date), e.category, e.pd_basis, e.note] for e in entries
        ],
    }


def content_hash(content: dict[str, Any] | None) -> str:
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def void_stale_signature(patient: Patient, *, why: str) -> ResponseSignature | None:
    """Void the valid signature when what it signed is no longer what is stored."""
    signature = (
        ResponseSignature.objects.select_for_update()
        .filter(patient=patient, voided_at__isnull=True)
        .first()
    )
    if signature is None:
        return None
    if content_hash(signable_content(patient)) == signature.content_hash:
        return None
    signature.voided_at = timezone.now()
    signature.void_reason = f"Voided: {why} after signing."
    signature.save(update_fields=["voided_at", "void_reason"])
    return signature
