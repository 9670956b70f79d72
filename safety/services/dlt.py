"""DLT windows, potential DLTs and their adjudication.

The window opens at the first dose given and lasts the trial's ``dlt_window_days``; its
status comes from ``safety.domain.dlt_window.dlt_window_status``. An event that the trial's
DLT definition matches inside the window is a potential DLT, which an investigator confirms or
rejects with a reason and an e-signature. Every change that can alter the escalation decision
enqueues ``dosing.evaluate_escalation`` after commit."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from safety import selectors
from safety.domain import dlt_window as window_rules
from safety.domain.dlt_rules import (
    AdverseEventFacts,
    Attribution,
    DltDefinition,
    GradeEpisode,
    dlt_definition_from_data,
    dlt_definition_to_data,
    evaluate_ae_for_dlt,
)
from safety.models import (
    AdjudicationDecision,
    AdverseEvent,
    AdverseEventAttribution,
    AdverseEventGrade,
    DltAdjudication,
    DltDefinitionVersion,
    DltWindow,
    DltWindowState,
    PotentialDlt,
    PotentialDltStatus,
)
from safety.services._common import (
    _check_version,
    _dlt_subject,
    _enqueue_escalation,
    _Errors,
    _now,
    _sign,
    _today,
    _void_signature,
)
from trials import selectors as trial_selectors
from trials.audit import audited, require_reason
from trials.domain.dosing import RECEIVED, DoseStatus
from trials.domain.transitions import OffTreatmentReason, PatientStatus
from trials.models import (
    DoseAdministration,
    Patient,
    PatientStatusChange,
    ProtocolVersion,
    Trial,
    User,
)

logger = logging.getLogger(__name__)


@transaction.atomic
def dlt_definition_set(
    *,
    trial: Trial,
    protocol_version: ProtocolVersion,
    data: Mapping[str, Any],
    acting_user: User,
    reason: str,
) -> DltDefinitionVersion:
    """Store the trial's DLT definition as of ``protocol_version`` (validated by the rules'
    loader; its window must be the design's ``dlt_window_days``)."""
    reason = require_reason(reason)
    if protocol_version.trial_id != trial.pk:
        raise ValidationError({"protocol_version": "That protocol version is another trial's."})
    try:
        definition = dlt_definition_from_data(data)
    except (ValueError, LookupError, KeyError, TypeError) as exc:
        raise ValidationError({"definition": str(exc)}) from None
    design = trial_selectors.trial_design(trial, on=protocol_version.effective_date)
    errors = _Errors()
    if definition.window_days != design.dlt_window_days:
        errors.add(
            "definition",
            f"The definition's window ({definition.window_days} days) differs from the "
            f"protocol's DLT window ({design.dlt_window_days} days).",
        )
    if definition.ctcae_version != design.ctcae_version:
        errors.add(
            "definition",
            f"The definition uses CTCAE v{definition.ctcae_version}; the trial grades with "
            f"v{design.ctcae_version}.",
        )
    errors.raise_if_any()
    with audited(acting_user=acting_user, reason=reason):
        row, _ = DltDefinitionVersion.objects.update_or_create(
            trial=trial,
            protocol_version=protocol_version,
            defaults={
                "definition": dlt_definition_to_data(definition),
                "reason": reason,
                "created_by": acting_user,
            },
        )
    return row


_OFF_TREATMENT = {
    OffTreatmentReason.ADVERSE_EVENT: window_rules.OffTreatmentReason.TOXICITY,
    OffTreatmentReason.DLT: window_rules.OffTreatmentReason.TOXICITY,
    OffTreatmentReason.PROGRESSION: window_rules.OffTreatmentReason.PROGRESSION,
    OffTreatmentReason.DEATH: window_rules.OffTreatmentReason.DEATH,
    OffTreatmentReason.PATIENT_DECISION: window_rules.OffTreatmentReason.WITHDRAWAL,
    OffTreatmentReason.CONSENT_WITHDRAWN: window_rules.OffTreatmentReason.WITHDRAWAL,
    OffTreatmentReason.INVESTIGATOR_DECISION: window_rules.OffTreatmentReason.WITHDRAWAL,
    OffTreatmentReason.NON_COMPLIANCE: window_rules.OffTreatmentReason.WITHDRAWAL,
}


