"""Every write of the dosing app: dose levels, enrolment slots, escalation decisions and their
signatures, operating-characteristics simulations.

Lock order (fixed, continuing the trials app's: trial → trial site → patient → visit → slots):
``Trial`` (only when a decision is signed, because the RP2D moves the trial to phase II) →
``TrialEscalation`` (the trial's escalation row: enrolment, evaluation and signing all take it,
so they are serialised per trial) → ``EscalationDecision``.

``assign_dose_level_for_enrolment`` runs inside the enrolment transaction (trials'
``patient_enrol`` is durable and calls it after locking the trial site and the patient), so it
cannot be durable itself: it takes the escalation row lock inside the caller's transaction,
and the lock is held until that transaction commits. Two enrolments at the same moment are
therefore served one after the other, and the second sees the first's slot.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from config.enqueue import enqueue_on_commit
from dosing import selectors
from dosing.domain.escalation import (
    RULE_VERSION,
    DLTStatus,
    EscalationAction,
    EscalationInputError,
    EscalationRecommendation,
    EscalationSettings,
    input_hash,
    snapshot,
)
from dosing.domain.operating_characteristics import simulate_operating_characteristics
from dosing.domain.three_plus_three import recommend
from dosing.models import (
    DECISION_TRANSITIONS,
    IN_FORCE_STATUSES,
    MAX_SEATS,
    MAX_SIMULATIONS,
    DecisionKind,
    DecisionSignature,
    DecisionStatus,
    DoseLevel,
    DoseLevelDose,
    EscalationDecision,
    EscalationStage,
    JobStatus,
    OcSimulationJob,
    SignatureKind,
    SignatureStatus,
    SlotAssignment,
    SlotKind,
    SlotStatus,
    TrialEscalation,
)
from dosing.selectors import (
    ESCALATION_TRIAL_STATUSES,
    EscalationInput,
    EscalationNotConfigured,
    current_dose_level,
    dose_levels,
)
from trials.audit import audited, require_reason
from trials.models import Patient, ProtocolVersion, Trial, TrialAgent, TrialStatus, User

logger = logging.getLogger(__name__)

A = EscalationAction
#: Recommendations that open a new step of the trial: an investigator signs them.
REVIEW_ACTIONS = frozenset(
    {A.ESCALATE, A.EXPAND, A.DEESCALATE, A.STOP_MTD, A.STOP_NO_TOLERABLE_DOSE}
)
#: What an investigator may choose instead of the recommendation (with a reason).
OVERRIDE_ACTIONS = (A.ESCALATE, A.EXPAND, A.DEESCALATE, A.STOP_MTD, A.STOP_NO_TOLERABLE_DOSE)
RP2D_ACTION = "DECLARE_RP2D"
RP2D_RULE_ID = "RP2D.1"
RP2D_RULE = (
    "RP2D.1: the recommended phase II dose is a signed clinical decision at or below the MTD "
    "(proposed: the MTD)"
)
MIN_MEANING_LENGTH = 5

# Re-exported: the sweep task asks the services for the trials to evaluate.
trials_in_escalation = selectors.trials_in_escalation


class DecisionConflict(Exception):
    """The decision cannot be signed as asked: voided, superseded, already decided, or already
    signed by this investigator (the API answers 409)."""


def _canonical_hash(payload: Mapping[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- Dose levels -----------------------------------------------------------------------------


@transaction.atomic
def dose_level_create(
    *,
    trial: Trial,
    number: int,
    doses: Iterable[Mapping[str, Any]],
    label: str = "",
    is_starting: bool = False,
    notes: str = "",
    protocol_version: ProtocolVersion | None = None,
    acting_user: User | None,
    reason: str = "dose level defined",
) -> DoseLevel:
    """A level with one dose per agent: ``doses`` items are ``{"agent": TrialAgent | code,
    "dose": Decimal, "unit": "mg" | "mg/m2", "schedule": str}``."""
    errors: dict[str, list[str]] = {}
    if number == 0:
        errors["number"] = ["There is no dose level 0: use 1, 2, … or −1."]
    if protocol_version is None:
        protocol_version = ProtocolVersion.objects.filter(trial=trial).order_by("-number").first()
        if protocol_version is None:
            errors["protocol_version"] = ["Set up the trial's protocol (version 1) first."]
    elif protocol_version.trial_id != trial.pk:
        errors["protocol_version"] = ["That protocol version belongs to another trial."]
    if DoseLevel.objects.filter(trial=trial, number=number, retired_in__isnull=True).exists():
        errors["number"] = [f"{trial.code} already has a current dose level {number}."]
    agents = {a.code: a for a in TrialAgent.objects.filter(trial=trial)}
    rows = []
    for i, item in enumerate(doses):
        agent = item["agent"]
        if not isinstance(agent, TrialAgent):
            agent = agents.get(str(agent))
        if agent is None or agent.trial_id != trial.pk:
            errors.setdefault(f"doses.{i}.agent", []).append(
                f"Not an agent of {trial.code}: {item['agent']!r}."
            )
            continue
        try:
            dose = Decimal(str(item["dose"]))
        except (InvalidOperation, KeyError):
            errors.setdefault(f"doses.{i}.dose", []).append("Enter the dose as a number.")
            continue
        if dose < 0:
            errors.setdefault(f"doses.{i}.dose", []).append("A dose cannot be negative.")
        unit = item.get("unit") or agent.unit
        if unit != agent.unit:
            errors.setdefault(f"doses.{i}.unit", []).append(
                f"{agent.name} is dosed in {agent.unit}, not {unit}."
            )
        rows.append((agent, dose, unit, item.get("schedule", "")))
    if not rows and not errors:
        errors["doses"] = ["A dose level needs at least one agent dose."]
    if len({a.pk for a, *_ in rows}) != len(rows):
        errors["doses"] = ["Each agent appears once in a dose level."]
    if errors:
        raise ValidationError(errors)
    with audited(acting_user=acting_user, reason=reason):
        level = DoseLevel.objects.create(
            trial=trial,
            number=number,
            label=label,
            is_starting=is_starting,
            notes=notes,
            introduced_in=protocol_version,
        )
        DoseLevelDose.objects.bulk_create(
            DoseLevelDose(dose_level=level, agent=a, dose=d, unit=u, schedule=s)
            for a, d, u, s in rows
        )
    return level


@transaction.atomic
def dose_level_retire(
    *,
    dose_level: DoseLevel,
    protocol_version: ProtocolVersion,
    acting_user: User,
    reason: str,
) -> DoseLevel:
    """Retire a level from a protocol version on (an amendment replaces or drops it)."""
    reason = require_reason(reason)
    if protocol_version.trial_id != dose_level.trial_id:
        raise ValidationError({"protocol_version": "That version belongs to another trial."})
    if dose_level.retired_in_id is not None:
        raise ValidationError({"dose_level": "This level is already retired."})
    with audited(acting_user=acting_user, reason=reason):
        dose_level.retired_in = protocol_version
        dose_level.save(update_fields=["retired_in"])
    return dose_level


# --- The escalation row -----------------------------------------------------------------------


def _locked_escalation(trial: Trial, *, acting_user: User | None) -> TrialEscalation:
    """The trial's escalation row, created at the starting level if missing, locked until the
    surrounding transaction ends."""
    esc = TrialEscalation.objects.select_for_update().filter(trial=trial).first()
    if esc is not None:
        return esc
    levels = list(dose_levels(trial))
    start = next((lv.number for lv in levels if lv.is_starting and lv.number > 0), 1)
    # ON CONFLICT DO NOTHING: a concurrent first enrolment or evaluation may create it too.
    with audited(acting_user=acting_user, reason=f"dose escalation starts at level {start}"):
        TrialEscalation.objects.bulk_create(
            [TrialEscalation(trial=trial, open_level_number=start, cohort_target=3)],
            ignore_conflicts=True,
        )
    return TrialEscalation.objects.select_for_update().get(trial=trial)


def _escalation_input(trial: Trial, design=None) -> EscalationInput:
    try:
        return selectors.escalation_input(trial, design=design)
    except (EscalationNotConfigured, EscalationInputError) as exc:
        raise ValidationError({"dose_level": str(exc)}) from None


def _free_not_evaluable_slots(data: EscalationInput, *, acting_user: User | None) -> int:
    """A patient who became not DLT-evaluable gives the seat back for one replacement."""
    freed = 0
    for p in data.patients:
        slot = p.slot
        if slot is None or slot.status != SlotStatus.HELD or p.status != DLTStatus.NOT_EVALUABLE:
            continue
        with audited(acting_user=acting_user, reason="slot freed: patient not DLT-evaluable"):
            slot.status = SlotStatus.FREED
            slot.freed_at = timezone.now()
            slot.freed_reason = p.reason or "not DLT-evaluable"
            slot.save(update_fields=["status", "freed_at", "freed_reason"])
        freed += 1
    return freed


# --- Enrolment: the dose level (and slot) a patient is given -----------------------------------


def _requested_number(trial: Trial, requested: int | str | DoseLevel | None) -> int | None:
    if isinstance(requested, DoseLevel):
        if requested.trial_id != trial.pk:
            raise ValidationError({"dose_level": "That dose level belongs to another trial."})
        return requested.number
    if requested in (None, ""):
        return None
    try:
        return int(requested)
    except (TypeError, ValueError):
        raise ValidationError({"dose_level": "Give the dose level as a number."}) from None


def _chosen_level(trial: Trial, requested: int | str | DoseLevel | None) -> DoseLevel:
    """Outside dose escalation: the coordinator's choice, checked (a current level of the
    patient's trial that defines its doses; a trial with one level takes it without asking)."""
    number = _requested_number(trial, requested)
    available = list(dose_levels(trial))
    if not available:
        raise ValidationError(
            {"dose_level": f"{trial.code} has no dose levels yet: a trial admin defines them."}
        )
    if number is None:
        if len(available) == 1:
            return available[0]
        raise ValidationError(
            {
                "dose_level": "Choose the dose level: "
                + ", ".join(level.display_label for level in available)
                + "."
            }
        )
    level = next((lv for lv in available if lv.number == number), None)
    if level is None:
        raise ValidationError(
            {
                "dose_level": f"{trial.code} has no current dose level {number}. Available: "
                + ", ".join(str(lv.number) for lv in available)
                + "."
            }
        )
    if not level.doses.all():
        raise ValidationError({"dose_level": f"{level.display_label} has no doses defined."})
    return level


def _check_requested(trial: Trial, requested, level: DoseLevel, why: str) -> None:
    number = _requested_number(trial, requested)
    if number is not None and number != level.number:
        raise ValidationError(
            {
                "dose_level": f"{level} is the level open for enrolment ({why}); choose it, or "
                "leave the level empty to be given it."
            }
        )


def assign_dose_level_for_enrolment(
    *, patient: Patient, requested_level: int | DoseLevel | None, acting_user: User
) -> DoseLevel:
    """The dose level a patient being enrolled is given, with a slot.

    Phase I (a trial with a dose-escalation design, open or in phase I): the level the signed
    escalation decisions opened, while its cohort has a free slot; otherwise a
    ``ValidationError`` on ``dose_level`` says why the patient waits ("cohort full, awaiting
    DLT evaluation", enrolment on hold, escalation stopped). Phase II after a signed RP2D: the
    RP2D. Any other trial: the coordinator's choice, checked.

    Runs inside the caller's transaction (the enrolment service's) and locks the trial's
    escalation row until it commits, so concurrent enrolments cannot over-fill a cohort.
    """
    trial = patient.trial
    design = selectors.escalation_design(trial)
    if design is None:
        return _chosen_level(trial, requested_level)
    with transaction.atomic():
        started = TrialEscalation.objects.filter(trial=trial).exists()
        if not started and trial.status not in ESCALATION_TRIAL_STATUSES:
            return _chosen_level(trial, requested_level)
        esc = _locked_escalation(trial, acting_user=acting_user)
        if esc.on_hold:
            raise ValidationError({"dose_level": selectors.closed_message(esc, None)})
        if esc.stage == EscalationStage.RP2D_DECLARED:
            return _assign_phase_ii(esc, patient, requested_level, acting_user=acting_user)
        if trial.status not in ESCALATION_TRIAL_STATUSES:
            return _chosen_level(trial, requested_level)
        if esc.stage != EscalationStage.ESCALATING:
            raise ValidationError({"dose_level": selectors.closed_message(esc, None)})
        data = _escalation_input(trial, design)
        _free_not_evaluable_slots(data, acting_user=acting_user)
        level = data.level(esc.open_level_number)
        if level is None:
            raise ValidationError(
                {"dose_level": f"{trial.code} has no current dose level {esc.open_level_number}."}
            )
        _check_requested(trial, requested_level, level, "dose escalation assigns it")
        if data.occupied(level.number) >= esc.cohort_target:
            raise ValidationError(
                {"dose_level": selectors.cohort_full_message(level, data, esc.cohort_target)}
            )
        held = {
            p.slot.seat
            for p in data.patients
            if p.slot is not None
            and p.slot.status == SlotStatus.HELD
            and p.slot.level_number == level.number
        }
        free_seats = [s for s in range(1, MAX_SEATS + 1) if s not in held]
        if not free_seats:  # the six seats are the database's cap, whatever the target says
            raise ValidationError(
                {"dose_level": selectors.cohort_full_message(level, data, esc.cohort_target)}
            )
        with audited(acting_user=acting_user, reason=f"escalation slot at {level}"):
            SlotAssignment.objects.create(
                trial=trial,
                patient=patient,
                dose_level=level,
                level_number=level.number,
                kind=SlotKind.ESCALATION,
                seat=free_seats[0],
                step=esc.step,
                assigned_by=acting_user,
            )
    logger.info(
        "escalation slot assigned",
        extra={"trial": trial.code, "patient": patient.pk, "level": level.number},
    )
    return level