def _minimum_exposure(trial: Trial, on: date) -> window_rules.MinimumExposureRule:
    escalation = trial_selectors.trial_design(trial, on=on).escalation
    if escalation is None:
        return window_rules.MinimumExposureRule()
    rule = escalation.minimum_exposure
    return window_rules.MinimumExposureRule(
        min_fraction_of_planned_doses=Fraction(str(rule.min_fraction_of_planned_doses)),
        doses_held_for_toxicity_count=rule.doses_held_for_toxicity_count,
        off_treatment_for_toxicity_is_evaluable=rule.off_treatment_for_toxicity_is_evaluable,
    )


def _planned_doses(trial: Trial, *, on: date, length_days: int) -> int:
    """Agent doses the protocol plans in cycle 1 inside the window (one per agent and visit
    day on which that agent's dose is recorded)."""
    design = trial_selectors.trial_design(trial, on=on)
    days = [d for d in design.visit_schedule.cycle_1_visit_days if d <= length_days]
    planned = sum(
        1 for agent in trial_selectors.trial_agents(trial) for d in days if agent.recorded_on(d)
    )
    return max(planned, 1)


def _course(window: DltWindow, patient: Patient) -> window_rules.DltCourse:
    closes_on = window.last_day + timedelta(days=1)
    doses = DoseAdministration.objects.filter(
        visit__patient=patient,
        visit__visit_date__gte=window.opens_on,
        visit__visit_date__lt=closes_on,
    ).values_list("status", flat=True)
    statuses = list(doses)
    received = sum(1 for s in statuses if s in {r.value for r in RECEIVED})
    held = sum(1 for s in statuses if s == DoseStatus.HELD)
    confirmed = tuple(
        PotentialDlt.objects.filter(
            dlt_window=window, status=PotentialDltStatus.CONFIRMED
        ).values_list("toxicity_onset", flat=True)
    )
    off = (
        PatientStatusChange.objects.filter(patient=patient, to_status=PatientStatus.OFF_TREATMENT)
        .order_by("effective_date", "id")
        .first()
    )
    off_date = off.effective_date if off else None
    off_reason = None
    if off is not None:
        off_reason = _OFF_TREATMENT.get(off.reason_code, window_rules.OffTreatmentReason.OTHER)
    return window_rules.DltCourse(
        first_dose_date=window.opens_on,
        planned_doses=window.planned_doses,
        doses_received=received,
        doses_held_for_toxicity=held,
        confirmed_dlt_dates=confirmed,
        off_treatment_date=off_date,
        off_treatment_reason=off_reason,
    )


def _refresh_window(window: DltWindow, patient: Patient, *, today: date, now: datetime) -> bool:
    """Re-evaluate the window's status; True when the status changed (callers enqueue the
    escalation evaluation). The only place a window's status is written."""
    course = _course(window, patient)
    result = window_rules.dlt_window_status(
        course,
        length_days=window.length_days,
        rule=_minimum_exposure(patient.trial, window.opens_on),
        today=today,
    )
    changed = result.status.value != window.status
    fields = {
        "status": result.status.value,
        "reason": result.reason,
        "doses_received": course.doses_received,
        "doses_held": course.doses_held_for_toxicity,
        "evaluated_on": today,
        "closed_at": (
            None
            if result.status is window_rules.DltWindowStatus.PENDING
            else (window.closed_at if not changed and window.closed_at else now)
        ),
    }
    if any(getattr(window, k) != v for k, v in fields.items()):
        for k, v in fields.items():
            setattr(window, k, v)
        window.version += 1
        window.save()
    if changed:
        logger.info(
            "DLT window status changed",
            extra={"patient": patient.pk, "status": window.status, "window": window.pk},
        )
    return changed


def _first_received_dose(patient: Patient) -> DoseAdministration | None:
    return (
        DoseAdministration.objects.filter(
            visit__patient=patient,
            visit__visit_date__isnull=False,
            status__in=[s.value for s in RECEIVED],
        )
        .select_related("visit")
        .order_by("visit__visit_date", "id")
        .first()
    )