def _assign_phase_ii(
    esc: TrialEscalation, patient: Patient, requested, *, acting_user: User
) -> DoseLevel:
    trial = patient.trial
    level = current_dose_level(trial, esc.rp2d_level_number)
    if level is None:
        raise ValidationError(
            {"dose_level": f"The RP2D (level {esc.rp2d_level_number}) is not a current level."}
        )
    _check_requested(trial, requested, level, "the signed RP2D")
    with audited(acting_user=acting_user, reason=f"phase II at the RP2D {level}"):
        SlotAssignment.objects.create(
            trial=trial,
            patient=patient,
            dose_level=level,
            level_number=level.number,
            kind=SlotKind.PHASE_II,
            seat=None,
            step=esc.step,
            assigned_by=acting_user,
        )
    return level


# --- Evaluation -------------------------------------------------------------------------------


def decision_transition(
    *, decision: EscalationDecision, to_status: str, reason: str, acting_user: User | None
) -> EscalationDecision:
    """The one way a decision's status changes (``DECISION_TRANSITIONS``)."""
    if (decision.status, to_status) not in DECISION_TRANSITIONS:
        raise DecisionConflict(
            f"Decision #{decision.number} cannot go from {decision.get_status_display()} to "
            f"{DecisionStatus(to_status).label}."
        )
    with audited(acting_user=acting_user, reason=reason, decision=decision.number):
        decision.status = to_status
        decision.status_reason = reason
        decision.save(update_fields=["status", "status_reason", "updated_at"])
    return decision


def _next_number(trial: Trial) -> int:
    last = (
        EscalationDecision.objects.filter(trial=trial)
        .order_by("-number")
        .values_list("number", flat=True)
        .first()
    )
    return (last or 0) + 1


def _outcome(output: Mapping[str, Any]) -> tuple:
    return (
        output.get("action"),
        output.get("current_level"),
        output.get("next_level"),
        output.get("recommended_level"),
    )


def _initial_status(
    esc: TrialEscalation, rec: EscalationRecommendation
) -> tuple[DecisionStatus, str]:
    if esc.on_hold:
        return DecisionStatus.AWAITING_SIGNATURE, "Enrolment is on hold until this is signed."
    if rec.action not in REVIEW_ACTIONS:
        return DecisionStatus.RECORDED, "Nothing to sign: the open step continues."
    applied = esc.applied_decision
    if applied is not None and _outcome(applied.output) == _outcome(rec.to_dict()):
        return (
            DecisionStatus.RECORDED,
            f"Same recommendation as signed decision #{applied.number}, whose step is in force.",
        )
    return DecisionStatus.AWAITING_SIGNATURE, "An investigator reviews and signs it."


def _snapshot_changes(decision: EscalationDecision, data: EscalationInput) -> list[str]:
    """What changed in the data a signed decision rests on: its evaluable patients (DLT or
    no DLT or not evaluable when it was signed). A patient then still in the window was not
    part of what was decided, so the window ending is not a change."""
    changes = []
    for level in decision.input_snapshot.get("state", {}).get("levels", []):
        for p in level.get("patients", []):
            was = p.get("status")
            if was == DLTStatus.PENDING:
                continue
            ref = p.get("patient_ref")
            now = data.by_ref.get(ref)
            if now is None:
                changes.append(f"{ref} no longer counts at level {level['level']}")
            elif now.level_number != level["level"] or now.status != was:
                changes.append(
                    f"{ref}: {was} at level {level['level']} is now {now.status} at level "
                    f"{now.level_number}"
                )
    return changes


def _void(
    decision: EscalationDecision, reason: str, *, acting_user: User | None
) -> EscalationDecision:
    now = timezone.now()
    with audited(acting_user=acting_user, reason=reason, decision=decision.number):
        for signature in decision.signatures.filter(status=SignatureStatus.VALID):
            signature.status = SignatureStatus.VOIDED
            signature.voided_at = now
            signature.void_reason = reason
            signature.save(update_fields=["status", "voided_at", "void_reason"])
    return decision_transition(
        decision=decision, to_status=DecisionStatus.VOIDED, reason=reason, acting_user=acting_user
    )


def _void_changed_decisions(
    esc: TrialEscalation, data: EscalationInput, *, acting_user: User | None
) -> list[EscalationDecision]:
    """Void every signed decision whose data changed, and hold enrolment until an investigator
    signs the re-evaluated decision (a change under the MTD also voids the RP2D on it)."""
    voided = []
    signed = EscalationDecision.objects.filter(
        trial=esc.trial_id, kind=DecisionKind.ESCALATION, status__in=IN_FORCE_STATUSES
    ).order_by("number")
    for decision in signed:
        changes = _snapshot_changes(decision, data)
        if changes:
            reason = "The data under the signed decision changed: " + "; ".join(changes) + "."
            voided.append(_void(decision, reason, acting_user=acting_user))
    if not voided:
        return []
    mtd_voided = any(d.action == A.STOP_MTD for d in voided)
    if mtd_voided:
        for rp2d in EscalationDecision.objects.filter(
            trial=esc.trial_id, kind=DecisionKind.RP2D
        ).exclude(status__in=(DecisionStatus.SUPERSEDED, DecisionStatus.VOIDED)):
            reason = "The MTD decision it rests on was voided."
            if rp2d.status in IN_FORCE_STATUSES:
                _void(rp2d, reason, acting_user=acting_user)
            else:
                decision_transition(
                    decision=rp2d,
                    to_status=DecisionStatus.SUPERSEDED,
                    reason=reason,
                    acting_user=acting_user,
                )
    numbers = ", ".join(f"#{d.number}" for d in voided)
    with audited(acting_user=acting_user, reason=f"signed decision {numbers} voided"):
        esc.on_hold = True
        esc.hold_reason = (
            f"signed decision {numbers} was voided because the DLT data under it changed; an "
            "investigator signs the re-evaluated decision to reopen enrolment."
        )
        esc.save(update_fields=["on_hold", "hold_reason", "updated_at"])
    logger.warning(
        "signed escalation decision voided",
        extra={"trial": esc.trial_id, "decisions": [d.number for d in voided]},
    )
    return voided


def _record(
    esc: TrialEscalation,
    data: EscalationInput,
    rec: EscalationRecommendation,
    *,
    acting_user: User | None,
) -> tuple[EscalationDecision, bool]:
    """Store the recommendation unless one with the same input hash exists. (decision, new)"""
    h = input_hash(data.settings, data.state)
    current = esc.current_decision
    status, why = _initial_status(esc, rec)
    if current is not None and current.input_hash == h:
        if (
            status == DecisionStatus.AWAITING_SIGNATURE
            and current.status == DecisionStatus.RECORDED
        ):
            decision_transition(
                decision=current, to_status=status, reason=why, acting_user=acting_user
            )
            _notify_on_commit(current)
        return current, False
    decision = EscalationDecision.objects.filter(
        trial=esc.trial_id, kind=DecisionKind.ESCALATION, input_hash=h
    ).first()
    created = decision is None
    if decision is not None:
        # The data are again exactly as when this decision was evaluated.
        if decision.status in (DecisionStatus.SUPERSEDED, DecisionStatus.VOIDED):
            if decision.status == DecisionStatus.VOIDED:
                status = DecisionStatus.AWAITING_SIGNATURE
            decision_transition(
                decision=decision,
                to_status=status,
                reason="The data are again as when it was evaluated. " + why,
                acting_user=acting_user,
            )
    else:
        try:
            with transaction.atomic():
                decision = EscalationDecision.objects.create(
                    trial_id=esc.trial_id,
                    number=_next_number(data.trial),
                    kind=DecisionKind.ESCALATION,
                    step=esc.step,
                    input_snapshot=snapshot(data.settings, data.state),
                    input_hash=h,
                    rule_set=rec.rule_set.value,
                    rule_id=rec.rule_id,
                    rule_text=rec.rule,
                    rule_version=rec.rule_version,
                    output=rec.to_dict(),
                    action=rec.action.value,
                    current_level_number=rec.current_level,
                    next_level_number=rec.next_level,
                    recommended_level_number=rec.recommended_level,
                    status=status,
                    status_reason=why,
                )
        except IntegrityError:
            # The unique input hash: another run stored it first (the row lock makes this a
            # last line of defence, e.g. for a run that bypassed the service).
            decision = EscalationDecision.objects.get(
                trial=esc.trial_id, kind=DecisionKind.ESCALATION, input_hash=h
            )
            created = False
    if (
        current is not None
        and current.pk != decision.pk
        and current.status in (DecisionStatus.RECORDED, DecisionStatus.AWAITING_SIGNATURE)
    ):
        decision_transition(
            decision=current,
            to_status=DecisionStatus.SUPERSEDED,
            reason=f"Superseded by decision #{decision.number} (the data changed).",
            acting_user=acting_user,
        )
    esc.current_decision = decision
    esc.save(update_fields=["current_decision", "updated_at"])
    if decision.status == DecisionStatus.AWAITING_SIGNATURE:
        _notify_on_commit(decision)
    return decision, created