@transaction.atomic
def safety_on_doses_recorded(
    *,
    patient: Patient,
    acting_user: User | None,
    today: date | None = None,
    now: datetime | None = None,
) -> DltWindow | None:
    """Doses were saved: open the DLT window at the first dose given (or move it when the
    first dose's date was corrected), count the exposure and re-evaluate. Idempotent."""
    today, now = _today(today), _now(now)
    patient = Patient.objects.select_related("trial", "site").get(pk=patient.pk)
    first = _first_received_dose(patient)
    window = DltWindow.objects.select_for_update().filter(patient=patient).first()
    if first is None:
        return window
    opens_on = first.visit.visit_date
    moved = window is not None and (
        window.opens_on != opens_on or window.dose_level_id != first.dose_level_id
    )
    if window is None or moved:
        # Read only when the window opens or moves, not at every later dose.
        length = trial_selectors.trial_design(patient.trial, on=opens_on).dlt_window_days
        definition_id = selectors.dlt_definition_for(patient.trial, on=opens_on).id
    reflag = False
    with audited(acting_user=acting_user, reason="doses recorded: DLT window"):
        if window is None:
            window = DltWindow.objects.create(
                patient=patient,
                dose_level_id=first.dose_level_id,
                opens_on=opens_on,
                length_days=length,
                last_day=opens_on + timedelta(days=length - 1),
                planned_doses=_planned_doses(patient.trial, on=opens_on, length_days=length),
                definition_id=definition_id,
                evaluated_on=today,
            )
            reflag = True
        elif moved:
            window.opens_on = opens_on
            window.length_days = length
            window.last_day = opens_on + timedelta(days=length - 1)
            window.dose_level_id = first.dose_level_id
            window.planned_doses = _planned_doses(patient.trial, on=opens_on, length_days=length)
            window.definition_id = definition_id
            window.version += 1
            window.save()
            reflag = True
        changed = False
        if reflag:
            # Events recorded before the window opened (or moved) are judged against it now.
            for ae in AdverseEvent.objects.filter(patient=patient).select_related("patient"):
                changed |= _dlt_flag(
                    ae, acting_user=acting_user, today=today, now=now, window=window, refresh=False
                )
        changed |= _refresh_window(window, patient, today=today, now=now)
    if changed:
        _enqueue_escalation(patient.trial_id)
    return window


@transaction.atomic
def safety_on_patient_status_changed(
    *, patient: Patient, acting_user: User | None, today: date | None = None
) -> DltWindow | None:
    """The patient's status changed (e.g. off treatment inside the window): re-evaluate."""
    return dlt_window_evaluate(patient=patient, acting_user=acting_user, today=today)


@transaction.atomic
def dlt_window_evaluate(
    *,
    patient: Patient,
    acting_user: User | None,
    today: date | None = None,
    now: datetime | None = None,
    reason: str = "DLT window re-evaluated",
) -> DltWindow | None:
    """Re-judge the patient's events (durations as of ``today``) and the window's status."""
    today, now = _today(today), _now(now)
    patient = Patient.objects.select_related("trial", "site").get(pk=patient.pk)
    window = DltWindow.objects.select_for_update().filter(patient=patient).first()
    if window is None:
        return None
    changed = False
    with audited(acting_user=acting_user, reason=reason):
        if window.status == DltWindowState.PENDING:
            for ae in AdverseEvent.objects.filter(patient=patient).select_related("patient"):
                changed |= _dlt_flag(
                    ae, acting_user=acting_user, today=today, now=now, window=window, refresh=False
                )
        changed |= _refresh_window(window, patient, today=today, now=now)
    if changed:
        _enqueue_escalation(patient.trial_id)
    return window


def dlt_windows_sweep(*, today: date | None = None) -> int:
    """The daily sweep: every pending window is re-evaluated (ongoing toxicities measured up to
    today, windows past their last day closed). One transaction per patient; returns how many
    windows changed status. Idempotent."""
    today = _today(today)
    changed = 0
    pending = DltWindow.objects.filter(
        status=DltWindowState.PENDING, opens_on__lte=today
    ).values_list("patient_id", "status")
    for patient_id, before in list(pending):
        window = dlt_window_evaluate(
            patient=Patient(pk=patient_id),
            acting_user=None,
            today=today,
            reason="daily DLT window sweep",
        )
        if window is not None and window.status != before:
            changed += 1
    return changed