def escalation_evaluate(
    *, trial_id: int, acting_user: User | None = None
) -> EscalationDecision | None:
    """Evaluate the trial's escalation on its current data (idempotent).

    Builds the engine's input from the database, hashes it (``input_hash``) and stores an
    ``EscalationDecision`` only when none with that hash exists: running it twice on the same
    data stores nothing new (the unique constraint on the hash makes sure of it even when a
    worker killed mid-run re-runs it). Signed decisions whose data changed are voided first,
    and enrolment is held until the re-evaluated decision is signed. Returns the trial's
    current decision, or ``None`` for a trial without dose escalation (or a missing trial).
    """
    trial = Trial.objects.filter(pk=trial_id).first()
    if trial is None:
        return None
    design = selectors.escalation_design(trial)
    if design is None:
        return None
    if (
        trial.status not in ESCALATION_TRIAL_STATUSES
        and not TrialEscalation.objects.filter(trial=trial).exists()
    ):
        return None  # never in dose escalation here (e.g. a trial opened in phase II)
    with transaction.atomic():
        esc = _locked_escalation(trial, acting_user=acting_user)
        try:
            data = selectors.escalation_input(trial, design=design)
            rec = recommend(data.settings, data.state)
        except (EscalationNotConfigured, EscalationInputError) as exc:
            logger.warning(
                "escalation not evaluated", extra={"trial": trial.code, "error": str(exc)}
            )
            return None
        with audited(acting_user=acting_user, reason="dose escalation evaluated"):
            _free_not_evaluable_slots(data, acting_user=acting_user)
            _void_changed_decisions(esc, data, acting_user=acting_user)
            decision, created = _record(esc, data, rec, acting_user=acting_user)
    if created:
        logger.info(
            "escalation decision stored",
            extra={
                "trial": trial.code,
                "decision": decision.number,
                "rule": decision.rule_id,
                "status": decision.status,
            },
        )
    return decision


# --- Signing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """What a signed decision opens: an escalation step, a stop, or the RP2D."""

    action: str
    level: int | None
    cohort_target: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "level": self.level, "cohort_target": self.cohort_target}


def _enrolled_in_output(output: Mapping[str, Any], level: int | None) -> int:
    for c in output.get("level_counts", []):
        if c.get("level") == level:
            return int(c.get("evaluable", 0)) + int(c.get("pending", 0))
    return 0


def _recommended_step(decision: EscalationDecision) -> Step:
    out = decision.output
    if decision.kind == DecisionKind.RP2D:
        return Step(RP2D_ACTION, out.get("recommended_level"))
    action = out["action"]
    if action == A.STOP_MTD:
        return Step(action, out.get("recommended_level"))
    if action == A.STOP_NO_TOLERABLE_DOSE:
        return Step(action, None)
    level = out.get("next_level")
    target = _enrolled_in_output(out, level) + int(out.get("slots_open", 0))
    return Step(action, level, min(MAX_SEATS, target))


def _settings_of(decision: EscalationDecision) -> EscalationSettings:
    return EscalationSettings(**decision.input_snapshot["settings"])


def _override_step(decision: EscalationDecision, action: str, level: int | None) -> Step:
    """Check an investigator's alternative and turn it into a step (field messages)."""
    if decision.kind == DecisionKind.RP2D:
        mtd = decision.output.get("mtd_level")
        if action != RP2D_ACTION:
            raise ValidationError({"action": f"Choose {RP2D_ACTION} with another level."})
        levels = decision.input_snapshot.get("levels", [])
        if level is None or level not in levels or (mtd is not None and level > mtd):
            raise ValidationError(
                {"level": f"Choose a dose level at or below the MTD (level {mtd})."}
            )
        return Step(RP2D_ACTION, level)
    try:
        action = A(action)
    except ValueError:
        action = None
    if action not in OVERRIDE_ACTIONS:
        raise ValidationError(
            {"action": "Choose one of: " + ", ".join(a.value for a in OVERRIDE_ACTIONS) + "."}
        )
    settings = _settings_of(decision)
    current = decision.current_level_number or settings.start_level
    if level is not None and level not in settings.levels:
        raise ValidationError(
            {"level": f"Level {level} is not a level of the design {list(settings.levels)}."}
        )
    out = decision.output
    if action == A.STOP_NO_TOLERABLE_DOSE:
        return Step(action, None)
    if action == A.STOP_MTD:
        if level is None:
            raise ValidationError({"level": "Name the level declared the MTD."})
        return Step(action, level)
    if action == A.EXPAND:
        level = current if level is None else level
        return Step(action, level, MAX_SEATS)
    default = (
        settings.level_above(current) if action == A.ESCALATE else settings.level_below(current)
    )
    level = default if level is None else level
    if level is None:
        where = "above" if action == A.ESCALATE else "below"
        raise ValidationError({"action": f"There is no level {where} level {current}."})
    if (action == A.ESCALATE and level <= current) or (action == A.DEESCALATE and level >= current):
        raise ValidationError(
            {"level": f"Level {level} is not {action.value.lower()} from level {current}."}
        )
    return Step(action, level, min(MAX_SEATS, _enrolled_in_output(out, level) + 3))


def _signature_hash(
    decision: EscalationDecision, signer: User, meaning: str, kind: str, step: Step, reason: str
) -> str:
    """SHA-256 of what was signed: the decision's input hash, rule and output, the step opened,
    the signer and the stated meaning."""
    return _canonical_hash(
        {
            "trial": decision.trial_id,
            "decision": decision.number,
            "kind": decision.kind,
            "input_hash": decision.input_hash,
            "rule_id": decision.rule_id,
            "rule_version": decision.rule_version,
            "output": decision.output,
            "signature": kind,
            "step": step.to_dict(),
            "reason": reason,
            "signer": signer.pk,
            "meaning": meaning,
        }
    )


def _status_conflict(decision: EscalationDecision) -> DecisionConflict:
    messages = {
        DecisionStatus.VOIDED: "was voided: the data under it changed. Sign the re-evaluated "
        "decision instead.",
        DecisionStatus.SUPERSEDED: "was superseded by a later evaluation. Sign the current "
        "decision instead.",
        DecisionStatus.RECORDED: "needs no signature: it continues the open step.",
        DecisionStatus.OVERRIDDEN: "was already overridden.",
        DecisionStatus.SIGNED: "was already signed: it can no longer be overridden.",
    }
    text = messages.get(decision.status, f"is {decision.get_status_display()}.")
    return DecisionConflict(f"Decision #{decision.number} {text}")


def escalation_decision_sign(
    *,
    decision: EscalationDecision,
    signer: User,
    meaning: str,
    acting_user: User,
    signature_method: str = "password",
) -> DecisionSignature:
    """An investigator approves the recommendation. The first signature opens its step;
    another investigator may co-sign a signed decision (one valid signature per signer).

    The e-signature itself (password re-entered, the authenticator code) is checked by the
    caller before this runs (``config.otp.verify_signature``), outside this transaction, so
    that failed attempts stay counted.
    """
    return _sign(
        decision=decision,
        signer=signer,
        meaning=meaning,
        kind=SignatureKind.APPROVAL,
        acting_user=acting_user,
        signature_method=signature_method,
    )


def escalation_decision_override(
    *,
    decision: EscalationDecision,
    signer: User,
    meaning: str,
    reason: str,
    action: str,
    level: int | None = None,
    acting_user: User,
    signature_method: str = "password",
) -> DecisionSignature:
    """An investigator decides otherwise than the recommendation, with a reason, and signs it:
    the chosen action (and level) opens the next step."""
    return _sign(
        decision=decision,
        signer=signer,
        meaning=meaning,
        kind=SignatureKind.OVERRIDE,
        reason=reason,
        override_action=action,
        override_level=level,
        acting_user=acting_user,
        signature_method=signature_method,
    )


@transaction.atomic
def _sign(
    *,
    decision: EscalationDecision,
    signer: User,
    meaning: str,
    kind: str,
    acting_user: User,
    signature_method: str,
    reason: str = "",
    override_action: str = "",
    override_level: int | None = None,
) -> DecisionSignature:
    meaning = (meaning or "").strip()
    errors: dict[str, list[str]] = {}
    if len(meaning) < MIN_MEANING_LENGTH:
        errors["meaning"] = ["State the meaning of your signature."]
    if kind == SignatureKind.OVERRIDE:
        try:
            reason = require_reason(reason)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    trial = Trial.objects.select_for_update().get(pk=decision.trial_id)
    if not selectors.can_sign_decisions(signer, trial):
        raise PermissionDenied("Only an investigator of the trial signs escalation decisions.")
    esc = TrialEscalation.objects.select_for_update().get(trial=trial)
    locked = EscalationDecision.objects.select_for_update().get(pk=decision.pk)
    if locked.signatures.filter(signer=signer, status=SignatureStatus.VALID).exists():
        raise DecisionConflict(f"You have already signed decision #{locked.number}.")
    co_signature = kind == SignatureKind.APPROVAL and locked.status == DecisionStatus.SIGNED
    if not co_signature and locked.status != DecisionStatus.AWAITING_SIGNATURE:
        raise _status_conflict(locked)
    if kind == SignatureKind.OVERRIDE:
        step = _override_step(locked, override_action, override_level)
        if step.to_dict() == _recommended_step(locked).to_dict():
            raise ValidationError(
                {"action": "That is the recommendation itself: sign it instead of overriding."}
            )
    else:
        step = (
            Step(**locked.applied) if co_signature and locked.applied else _recommended_step(locked)
        )
    audit_reason = reason or f"decision #{locked.number} signed: {meaning}"
    try:
        with transaction.atomic(), audited(acting_user=acting_user, reason=audit_reason):
            signature = DecisionSignature.objects.create(
                decision=locked,
                signer=signer,
                meaning=meaning,
                kind=kind,
                override_action=step.action if kind == SignatureKind.OVERRIDE else "",
                override_level_number=step.level if kind == SignatureKind.OVERRIDE else None,
                reason=reason,
                snapshot_hash=_signature_hash(locked, signer, meaning, kind, step, reason),
                method=signature_method,
            )
    except IntegrityError:
        raise DecisionConflict(f"You have already signed decision #{locked.number}.") from None
    if co_signature:
        return signature
    to_status = (
        DecisionStatus.SIGNED if kind == SignatureKind.APPROVAL else DecisionStatus.OVERRIDDEN
    )
    decision_transition(
        decision=locked,
        to_status=to_status,
        reason=audit_reason,
        acting_user=acting_user,
    )
    with audited(acting_user=acting_user, reason=audit_reason):
        locked.decided_at = signature.signed_at
        locked.decided_by = signer
        locked.applied = step.to_dict()
        locked.save(update_fields=["decided_at", "decided_by", "applied", "updated_at"])
        _apply(esc, locked, step, acting_user=acting_user, reason=audit_reason)
    decision.status = locked.status
    logger.info(
        "escalation decision signed",
        extra={"trial": trial.code, "decision": locked.number, "kind": kind, "step": step.action},
    )
    return signature