def _facts(ae: AdverseEvent) -> AdverseEventFacts:
    episodes = tuple(
        GradeEpisode(e.grade, e.onset_date, e.resolved_on)
        for e in AdverseEventGrade.objects.filter(adverse_event=ae).order_by("onset_date")
    )
    attribution = {
        a.agent.code: Attribution.parse(a.attribution)
        for a in AdverseEventAttribution.objects.filter(adverse_event=ae).select_related("agent")
    }
    return AdverseEventFacts(
        term=ae.term,
        soc=ae.soc,
        episodes=episodes,
        attribution=attribution,
        with_bleeding=ae.with_bleeding,
        with_fever=ae.with_fever,
        with_transfusion=ae.with_transfusion,
        controlled_within_hours=(
            None if ae.controlled_within_hours is None else float(ae.controlled_within_hours)
        ),
        cycle2_delay_days=ae.cycle2_delay_days,
    )


def _toxicity_onset(
    facts: AdverseEventFacts,
    definition: DltDefinition,
    rule_ids: Sequence[str],
    window: window_rules.DltWindow,
) -> date:
    """The first in-window date a matched rule's grade was reached (the AE onset otherwise)."""
    dates = []
    for rule_id in rule_ids:
        rule = definition.rule(rule_id)
        if rule.min_grade is None:
            dates.append(facts.onset)
            continue
        reached = [
            e.onset
            for e in facts.episodes
            if e.grade >= rule.min_grade and window.contains(e.onset)
        ]
        dates.append(min(reached) if reached else facts.onset)
    return min(dates) if dates else facts.onset


def _void_adjudication(
    potential: PotentialDlt, *, reason: str, now: datetime
) -> DltAdjudication | None:
    adjudication = (
        DltAdjudication.objects.select_for_update()
        .filter(potential_dlt=potential, voided_at__isnull=True)
        .select_related("signature")
        .first()
    )
    if adjudication is None:
        return None
    adjudication.voided_at = now
    adjudication.save(update_fields=["voided_at"])
    _void_signature(adjudication.signature, reason=reason, now=now)
    return adjudication


def _dlt_flag(
    ae: AdverseEvent,
    *,
    acting_user: User | None,
    today: date,
    now: datetime,
    window: DltWindow | None = None,
    refresh: bool = True,
) -> bool:
    """Flag (or update, or withdraw) the event's potential DLT. Returns True when the
    escalation picture changed (a confirmed DLT voided, or the window status changed)."""
    if window is None:
        window = DltWindow.objects.select_for_update().filter(patient_id=ae.patient_id).first()
    if window is None:
        return False
    patient = Patient.objects.select_related("trial").get(pk=ae.patient_id)
    definition = selectors.dlt_definition_for(patient.trial, on=window.opens_on)
    span = window_rules.DltWindow(window.opens_on, window.length_days)
    facts = _facts(ae)
    flag = evaluate_ae_for_dlt(facts, definition, span, as_of=today)
    potential = PotentialDlt.objects.select_for_update().filter(adverse_event=ae).first()
    escalation_changed = False
    if flag.potential:
        onset = _toxicity_onset(facts, definition, flag.rule_ids, span)
        subject = _dlt_subject(ae, rule_ids=flag.rule_ids, toxicity_onset=onset)
        values = {
            "dlt_window": window,
            "rule_ids": list(flag.rule_ids),
            "reasons": [*flag.reasons, *flag.missing],
            "toxicity_onset": onset,
        }
        if potential is None:
            PotentialDlt.objects.create(
                adverse_event=ae, status=PotentialDltStatus.PENDING, flagged_at=now, **values
            )
            logger.info(
                "potential DLT flagged",
                extra={"adverse_event": ae.pk, "rules": ",".join(flag.rule_ids)},
            )
        else:
            adjudication = (
                DltAdjudication.objects.filter(potential_dlt=potential, voided_at__isnull=True)
                .select_related("signature")
                .first()
            )
            signed_changed = (
                adjudication is not None
                and adjudication.signature.payload.get("subject") != subject
            )
            reopen = signed_changed or potential.status == PotentialDltStatus.WITHDRAWN
            if signed_changed:
                _void_adjudication(
                    potential, reason="the adverse event changed after adjudication", now=now
                )
                escalation_changed |= potential.status == PotentialDltStatus.CONFIRMED
            new_status = PotentialDltStatus.PENDING if reopen else potential.status
            if (
                any(getattr(potential, k) != v for k, v in values.items())
                or new_status != potential.status
            ):
                for k, v in values.items():
                    setattr(potential, k, v)
                potential.status = new_status
                potential.version += 1
                potential.save()
    elif potential is not None and potential.status != PotentialDltStatus.WITHDRAWN:
        was_confirmed = potential.status == PotentialDltStatus.CONFIRMED
        _void_adjudication(
            potential, reason="the adverse event no longer matches the DLT definition", now=now
        )
        potential.status = PotentialDltStatus.WITHDRAWN
        potential.reasons = [*flag.reasons, *flag.missing]
        potential.version += 1
        potential.save()
        escalation_changed |= was_confirmed
    if refresh:
        escalation_changed |= _refresh_window(window, patient, today=today, now=now)
        if escalation_changed:
            _enqueue_escalation(patient.trial_id)
    return escalation_changed