def _apply(
    esc: TrialEscalation,
    decision: EscalationDecision,
    step: Step,
    *,
    acting_user: User,
    reason: str,
) -> None:
    """Open the step a signed decision names (escalate, expand, de-escalate, stop, RP2D)."""
    if decision.kind == DecisionKind.RP2D:
        esc.stage = EscalationStage.RP2D_DECLARED
        esc.rp2d_level_number = step.level
        esc.open_level_number = None
        esc.cohort_target = 0
    elif step.action == A.STOP_MTD:
        esc.stage = EscalationStage.MTD_DECLARED
        esc.mtd_level_number = step.level
        esc.rp2d_level_number = None
        esc.open_level_number = None
        esc.cohort_target = 0
        esc.applied_decision = decision
    elif step.action == A.STOP_NO_TOLERABLE_DOSE:
        esc.stage = EscalationStage.NO_TOLERABLE_DOSE
        esc.mtd_level_number = None
        esc.open_level_number = None
        esc.cohort_target = 0
        esc.applied_decision = decision
    else:
        esc.stage = EscalationStage.ESCALATING
        esc.mtd_level_number = None
        esc.open_level_number = step.level
        esc.cohort_target = step.cohort_target
        esc.applied_decision = decision
    esc.step += 1
    esc.on_hold = False
    esc.hold_reason = ""
    esc.save()
    if decision.kind == DecisionKind.ESCALATION and step.action == A.STOP_MTD:
        _propose_rp2d(esc, decision, step.level, acting_user=acting_user)
    if decision.kind == DecisionKind.RP2D:
        _open_phase_ii(esc.trial, decision, step.level, acting_user=acting_user)


def _propose_rp2d(
    esc: TrialEscalation, mtd_decision: EscalationDecision, mtd: int | None, *, acting_user: User
) -> EscalationDecision:
    """The RP2D is its own signed decision, proposed at the MTD once the MTD is signed."""
    settings = _settings_of(mtd_decision)
    levels = [lv for lv in settings.levels if mtd is not None and lv <= mtd]
    snap = {
        "mtd_decision": mtd_decision.number,
        "mtd_decision_hash": mtd_decision.input_hash,
        "mtd_level": mtd,
        "levels": levels,
        "level_counts": mtd_decision.output.get("level_counts", []),
        "settings": mtd_decision.input_snapshot.get("settings", {}),
    }
    h = _canonical_hash(snap)
    for stale in EscalationDecision.objects.filter(
        trial=esc.trial_id, kind=DecisionKind.RP2D, status=DecisionStatus.AWAITING_SIGNATURE
    ).exclude(input_hash=h):
        decision_transition(
            decision=stale,
            to_status=DecisionStatus.SUPERSEDED,
            reason=f"A new MTD decision (#{mtd_decision.number}) was signed.",
            acting_user=acting_user,
        )
    why = "The RP2D is signed separately, at or below the MTD."
    existing = EscalationDecision.objects.filter(
        trial=esc.trial_id, kind=DecisionKind.RP2D, input_hash=h
    ).first()
    if existing is not None:
        if existing.status in (DecisionStatus.SUPERSEDED, DecisionStatus.VOIDED):
            decision_transition(
                decision=existing,
                to_status=DecisionStatus.AWAITING_SIGNATURE,
                reason=why,
                acting_user=acting_user,
            )
            _notify_on_commit(existing)
        return existing
    decision = EscalationDecision.objects.create(
        trial_id=esc.trial_id,
        number=_next_number(esc.trial),
        kind=DecisionKind.RP2D,
        step=esc.step,
        input_snapshot=snap,
        input_hash=h,
        rule_set=mtd_decision.rule_set,
        rule_id=RP2D_RULE_ID,
        rule_text=RP2D_RULE,
        rule_version=RULE_VERSION,
        output={
            "action": RP2D_ACTION,
            "mtd_level": mtd,
            "recommended_level": mtd,
            "explanation": f"MTD = level {mtd} (signed decision #{mtd_decision.number}); the "
            f"proposed RP2D is the MTD. An investigator may sign a lower level instead.",
        },
        action=RP2D_ACTION,
        current_level_number=mtd,
        recommended_level_number=mtd,
        status=DecisionStatus.AWAITING_SIGNATURE,
        status_reason=why,
    )
    _notify_on_commit(decision)
    return decision


def _open_phase_ii(
    trial: Trial, decision: EscalationDecision, level: int | None, *, acting_user: User
) -> None:
    """A signed RP2D moves a phase I/II trial to phase II (trials' transition service)."""
    from trials import services as trial_services

    if trial.phase != "I/II" or trial.status == TrialStatus.PHASE_II:
        return
    reason = f"RP2D = level {level} signed (decision #{decision.number})"
    if trial.status == TrialStatus.OPEN:
        trial = trial_services.trial_transition(
            trial=trial, to_status=TrialStatus.PHASE_I, acting_user=acting_user, reason=reason
        )
    if trial.status == TrialStatus.PHASE_I:
        trial_services.trial_transition(
            trial=trial, to_status=TrialStatus.PHASE_II, acting_user=acting_user, reason=reason
        )


# --- Notifications ----------------------------------------------------------------------------


def _notify_on_commit(decision: EscalationDecision) -> None:
    from dosing.tasks import notify_decision_awaiting

    enqueue_on_commit(notify_decision_awaiting, decision.pk)


@transaction.atomic
def decision_notify_investigators(*, decision_id: int) -> int:
    """Email the trial's investigators that a decision awaits their signature (once)."""
    decision = (
        EscalationDecision.objects.select_for_update(of=("self",))
        .select_related("trial")
        .filter(pk=decision_id)
        .first()
    )
    if (
        decision is None
        or decision.notified_at is not None
        or decision.status != DecisionStatus.AWAITING_SIGNATURE
    ):
        return 0
    recipients = list(selectors.investigators_of(decision.trial).values_list("email", flat=True))
    trial = decision.trial
    path = reverse("dosing_decision", args=[trial.code, decision.pk])
    body = (
        f"Dose-escalation decision #{decision.number} of {trial.code} awaits your signature.\n\n"
        f"Rule: {decision.rule_text}\n"
        f"Recommendation: {decision.output.get('explanation', decision.action)}\n\n"
        f"Review and sign (or override with a reason) at {path}\n"
    )
    if recipients:
        send_mail(
            subject=f"[TrialDesk] {trial.code}: escalation decision #{decision.number} to sign",
            message=body,
            from_email=None,
            recipient_list=recipients,
        )
    with audited(acting_user=None, reason="investigators notified"):
        decision.notified_at = timezone.now()
        decision.save(update_fields=["notified_at", "updated_at"])
    return len(recipients)


# --- Operating characteristics ---------------------------------------------------------------


def parse_rates(text: str | Iterable[Any], *, levels: int, field: str = "rates") -> list[float]:
    """True DLT rates, one per level, each in [0, 1] (field messages)."""
    items = text.replace(";", ",").split(",") if isinstance(text, str) else list(text)
    rates = []
    for item in items:
        if str(item).strip() == "":
            continue
        try:
            value = float(str(item).strip())
        except ValueError:
            raise ValidationError({field: f"{item!r} is not a number."}) from None
        if not 0.0 <= value <= 1.0:
            raise ValidationError({field: f"{value} is not a probability between 0 and 1."})
        rates.append(value)
    if len(rates) != levels:
        raise ValidationError(
            {field: f"Give {levels} true DLT rates, one per dose level (got {len(rates)})."}
        )
    return rates


@transaction.atomic
def oc_simulation_start(
    *,
    trial: Trial,
    settings: EscalationSettings,
    true_dlt_rates: Iterable[float],
    n_sims: int,
    seed: int | None = None,
    acting_user: User,
) -> OcSimulationJob:
    """Queue a Monte Carlo run of the operating characteristics (``dosing.simulate_…``)."""
    rates = parse_rates(list(true_dlt_rates), levels=len(settings.levels), field="true_dlt_rates")
    if not 1 <= int(n_sims) <= MAX_SIMULATIONS:
        raise ValidationError({"n_sims": f"Between 1 and {MAX_SIMULATIONS:,} simulated trials."})
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    with audited(acting_user=acting_user, reason="operating characteristics simulated"):
        job = OcSimulationJob.objects.create(
            trial=trial,
            requested_by=acting_user,
            settings=settings.to_dict(),
            true_dlt_rates=rates,
            n_sims=int(n_sims),
            seed=int(seed),
        )
    from dosing.tasks import simulate_operating_characteristics as task

    enqueue_on_commit(task, job.pk)
    return job


def oc_simulation_run(*, job_id: int) -> OcSimulationJob | None:
    """Run a queued simulation, moving ``progress`` 0–100 as the engine reports it. A finished
    job is left alone; a job whose worker died mid-run starts again from zero."""
    with transaction.atomic():
        job = OcSimulationJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.finished:
            return job
        with audited(acting_user=None, reason="simulation started"):
            job.status = JobStatus.RUNNING
            job.progress = 0
            job.attempts += 1
            job.started_at = timezone.now()
            job.save(update_fields=["status", "progress", "attempts", "started_at", "updated_at"])
    last = [0]

    def progress(done: int, total: int) -> None:
        pct = min(99, int(100 * done / total))
        if pct > last[0]:
            last[0] = pct
            OcSimulationJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(progress=pct)

    try:
        settings = EscalationSettings(**job.settings)
        # Simulation, not security: a seeded generator makes a run reproducible.
        rng = random.Random(job.seed)  # noqa: S311
        oc = simulate_operating_characteristics(
            job.true_dlt_rates, settings, job.n_sims, rng, progress=progress
        )
    except (EscalationInputError, TypeError, ValueError) as exc:
        with transaction.atomic(), audited(acting_user=None, reason="simulation failed"):
            OcSimulationJob.objects.filter(pk=job_id).update(
                status=JobStatus.FAILED, error=str(exc), finished_at=timezone.now()
            )
        return OcSimulationJob.objects.get(pk=job_id)
    with transaction.atomic(), audited(acting_user=None, reason="simulation finished"):
        OcSimulationJob.objects.filter(pk=job_id).update(
            status=JobStatus.DONE,
            progress=100,
            result=oc.to_dict(),
            finished_at=timezone.now(),
        )
    return OcSimulationJob.objects.get(pk=job_id)