@transaction.atomic
def potential_dlt_adjudicate(
    *,
    potential_dlt: PotentialDlt,
    decision: str,
    reason: str,
    signer: User,
    meaning: str,
    acting_user: User,
    expected_version: int | None,
    signature_method: str = "password",
    today: date | None = None,
    now: datetime | None = None,
) -> DltAdjudication:
    """An investigator confirms or rejects a potential DLT, with a reason and an e-signature.

    ``signer`` has already been verified (password re-entered, and the second factor when the
    user has one); the signature stores the meaning and a hash of the adjudicated data. The
    escalation evaluation is enqueued after commit.
    """
    today, now = _today(today), _now(now)
    reason = require_reason(reason)
    if signer.pk != acting_user.pk:
        raise PermissionDenied("Only the signer may record their own adjudication.")
    # Lock order: DLT window, then potential DLT (as the event services take them).
    window = DltWindow.objects.select_for_update().get(pk=potential_dlt.dlt_window_id)
    locked = (
        PotentialDlt.objects.select_for_update(of=("self",))
        .select_related("adverse_event__patient__trial", "adverse_event__patient__site")
        .get(pk=potential_dlt.pk)
    )
    patient = locked.adverse_event.patient
    if not selectors.can_sign(signer, patient):
        raise PermissionDenied("Only an investigator of the patient's site adjudicates DLTs.")
    _check_version(locked, expected_version, "potential DLT")
    if decision not in AdjudicationDecision.values:
        raise ValidationError({"decision": "Confirm or reject."})
    if locked.status != PotentialDltStatus.PENDING:
        raise ValidationError(
            {"non_field_errors": f"This potential DLT is {locked.get_status_display()}."}
        )
    payload = {
        "kind": "dlt_adjudication",
        "potential_dlt": locked.pk,
        "subject": _dlt_subject(
            locked.adverse_event, rule_ids=locked.rule_ids, toxicity_onset=locked.toxicity_onset
        ),
        "decision": decision,
        "reason": reason,
    }
    with audited(acting_user=acting_user, reason=reason):
        signature = _sign(
            signer=signer,
            meaning=meaning,
            method=signature_method,
            subject_kind="potential_dlt",
            subject_id=locked.pk,
            payload=payload,
            now=now,
        )
        adjudication = DltAdjudication.objects.create(
            potential_dlt=locked,
            decision=decision,
            reason=reason,
            adjudicated_by=signer,
            adjudicated_at=now,
            signature=signature,
        )
        locked.status = decision
        locked.version += 1
        locked.save(update_fields=["status", "version", "updated_at"])
        _refresh_window(window, patient, today=today, now=now)
    # A confirmed or rejected DLT always changes what the escalation engine counts.
    _enqueue_escalation(patient.trial_id)
    logger.info(
        "potential DLT adjudicated",
        extra={"potential_dlt": locked.pk, "decision": decision, "signer": signer.pk},
    )
    return adjudication
