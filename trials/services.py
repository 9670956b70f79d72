"""Every write of the trials app.

Each service runs in one transaction, names its actor (``acting_user``) and writes its audit
context (who and why); updates of clinical records require a reason, and records that two
people may edit at once carry a version so that the second save is refused, not merged.

Lock order (fixed, so concurrent services cannot deadlock): trial → trial site → patient →
visit → dose-level slots (taken by ``dosing.services``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from dosing import services as dosing_services
from dosing.selectors import level_dose
from safety import services as safety_services
from trials import selectors
from trials.audit import audited, require_reason
from trials.domain import dosing as dosing_rules
from trials.domain import labs as lab_rules
from trials.domain.design import DesignError, TrialDesign
from trials.domain.eligibility import EligibilityResult
from trials.domain.schedule import (
    PlannedVisit,
    VisitKind,
    VisitState,
    plan_cycles,
    plan_end_of_treatment,
    plan_follow_up,
)
from trials.domain.transitions import (
    ACCRUING_TRIAL_STATUSES,
    DATA_ENTRY_STATUSES,
    DOSING_STATUSES,
    SCREENING_TRIAL_STATUSES,
    TRIAL_STATUS_LABELS,
    PatientStatus,
    ScreenFailureReason,
    TransitionError,
    check_patient_transition,
    check_trial_transition,
)
from trials.models import (
    Consent,
    DoseAdministration,
    EligibilityAnswer,
    EligibilityCriterion,
    LabReferenceRange,
    LabResult,
    LastContact,
    Membership,
    Patient,
    PatientStatusChange,
    ProtocolVersion,
    Role,
    Site,
    Trial,
    TrialAgent,
    TrialSite,
    User,
    Visit,
    VitalStatus,
)

logger = logging.getLogger(__name__)

PATIENT_EDITABLE_FIELDS = ("given_name", "family_name", "date_of_birth", "sex")
#: Follow-up visits kept planned ahead of the last one done.
FOLLOW_UP_PLANNED_AHEAD = 2
#: Treatment cycles kept planned ahead of the current one.
CYCLES_PLANNED_AHEAD = 1


class ConflictError(Exception):
    """Someone else saved the record after this edit was started."""

    def __init__(self, message: str, *, current_version: int):
        super().__init__(message)
        self.current_version = current_version


class _Errors:
    """Collects field messages so one save reports every problem at once."""

    def __init__(self) -> None:
        self.messages: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.messages.setdefault(field, []).append(message)

    def merge(self, exc: ValidationError, *, prefix: str = "") -> None:
        if hasattr(exc, "error_dict"):
            for field, messages in exc.message_dict.items():
                key = field if field != "__all__" else "non_field_errors"
                for message in messages:
                    self.add(f"{prefix}{key}", message)
        else:
            for message in exc.messages:
                self.add(f"{prefix}non_field_errors" if prefix else "non_field_errors", message)

    def raise_if_any(self) -> None:
        if self.messages:
            raise ValidationError(self.messages)

    def __bool__(self) -> bool:
        return bool(self.messages)


def _today(today: date | None) -> date:
    return today or timezone.localdate()


def _check_version(obj: Any, expected_version: int | None, what: str) -> None:
    if expected_version is not None and obj.version != expected_version:
        raise ConflictError(
            f"This {what} was changed by someone else after you opened it (your version "
            f"{expected_version}, now {obj.version}). Nothing was saved: reload to see their "
            "change, then make yours again.",
            current_version=obj.version,
        )


# --- People, sites, trials ------------------------------------------------------------------


@transaction.atomic
def user_create(
    *, email: str, full_name: str, password: str | None, acting_user: User | None, **extra: Any
) -> User:
    with audited(acting_user=acting_user, reason="account created"):
        return User.objects.create_user(
            email=email, password=password, full_name=full_name, **extra
        )


@transaction.atomic
def site_create(*, code: str, name: str, country: str = "", acting_user: User | None) -> Site:
    site = Site(code=code, name=name, country=country)
    site.full_clean()
    with audited(acting_user=acting_user, reason="site created"):
        site.save()
    return site


@transaction.atomic
def trial_create(
    *,
    code: str,
    title: str,
    phase: str,
    acting_user: User | None,
    design: TrialDesign | Mapping[str, Any] | None = None,
    effective_date: date | None = None,
    **fields: Any,
) -> Trial:
    """Create a trial; with ``design``, also its protocol version 1."""
    trial = Trial(code=code, title=title, phase=phase, **fields)
    trial.full_clean()
    with audited(acting_user=acting_user, reason="trial created"):
        trial.save()
    if design is not None:
        protocol_version_create(
            trial=trial,
            design=design,
            effective_date=effective_date or timezone.localdate(),
            reason="initial protocol",
            label="Protocol v1",
            acting_user=acting_user,
        )
    return trial


@transaction.atomic
def trial_site_add(*, trial: Trial, site: Site, number: str, acting_user: User | None) -> TrialSite:
    trial_site = TrialSite(trial=trial, site=site, number=number)
    trial_site.full_clean()
    with audited(acting_user=acting_user, reason="site added to trial"):
        trial_site.save()
    return trial_site


@transaction.atomic
def membership_grant(
    *,
    user: User,
    trial: Trial,
    role: str,
    sites: Iterable[Site] = (),
    all_sites: bool = False,
    acting_user: User | None,
    reason: str = "access granted",
) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    sites = list(sites)
    if not all_sites and not sites:
        raise ValidationError({"sites": "Choose at least one site, or all sites."})
    trial_site_ids = set(TrialSite.objects.filter(trial=trial).values_list("site_id", flat=True))
    outside = [s.code for s in sites if s.pk not in trial_site_ids]
    if outside:
        raise ValidationError({"sites": f"Not sites of {trial.code}: {', '.join(outside)}."})
    with audited(acting_user=acting_user, reason=reason):
        membership, _ = Membership.objects.update_or_create(
            user=user, trial=trial, role=role, defaults={"all_sites": all_sites, "active": True}
        )
        membership.sites.set(sites)
    return membership


@transaction.atomic
def membership_revoke(*, membership: Membership, acting_user: User, reason: str) -> Membership:
    reason = require_reason(reason)
    with audited(acting_user=acting_user, reason=reason):
        membership.active = False
        membership.save(update_fields=["active"])
    return membership


@transaction.atomic
def trial_transition(
    *, trial: Trial, to_status: str, acting_user: User | None, reason: str
) -> Trial:
    """The one way a trial's status changes (see ``trials.domain.transitions``)."""
    reason = require_reason(reason)
    locked = Trial.objects.select_for_update().get(pk=trial.pk)
    try:
        target = check_trial_transition(locked.status, to_status, phase=locked.phase)
    except TransitionError as exc:
        raise ValidationError({exc.field: exc.message}) from None
    if (
        target in ACCRUING_TRIAL_STATUSES
        and not ProtocolVersion.objects.filter(trial=locked).exists()
    ):
        raise ValidationError({"to_status": "Set up the protocol design before opening the trial."})
    with audited(acting_user=acting_user, reason=reason, trial_status=str(target)):
        locked.status = target
        locked.save(update_fields=["status"])
    logger.info(
        "trial status changed",
        extra={
            "trial": locked.code,
            "to_status": str(target),
            "user": getattr(acting_user, "pk", None),
        },
    )
    return locked


# --- Protocol design and amendments ----------------------------------------------------------


def _design_errors(exc: DesignError) -> ValidationError:
    return ValidationError({f"design.{exc.field}": exc.message})


@transaction.atomic
def protocol_version_create(
    *,
    trial: Trial,
    design: TrialDesign | Mapping[str, Any],
    effective_date: date,
    reason: str,
    acting_user: User | None,
    label: str = "",
) -> ProtocolVersion:
    """Record a whole design as the trial's next protocol version."""
    reason = require_reason(reason)
    locked = Trial.objects.select_for_update().get(pk=trial.pk)
    if not isinstance(design, TrialDesign):
        try:
            design = TrialDesign.from_dict(design)
        except DesignError as exc:
            raise _design_errors(exc) from None
    previous = ProtocolVersion.objects.filter(trial=locked).order_by("-number").first()
    if previous is not None and effective_date < previous.effective_date:
        raise ValidationError(
            {
                "effective_date": f"Version {previous.number} is effective from "
                f"{previous.effective_date:%Y-%m-%d}; an amendment cannot take effect before it."
            }
        )
    old_design = TrialDesign.from_dict(previous.design) if previous else None
    changes = old_design.diff(design) if old_design else {}
    if old_design is not None and not changes:
        raise ValidationError({"changes": "This amendment changes nothing in the design."})
    number = previous.number + 1 if previous else 1
    with audited(acting_user=acting_user, reason=reason, protocol_version=number):
        return ProtocolVersion.objects.create(
            trial=locked,
            number=number,
            label=label or (f"Amendment {number - 1}" if number > 1 else "Protocol v1"),
            effective_date=effective_date,
            reason=reason,
            design={"schema_version": 1, **design.to_dict()},
            changes=changes,
            created_by=acting_user,
        )


@transaction.atomic
def trial_design_amend(
    *,
    trial: Trial,
    changes: Mapping[str, Any],
    reason: str,
    effective_date: date,
    acting_user: User,
    label: str = "",
) -> ProtocolVersion:
    """A protocol amendment: ``changes`` is a partial design document merged into the current
    design; the result is validated and stored as a new, dated version with the reason."""
    reason = require_reason(reason)
    current = selectors.trial_design(trial)
    try:
        amended = current.with_changes(changes)
    except DesignError as exc:
        raise _design_errors(exc) from None
    return protocol_version_create(
        trial=trial,
        design=amended,
        effective_date=effective_date,
        reason=reason,
        acting_user=acting_user,
        label=label,
    )


@transaction.atomic
def trial_agent_add(
    *,
    trial: Trial,
    code: str,
    name: str,
    unit: str,
    acting_user: User | None,
    route: str = "oral",
    schedule: str = "",
    dose_days: Iterable[int] = (),
    position: int | None = None,
) -> TrialAgent:
    if position is None:
        position = TrialAgent.objects.filter(trial=trial).count()
    agent = TrialAgent(
        trial=trial,
        code=code,
        name=name,
        unit=unit,
        route=route,
        schedule=schedule,
        dose_days=sorted(set(dose_days)),
        position=position,
    )
    agent.full_clean()
    with audited(acting_user=acting_user, reason="agent added to the regimen"):
        agent.save()
    return agent


@transaction.atomic
def eligibility_criterion_add(
    *,
    trial: Trial,
    kind: str,
    code: str,
    text: str,
    acting_user: User | None,
    position: int | None = None,
) -> EligibilityCriterion:
    if position is None:
        position = EligibilityCriterion.objects.filter(trial=trial, kind=kind).count()
    criterion = EligibilityCriterion(
        trial=trial, kind=kind, code=code, text=text, position=position
    )
    criterion.full_clean()
    with audited(acting_user=acting_user, reason="eligibility criterion added"):
        criterion.save()
    return criterion


@transaction.atomic
def lab_reference_range_set(
    *,
    site: Site,
    analyte: str,
    lln: str | Decimal | None,
    uln: str | Decimal | None,
    unit: str,
    acting_user: User,
    reason: str,
) -> LabReferenceRange:
    """A site's own LLN/ULN for one analyte (entered in any accepted unit, stored canonical)."""
    reason = require_reason(reason)
    try:
        lab_rules.analyte(analyte)
        low = lab_rules.convert_limit(analyte, lln, unit)
        high = lab_rules.convert_limit(analyte, uln, unit)
        lab_rules.check_limits(low, high)
    except lab_rules.LabInputError as exc:
        raise ValidationError({exc.field: exc.message}) from None
    with audited(acting_user=acting_user, reason=reason):
        ref, _ = LabReferenceRange.objects.update_or_create(
            site=site, analyte=analyte, defaults={"lln": low, "uln": high}
        )
    return ref


# --- Screening, eligibility, consent ---------------------------------------------------------


def _patient_label(trial: Trial, screening_number: str) -> str:
    return f"{trial.code}-S{screening_number}"


@transaction.atomic
def patient_screen(
    *,
    trial: Trial,
    site: Site,
    acting_user: User,
    screening_number: str = "",
    given_name: str = "",
    family_name: str = "",
    date_of_birth: date | None = None,
    sex: str = "",
    height_cm: Decimal | None = None,
    weight_kg: Decimal | None = None,
) -> Patient:
    """Register a patient in screening at a site. A blank screening number is allocated."""
    if trial.status not in SCREENING_TRIAL_STATUSES:
        raise ValidationError(
            {
                "trial": f"{trial.code} is not screening patients "
                f"({TRIAL_STATUS_LABELS[trial.status]})."
            }
        )
    trial_site = (
        TrialSite.objects.select_for_update().filter(trial=trial, site=site, active=True).first()
    )
    if trial_site is None:
        raise ValidationError({"site": f"{site.code} is not an active site of {trial.code}."})
    screening_number = (screening_number or "").strip()
    taken = Patient.objects.filter(trial=trial, site=site)
    if not screening_number:
        number = trial_site.next_screening_number
        while taken.filter(screening_number=f"{number:03d}").exists():
            number += 1
        screening_number = f"{number:03d}"
        trial_site.next_screening_number = number + 1
        with audited(acting_user=acting_user, reason="screening number allocated"):
            trial_site.save(update_fields=["next_screening_number"])
    elif taken.filter(screening_number=screening_number).exists():
        raise ValidationError(
            {
                "screening_number": f"Screening number {screening_number} is already used at "
                f"{site.code} in {trial.code} ({_patient_label(trial, screening_number)}). "
                "Check the screening log, or leave it blank to get the next free number."
            }
        )
    errors = _Errors()
    if date_of_birth is not None and date_of_birth > timezone.localdate():
        errors.add("date_of_birth", "The date of birth is in the future.")
    try:
        dosing_rules.check_body_measurements(height_cm, weight_kg)
    except dosing_rules.DoseInputError as exc:
        errors.add(exc.field, exc.message)
    errors.raise_if_any()
    patient = Patient(
        trial=trial,
        site=site,
        screening_number=screening_number,
        given_name=given_name,
        family_name=family_name,
        date_of_birth=date_of_birth,
        sex=sex,
        height_cm=height_cm,
        weight_kg=weight_kg,
    )
    patient.full_clean(exclude=["study_id"])
    with audited(acting_user=acting_user, reason="patient screened"):
        try:
            with transaction.atomic():
                patient.save()
        except IntegrityError:
            raise ValidationError(
                {"screening_number": f"Screening number {screening_number} was just taken."}
            ) from None
    return patient


@transaction.atomic
def patient_update(
    *,
    patient: Patient,
    acting_user: User,
    reason: str | None,
    expected_version: int | None = None,
    **changes: Any,
) -> Patient:
    """Correct a patient's demographic record. Refuses a stale edit instead of overwriting."""
    reason = require_reason(reason)
    unknown = set(changes) - set(PATIENT_EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, "This field cannot be changed here."))
    locked = Patient.objects.select_for_update().get(pk=patient.pk)
    _check_version(locked, expected_version, "patient")
    changed = {k: v for k, v in changes.items() if getattr(locked, k) != v}
    if not changed:
        return locked
    for field, value in changed.items():
        setattr(locked, field, value)
    locked.version += 1
    locked.full_clean(exclude=["study_id"])
    with audited(acting_user=acting_user, reason=reason):
        locked.save(update_fields=[*changed, "version", "updated_at"])
    return locked


@transaction.atomic
def eligibility_record(
    *,
    patient: Patient,
    answers: Mapping[int | str, bool | None],
    acting_user: User,
    notes: Mapping[int | str, str] | None = None,
    reason: str | None = None,
    assessed_on: date | None = None,
) -> EligibilityResult:
    """Record answers (criterion id or code → bool). Changing an answer needs a reason.

    Once every criterion is answered: an ineligible patient becomes a screen failure, with the
    failing criteria kept on the status change.
    """
    locked = Patient.objects.select_for_update().select_related("trial").get(pk=patient.pk)
    if locked.status != PatientStatus.SCREENING:
        raise ValidationError(
            {
                "answers": f"{locked.label} is no longer in screening ({locked.get_status_display()})."
            }
        )
    notes = notes or {}
    criteria = {c.pk: c for c in selectors.eligibility_criteria(locked.trial)}
    by_code = {c.code: c for c in criteria.values()}
    existing = {a.criterion_id: a for a in EligibilityAnswer.objects.filter(patient=locked)}
    errors = _Errors()
    resolved: list[tuple[EligibilityCriterion, bool, str]] = []
    for key, value in answers.items():
        criterion = criteria.get(key) if isinstance(key, int) else by_code.get(str(key))
        if criterion is None and isinstance(key, str) and key.isdigit():
            criterion = criteria.get(int(key))
        if criterion is None:
            errors.add("answers", f"Unknown criterion {key!r} for {locked.trial.code}.")
            continue
        if value is None:
            continue
        if not isinstance(value, bool):
            errors.add(f"answers.{criterion.code}", "Answer yes or no.")
            continue
        resolved.append((criterion, value, str(notes.get(key, notes.get(criterion.code, "")))))
    errors.raise_if_any()
    changed = [
        (c, v, n)
        for c, v, n in resolved
        if c.pk in existing and (existing[c.pk].answer != v or existing[c.pk].note != n)
    ]
    if changed:
        reason = require_reason(reason)
    with audited(acting_user=acting_user, reason=reason or "eligibility answered"):
        for criterion, value, note in resolved:
            answer = existing.get(criterion.pk)
            if answer is None:
                EligibilityAnswer.objects.create(
                    patient=locked, criterion=criterion, answer=value, note=note
                )
            elif answer.answer != value or answer.note != note:
                answer.answer, answer.note = value, note
                answer.save(update_fields=["answer", "note", "answered_at"])
    _, result = selectors.patient_eligibility(locked)
    if result.complete and result.failing:
        patient_transition(
            patient=locked,
            to_status=PatientStatus.SCREEN_FAILED,
            effective_date=assessed_on or timezone.localdate(),
            reason_code=ScreenFailureReason.INELIGIBLE,
            reason="Not eligible: " + ", ".join(result.failing),
            details={"failing_criteria": list(result.failing)},
            acting_user=acting_user,
        )
    return result


@transaction.atomic
def consent_record(
    *,
    patient: Patient,
    version: str,
    consent_date: date,
    acting_user: User,
    today: date | None = None,
) -> Consent:
    """Informed consent: the form version and the date signed. No study data before it."""
    today = _today(today)
    locked = Patient.objects.select_for_update().get(pk=patient.pk)
    errors = _Errors()
    version = (version or "").strip()
    if not version:
        errors.add("version", "Give the version of the consent form the patient signed.")
    if consent_date is None:
        errors.add("consent_date", "Give the date the patient signed.")
    elif consent_date > today:
        errors.add("consent_date", f"{consent_date:%Y-%m-%d} is in the future.")
    elif locked.date_of_birth and consent_date < locked.date_of_birth:
        errors.add("consent_date", "The consent date is before the date of birth.")
    if locked.status in (PatientStatus.SCREEN_FAILED, PatientStatus.OFF_STUDY):
        errors.add("non_field_errors", f"{locked.label} is {locked.get_status_display()}.")
    if version and Consent.objects.filter(patient=locked, version=version).exists():
        errors.add("version", f"Consent version {version} is already recorded for {locked.label}.")
    errors.raise_if_any()
    with audited(acting_user=acting_user, reason="informed consent recorded"):
        consent = Consent.objects.create(patient=locked, version=version, consent_date=consent_date)
        if locked.status == PatientStatus.SCREENING:
            _plan_visits(
                locked,
                [
                    PlannedVisit(
                        code="SCR",
                        kind=VisitKind.SCREENING,
                        cycle=None,
                        day=None,
                        planned_date=consent_date,
                        window_start=consent_date,
                        window_end=consent_date + timedelta(days=28),
                    )
                ],
                replan=False,
            )
    return consent


# --- Enrolment and the patient status workflow ---------------------------------------------


def patient_enrol(
    *,
    patient: Patient,
    acting_user: User,
    enrolment_date: date,
    planned_start_date: date | None = None,
    dose_level: int | None = None,
    height_cm: Decimal | None = None,
    weight_kg: Decimal | None = None,
    today: date | None = None,
) -> Patient:
    """Enrol an eligible, consented patient: study ID, dose level, cycle 1 visits planned.

    Durable: it must be its own transaction (never nested), because the study-ID counter and,
    later, the cohort slot are locked for its whole length and released only at commit.
    """
    today = _today(today)
    with transaction.atomic(durable=True):
        trial_site = TrialSite.objects.select_for_update().get(
            trial_id=patient.trial_id, site_id=patient.site_id
        )
        locked = (
            Patient.objects.select_for_update().select_related("trial", "site").get(pk=patient.pk)
        )
        trial = locked.trial
        errors = _Errors()
        if trial.status not in ACCRUING_TRIAL_STATUSES:
            errors.add(
                "non_field_errors",
                f"{trial.code} is not enrolling ({TRIAL_STATUS_LABELS[trial.status]}).",
            )
        if locked.status != PatientStatus.SCREENING:
            errors.add(
                "non_field_errors",
                f"{locked.label} cannot be enrolled: status is {locked.get_status_display()}.",
            )
        _, eligibility = selectors.patient_eligibility(locked)
        if not eligibility.complete:
            errors.add(
                "eligibility",
                "Answer every eligibility criterion first (missing: "
                + ", ".join(eligibility.unanswered or ("no criteria defined",))
                + ").",
            )
        elif eligibility.failing:
            errors.add("eligibility", "Not eligible: " + ", ".join(eligibility.failing) + ".")
        consent_date = selectors.first_consent_date(locked)
        if enrolment_date is None:
            errors.add("enrolment_date", "Give the enrolment date.")
        elif enrolment_date > today:
            errors.add("enrolment_date", f"{enrolment_date:%Y-%m-%d} is in the future.")
        if consent_date is None:
            errors.add("consent", "Record the patient's informed consent before enrolment.")
        elif enrolment_date is not None and enrolment_date < consent_date:
            errors.add(
                "enrolment_date",
                f"Enrolment cannot be before consent ({consent_date:%Y-%m-%d}).",
            )
        start = planned_start_date or enrolment_date
        if start is not None and enrolment_date is not None and start < enrolment_date:
            errors.add("planned_start_date", "Cycle 1 day 1 cannot be before enrolment.")
        height = height_cm if height_cm is not None else locked.height_cm
        weight = weight_kg if weight_kg is not None else locked.weight_kg
        try:
            dosing_rules.check_body_measurements(height, weight)
        except dosing_rules.DoseInputError as exc:
            errors.add(exc.field, exc.message)
        level = None
        try:
            level = dosing_services.assign_dose_level_for_enrolment(
                patient=locked, requested_level=dose_level, acting_user=acting_user
            )
        except ValidationError as exc:
            errors.merge(exc)
        per_m2 = level is not None and any(
            d.unit == dosing_rules.MG_PER_M2 for d in level.doses.all()
        )
        if per_m2 and (height is None or weight is None):
            errors.add(
                "weight_kg",
                "This regimen is dosed in mg/m²: record height and weight to compute BSA.",
            )
        errors.raise_if_any()

        number = trial_site.next_study_number
        study_id = f"{trial.code}-{trial_site.number}-{number:03d}"
        with audited(acting_user=acting_user, reason="patient enrolled", study_id=study_id):
            trial_site.next_study_number = number + 1
            trial_site.save(update_fields=["next_study_number"])
            locked.study_id = study_id
            locked.dose_level = level
            locked.enrolment_date = enrolment_date
            locked.height_cm, locked.weight_kg = height, weight
            locked.version += 1
            locked.save(
                update_fields=[
                    "study_id",
                    "dose_level",
                    "enrolment_date",
                    "height_cm",
                    "weight_kg",
                    "version",
                    "updated_at",
                ]
            )
            # The screening window closes at enrolment: an unrecorded screening visit is overdue.
            Visit.objects.filter(
                patient=locked, kind=VisitKind.SCREENING, status=VisitState.PLANNED
            ).update(
                window_end=enrolment_date, planned_date=enrolment_date, version=F("version") + 1
            )
        patient_transition(
            patient=locked,
            to_status=PatientStatus.ENROLLED,
            effective_date=enrolment_date,
            reason="enrolled as " + study_id,
            details={"study_id": study_id, "dose_level": level.number},
            acting_user=acting_user,
            manual=False,
        )
        design = selectors.trial_design(trial, on=enrolment_date)
        _plan_visits(
            locked,
            plan_cycles(design, anchor=start, first_cycle=1, last_cycle=1 + CYCLES_PLANNED_AHEAD),
            reason="visit schedule planned at enrolment",
            acting_user=acting_user,
        )
    logger.info("patient enrolled", extra={"trial": trial.code, "study_id": study_id})
    return locked


@transaction.atomic
def patient_transition(
    *,
    patient: Patient,
    to_status: str,
    effective_date: date,
    acting_user: User,
    reason_code: str = "",
    reason: str = "",
    details: Mapping[str, Any] | None = None,
    manual: bool = True,
    today: date | None = None,
) -> Patient:
    """The one way a patient's status changes (see ``trials.domain.transitions``).

    ``manual`` steps are the ones a person takes (screen failure, off treatment, follow-up, off
    study); enrolment and the first dose take theirs through their own services.
    """
    today = _today(today)
    locked = Patient.objects.select_for_update().select_related("trial").get(pk=patient.pk)
    try:
        check_patient_transition(
            locked.status, to_status, reason_code=reason_code or None, manual=manual
        )
    except TransitionError as exc:
        raise ValidationError({exc.field: exc.message}) from None
    errors = _Errors()
    if effective_date is None:
        errors.add("effective_date", "Give the date of this step.")
    elif effective_date > today:
        errors.add("effective_date", f"{effective_date:%Y-%m-%d} is in the future.")
    else:
        last = locked.status_changes.order_by("-effective_date").first()
        if last is not None and effective_date < last.effective_date:
            errors.add(
                "effective_date",
                f"The previous step ({last.get_to_status_display()}) is dated "
                f"{last.effective_date:%Y-%m-%d}; this one cannot be earlier.",
            )
    errors.raise_if_any()
    from_status = locked.status
    audit_reason = reason.strip() or reason_code or f"status {to_status}"
    with audited(acting_user=acting_user, reason=audit_reason):
        PatientStatusChange.objects.create(
            patient=locked,
            from_status=from_status,
            to_status=to_status,
            effective_date=effective_date,
            reason_code=reason_code,
            reason=reason.strip(),
            details=dict(details or {}),
            created_by=acting_user,
        )
        locked.status = to_status
        locked.version += 1
        locked.save(update_fields=["status", "version", "updated_at"])
        _after_transition(locked, to_status, effective_date, acting_user=acting_user)
        safety_services.safety_on_patient_status_changed(
            patient=locked, acting_user=acting_user, today=today
        )
    patient.status, patient.version = locked.status, locked.version
    return locked


def _after_transition(
    patient: Patient, to_status: str, effective_date: date, *, acting_user: User
) -> None:
    """The schedule follows the status: planned visits that can no longer happen go, the end
    of treatment and the follow-up visits are planned."""
    planned = Visit.objects.filter(patient=patient, status=VisitState.PLANNED)
    design = selectors.trial_design(patient.trial, on=effective_date)
    if to_status in (PatientStatus.SCREEN_FAILED, PatientStatus.OFF_STUDY):
        planned.delete()
    elif to_status == PatientStatus.OFF_TREATMENT:
        planned.filter(kind=VisitKind.TREATMENT).delete()
        _plan_visits(patient, [plan_end_of_treatment(design, off_treatment_date=effective_date)])
    elif to_status == PatientStatus.FOLLOW_UP:
        off_treatment = (
            patient.status_changes.filter(to_status=PatientStatus.OFF_TREATMENT)
            .order_by("-effective_date")
            .values_list("effective_date", flat=True)
            .first()
        ) or effective_date
        _plan_visits(
            patient,
            plan_follow_up(
                design,
                off_treatment_date=off_treatment,
                first=1,
                count=FOLLOW_UP_PLANNED_AHEAD,
            ),
        )


def _plan_visits(
    patient: Patient,
    visits: Iterable[PlannedVisit],
    *,
    replan: bool = True,
    reason: str = "",
    acting_user: User | None = None,
) -> None:
    """Create planned visits that do not exist yet; move the dates of those still planned."""
    visits = list(visits)
    existing = {
        v.code: v for v in Visit.objects.filter(patient=patient, code__in=[p.code for p in visits])
    }
    context = audited(acting_user=acting_user, reason=reason) if reason else nullcontext()
    with context:
        for plan in visits:
            visit = existing.get(plan.code)
            if visit is None:
                Visit.objects.create(
                    patient=patient,
                    code=plan.code,
                    kind=plan.kind,
                    cycle=plan.cycle,
                    day=plan.day,
                    planned_date=plan.planned_date,
                    window_start=plan.window_start,
                    window_end=plan.window_end,
                    response_assessment=plan.response_assessment,
                )
            elif (
                replan
                and visit.status == VisitState.PLANNED
                and (visit.planned_date != plan.planned_date or visit.window_end != plan.window_end)
            ):
                visit.planned_date = plan.planned_date
                visit.window_start, visit.window_end = plan.window_start, plan.window_end
                visit.version += 1
                visit.save(
                    update_fields=[
                        "planned_date",
                        "window_start",
                        "window_end",
                        "version",
                        "updated_at",
                    ]
                )


# --- Visits, doses, labs -------------------------------------------------------------------


@dataclass(frozen=True)
class DoseInput:
    agent: str  # agent code
    status: str
    dose_mg: Decimal | None = None
    reason: str = ""


@dataclass(frozen=True)
class LabInput:
    analyte: str
    value: str
    unit: str = ""
    lln: str | None = None
    uln: str | None = None


def _check_study_date(
    patient: Patient, field: str, day: date | None, *, today: date, errors: _Errors
) -> None:
    """No study data in the future or before consent."""
    if day is None:
        errors.add(field, "Give the date.")
        return
    if day > today:
        errors.add(field, f"{day:%Y-%m-%d} is in the future.")
    consent_date = selectors.first_consent_date(patient)
    if consent_date is None:
        errors.add(
            field, f"{patient.label} has no informed consent on file: no study data before it."
        )
    elif day < consent_date:
        errors.add(
            field,
            f"{day:%Y-%m-%d} is before the patient's consent ({consent_date:%Y-%m-%d}): "
            "no study data before consent.",
        )


def _to_decimal(value: Any, field: str, errors: _Errors) -> Decimal | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        errors.add(field, f"{value!r} is not a number.")
        return None
    if not number.is_finite():
        errors.add(field, f"{value!r} is not a number.")
        return None
    return number


def _latest_weight(patient: Patient, *, before: Visit) -> Decimal | None:
    weight = (
        Visit.objects.filter(patient=patient, weight_kg__isnull=False, status=VisitState.DONE)
        .exclude(pk=before.pk)
        .order_by("-visit_date")
        .values_list("weight_kg", flat=True)
        .first()
    )
    return weight if weight is not None else patient.weight_kg


@transaction.atomic
def visit_record(
    *,
    visit: Visit,
    visit_date: date,
    acting_user: User,
    expected_version: int | None,
    doses: Iterable[DoseInput] = (),
    height_cm: Any = None,
    weight_kg: Any = None,
    notes: str | None = None,
    reason: str | None = None,
    today: date | None = None,
) -> Visit:
    """Record (or correct) a visit: its date, body measurements and the dose of each agent.

    The first recording needs no reason; a correction of a done visit does. A stale
    ``expected_version`` raises :class:`ConflictError` and saves nothing.
    """
    today = _today(today)
    locked = Visit.objects.select_for_update().get(pk=visit.pk)
    patient = (
        Patient.objects.select_related("trial", "site", "dose_level")
        .prefetch_related("dose_level__doses")
        .get(pk=locked.patient_id)
    )
    _check_version(locked, expected_version, "visit")
    correcting = locked.status != VisitState.PLANNED
    errors = _Errors()
    if correcting:
        try:
            reason = require_reason(reason)
        except ValidationError as exc:
            errors.merge(exc)
    elif patient.status not in DATA_ENTRY_STATUSES:
        errors.add(
            "non_field_errors",
            f"{patient.label} is {patient.get_status_display()}: no new visits can be recorded.",
        )
    _check_study_date(patient, "visit_date", visit_date, today=today, errors=errors)
    if (
        visit_date is not None
        and locked.kind in (VisitKind.TREATMENT, VisitKind.END_OF_TREATMENT)
        and patient.enrolment_date
        and visit_date < patient.enrolment_date
    ):
        errors.add(
            "visit_date",
            f"A treatment visit cannot be before enrolment ({patient.enrolment_date:%Y-%m-%d}).",
        )
    height = _to_decimal(height_cm, "height_cm", errors)
    weight = _to_decimal(weight_kg, "weight_kg", errors)
    try:
        dosing_rules.check_body_measurements(height, weight)
    except dosing_rules.DoseInputError as exc:
        errors.add(exc.field, exc.message)

    doses = list(doses)
    dose_rows: list[tuple[TrialAgent, DoseInput, Decimal, Any]] = []
    bsa = None
    if doses:
        agents = {a.code: a for a in selectors.trial_agents(patient.trial)}
        level = patient.dose_level
        if locked.kind not in (VisitKind.TREATMENT, VisitKind.UNSCHEDULED):
            errors.add("doses", f"Doses are not recorded at a {locked.get_kind_display()} visit.")
        elif level is None:
            errors.add("doses", f"{patient.label} has no dose level: enrol the patient first.")
        elif not correcting and patient.status not in DOSING_STATUSES:
            errors.add("doses", f"{patient.label} is {patient.get_status_display()}.")
        else:
            height_for_bsa = height if height is not None else patient.height_cm
            weight_for_bsa = (
                weight if weight is not None else _latest_weight(patient, before=locked)
            )
            if height_for_bsa and weight_for_bsa:
                bsa = dosing_rules.mosteller_bsa(height_for_bsa, weight_for_bsa)
            cap = selectors.trial_design(patient.trial, on=visit_date).bsa_cap_m2
            seen = set()
            for entry in doses:
                prefix = f"doses.{entry.agent}."
                agent = agents.get(entry.agent)
                if agent is None:
                    errors.add(f"{prefix}agent", f"{entry.agent!r} is not an agent of this trial.")
                    continue
                if agent.code in seen:
                    errors.add(f"{prefix}agent", f"{agent.name} is listed twice.")
                    continue
                seen.add(agent.code)
                if entry.status not in {s.value for s in dosing_rules.DoseStatus}:
                    errors.add(
                        f"{prefix}status",
                        "Choose given, reduced, held or missed.",
                    )
                    continue
                spec = level_dose(level, agent)
                if spec is None:
                    errors.add(
                        f"{prefix}agent",
                        f"{level.display_label} gives no {agent.name}.",
                    )
                    continue
                try:
                    allowed = dosing_rules.absolute_dose(
                        spec.dose,
                        spec.unit,
                        bsa_m2=bsa,
                        bsa_cap_m2=Decimal(str(cap)) if cap is not None else None,
                    )
                    dosing_rules.check_dose(
                        dosing_rules.DoseEntry(
                            agent=agent.name,
                            status=dosing_rules.DoseStatus(entry.status),
                            dose_mg=entry.dose_mg,
                            reason=entry.reason or "",
                        ),
                        allowed_mg=allowed,
                    )
                except dosing_rules.DoseInputError as exc:
                    errors.add(f"{prefix}{exc.field}", exc.message)
                    continue
                dose_rows.append((agent, entry, allowed, spec))
    errors.raise_if_any()

    audit_reason = reason if correcting else "visit recorded"
    with audited(acting_user=acting_user, reason=audit_reason, visit=locked.code):
        locked.visit_date = visit_date
        locked.height_cm = height
        locked.weight_kg = weight
        if bsa is not None and (height is not None or weight is not None):
            locked.bsa_m2 = bsa
        elif height is not None and weight is not None:
            locked.bsa_m2 = dosing_rules.mosteller_bsa(height, weight)
        if notes is not None:
            locked.notes = notes
        locked.status = VisitState.DONE
        locked.missed_reason = ""
        locked.version += 1
        locked.save()
        existing = {d.agent_id: d for d in DoseAdministration.objects.filter(visit=locked)}
        for agent, entry, allowed, spec in dose_rows:
            values = {
                "dose_level": patient.dose_level,
                "status": entry.status,
                "dose_mg": entry.dose_mg,
                "allowed_mg": allowed,
                "level_dose": spec.dose,
                "level_unit": spec.unit,
                "reason": (entry.reason or "").strip(),
            }
            current = existing.get(agent.pk)
            if current is None:
                DoseAdministration.objects.create(visit=locked, agent=agent, **values)
            elif any(getattr(current, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(current, k, v)
                current.save()
        _after_visit(locked, patient, acting_user=acting_user)
        safety_services.safety_on_doses_recorded(
            patient=patient, acting_user=acting_user, today=today
        )
    return locked


def _after_visit(visit: Visit, patient: Patient, *, acting_user: User) -> None:
    """A recorded day 1 anchors its cycle and plans the next; the first dose starts treatment;
    a follow-up visit plans the next one."""
    if visit.kind == VisitKind.TREATMENT and visit.day == 1 and visit.cycle:
        design = selectors.trial_design(patient.trial, on=visit.visit_date)
        last_cycle = max(
            visit.cycle + CYCLES_PLANNED_AHEAD,
            Visit.objects.filter(patient=patient, kind=VisitKind.TREATMENT)
            .order_by("-cycle")
            .values_list("cycle", flat=True)
            .first()
            or visit.cycle,
        )
        if patient.status in DOSING_STATUSES:
            _plan_visits(
                patient,
                plan_cycles(
                    design,
                    anchor=visit.visit_date,
                    first_cycle=visit.cycle,
                    last_cycle=last_cycle,
                    from_day=2,
                ),
            )
    if (
        patient.status == PatientStatus.ENROLLED
        and visit.doses.filter(status__in=[s.value for s in dosing_rules.RECEIVED]).exists()
    ):
        patient_transition(
            patient=patient,
            to_status=PatientStatus.ON_TREATMENT,
            effective_date=visit.visit_date,
            reason="first dose given",
            details={"visit": visit.code},
            acting_user=acting_user,
            manual=False,
        )
    if visit.kind == VisitKind.FOLLOW_UP and patient.status == PatientStatus.FOLLOW_UP:
        number = int(visit.code.removeprefix("FU") or 0)
        off_treatment = (
            patient.status_changes.filter(to_status=PatientStatus.OFF_TREATMENT)
            .order_by("-effective_date")
            .values_list("effective_date", flat=True)
            .first()
        )
        if off_treatment:
            design = selectors.trial_design(patient.trial, on=visit.visit_date)
            _plan_visits(
                patient,
                plan_follow_up(
                    design,
                    off_treatment_date=off_treatment,
                    first=number + 1,
                    count=FOLLOW_UP_PLANNED_AHEAD,
                ),
                replan=False,
            )


@transaction.atomic
def visit_mark_missed(
    *,
    visit: Visit,
    reason: str,
    acting_user: User,
    expected_version: int | None,
) -> Visit:
    """A planned visit that did not happen: kept, with why (never silently dropped)."""
    reason = require_reason(reason)
    locked = Visit.objects.select_for_update().get(pk=visit.pk)
    _check_version(locked, expected_version, "visit")
    if locked.status != VisitState.PLANNED:
        raise ValidationError(
            {"non_field_errors": f"{locked.label} is {locked.get_status_display()}, not planned."}
        )
    with audited(acting_user=acting_user, reason=reason, visit=locked.code):
        locked.status = VisitState.MISSED
        locked.missed_reason = reason
        locked.version += 1
        locked.save(update_fields=["status", "missed_reason", "version", "updated_at"])
    return locked


@transaction.atomic
def visit_add_unscheduled(
    *, patient: Patient, visit_date: date, acting_user: User, today: date | None = None
) -> Visit:
    """An unscheduled visit on ``visit_date``, ready to be recorded (its first save needs no
    reason; left unrecorded, it shows as overdue the next day)."""
    today = _today(today)
    locked = Patient.objects.select_for_update().get(pk=patient.pk)
    errors = _Errors()
    if locked.status not in DATA_ENTRY_STATUSES:
        errors.add(
            "non_field_errors",
            f"{locked.label} is {locked.get_status_display()}: no new visits.",
        )
    _check_study_date(locked, "visit_date", visit_date, today=today, errors=errors)
    errors.raise_if_any()
    count = Visit.objects.filter(patient=locked, kind=VisitKind.UNSCHEDULED).count()
    with audited(acting_user=acting_user, reason="unscheduled visit added"):
        return Visit.objects.create(
            patient=locked,
            code=f"U{count + 1}",
            kind=VisitKind.UNSCHEDULED,
            planned_date=visit_date,
            window_start=visit_date,
            window_end=visit_date,
        )


@transaction.atomic
def lab_result_record(
    *,
    visit: Visit,
    analyte: str,
    value: Any,
    acting_user: User,
    unit: str = "",
    lln: Any = None,
    uln: Any = None,
    collected_on: date | None = None,
    reason: str | None = None,
    expected_version: int | None = None,
    today: date | None = None,
) -> LabResult:
    """Record one lab result at a recorded visit, converted once to the canonical unit.

    Limits: ``lln``/``uln`` given here (in the entered unit) override the site's own, which
    override the catalogue's defaults. Changing a result needs a reason.
    """
    today = _today(today)
    visit = Visit.objects.select_related("patient__site", "patient__trial").get(pk=visit.pk)
    patient = visit.patient
    errors = _Errors()
    if visit.status != VisitState.DONE or visit.visit_date is None:
        raise ValidationError(
            {"visit": f"Record the date of {visit.label} before its lab results."}
        )
    collected = collected_on or visit.visit_date
    _check_study_date(patient, "collected_on", collected, today=today, errors=errors)
    converted = None
    low = high = None
    source = "catalogue"
    try:
        converted = lab_rules.convert(analyte, value, unit)
    except lab_rules.LabInputError as exc:
        errors.add(exc.field, exc.message)
    if converted is not None and converted.value is not None:
        given_limits = any(str(x or "").strip() for x in (lln, uln))
        if given_limits:
            try:
                low = lab_rules.convert_limit(analyte, lln, unit)
                high = lab_rules.convert_limit(analyte, uln, unit)
                lab_rules.check_limits(low, high)
                source = "result"
            except lab_rules.LabInputError as exc:
                errors.add("lln" if exc.field in ("value", "lln") else exc.field, exc.message)
        else:
            low, high, source = selectors.reference_limits(patient.site, analyte)
    errors.raise_if_any()
    if converted is None:  # unreachable: a failed conversion is already reported above
        raise ValidationError({"value": "The value could not be read."})
    values = {
        "collected_on": collected,
        "value_as_entered": converted.value_as_entered,
        "unit_as_entered": converted.unit_as_entered,
        "value": converted.value,
        "unit": converted.unit,
        "category": converted.category,
        "lln": low,
        "uln": high,
        "limits_source": source,
    }
    existing = LabResult.objects.select_for_update().filter(visit=visit, analyte=analyte).first()
    if existing is None:
        if patient.status not in DATA_ENTRY_STATUSES:
            raise ValidationError(
                {"non_field_errors": f"{patient.label} is {patient.get_status_display()}."}
            )
        with audited(acting_user=acting_user, reason="lab result recorded", visit=visit.code):
            created = LabResult.objects.create(
                patient=patient, visit=visit, analyte=analyte, **values
            )
            safety_services.safety_grade_lab_results(
                patient=patient, lab_result_ids=[created.pk], acting_user=acting_user
            )
        _lab_results_changed(patient_id=patient.pk, analyte=analyte)
        return created
    _check_version(existing, expected_version, "lab result")
    if all(getattr(existing, k) == v for k, v in values.items()):
        return existing
    reason = require_reason(reason)
    with audited(acting_user=acting_user, reason=reason, visit=visit.code):
        for k, v in values.items():
            setattr(existing, k, v)
        existing.version += 1
        existing.save()
        safety_services.safety_grade_lab_results(
            patient=patient, lab_result_ids=[existing.pk], acting_user=acting_user
        )
    _lab_results_changed(patient_id=patient.pk, analyte=analyte)
    return existing


def _lab_results_changed(*, patient_id: int, analyte: str) -> None:
    """After commit, recompute what depends on this lab (the IMWG response for myeloma labs)."""
    from config.enqueue import enqueue_on_commit
    from response.domain.imwg_input import RESPONSE_ANALYTES
    from response.tasks import evaluate_patient

    if analyte in RESPONSE_ANALYTES:
        enqueue_on_commit(evaluate_patient, patient_id)


@transaction.atomic
def lab_result_delete(
    *, lab: LabResult, acting_user: User, reason: str, expected_version: int | None = None
) -> None:
    """Remove a result entered in error (the audit trail keeps it, with the reason)."""
    reason = require_reason(reason)
    locked = LabResult.objects.select_for_update().get(pk=lab.pk)
    _check_version(locked, expected_version, "lab result")
    with audited(acting_user=acting_user, reason=reason):
        locked.delete()
    _lab_results_changed(patient_id=locked.patient_id, analyte=locked.analyte)


@transaction.atomic
def visit_complete(
    *,
    visit: Visit,
    visit_date: date,
    acting_user: User,
    expected_version: int | None,
    doses: Iterable[DoseInput] = (),
    labs: Iterable[LabInput] = (),
    height_cm: Any = None,
    weight_kg: Any = None,
    notes: str | None = None,
    reason: str | None = None,
    today: date | None = None,
) -> Visit:
    """The visit form's one save: visit, doses and labs together, all or nothing.

    Every problem is reported at once (``labs.<CODE>.value`` style keys), and nothing is saved
    unless everything is valid. A lab left blank that was recorded before is removed (with the
    reason the correction needs).

    The labs are checked first and then written together (one read, one insert, one update,
    one grading call), so the cost of a save does not grow with the number of labs.
    """
    errors = _Errors()
    recorded = None
    try:
        # visit_record is atomic itself: a refusal rolls back to its own savepoint.
        recorded = visit_record(
            visit=visit,
            visit_date=visit_date,
            acting_user=acting_user,
            expected_version=expected_version,
            doses=doses,
            height_cm=height_cm,
            weight_kg=weight_kg,
            notes=notes,
            reason=reason,
            today=today,
        )
    except ValidationError as exc:
        errors.merge(exc)
    labs = list(labs)
    if recorded is None:
        # Check the labs anyway so that the form shows every problem in one pass.
        for lab in labs:
            if not str(lab.value or "").strip():
                continue
            try:
                lab_rules.convert(lab.analyte, lab.value, lab.unit)
            except lab_rules.LabInputError as exc:
                errors.add(f"labs.{lab.analyte}.{exc.field}", exc.message)
        errors.raise_if_any()
    _visit_labs_save(
        recorded, labs, acting_user=acting_user, reason=reason, today=today, errors=errors
    )
    errors.raise_if_any()
    return recorded


LAB_RESULT_VALUE_FIELDS = (
    "collected_on",
    "value_as_entered",
    "unit_as_entered",
    "value",
    "unit",
    "category",
    "lln",
    "uln",
    "limits_source",
)


def _site_reference_limits(
    site: Site, analytes: Iterable[str]
) -> dict[str, tuple[Decimal | None, Decimal | None, str]]:
    """:func:`selectors.reference_limits` for several analytes at once (one query)."""
    wanted = set(analytes)
    if not wanted:
        return {}
    own = {r.analyte: r for r in LabReferenceRange.objects.filter(site=site, analyte__in=wanted)}
    limits = {}
    for analyte in wanted:
        if analyte in own:
            limits[analyte] = (own[analyte].lln, own[analyte].uln, "site")
        else:
            limits[analyte] = (
                lab_rules.ANALYTES[analyte].lln,
                lab_rules.ANALYTES[analyte].uln,
                "catalogue",
            )
    return limits


def _visit_labs_save(
    visit: Visit,
    labs: list[LabInput],
    *,
    acting_user: User,
    reason: str | None,
    today: date | None,
    errors: _Errors,
) -> None:
    """The labs of a recorded visit, as :func:`lab_result_record` and :func:`lab_result_delete`
    would save them one by one (same checks, messages, audit reasons and hooks), in a constant
    number of queries: every lab is checked first, then the writes are done in bulk. Problems
    are added to ``errors`` (``labs.<CODE>.<field>``); nothing is written when there is one.
    """
    today = _today(today)
    if visit.status != VisitState.DONE or visit.visit_date is None:
        raise ValidationError(
            {"visit": f"Record the date of {visit.label} before its lab results."}
        )
    patient = Patient.objects.select_related("site", "trial").get(pk=visit.patient_id)
    existing = {r.analyte: r for r in LabResult.objects.select_for_update().filter(visit=visit)}
    entered = [lab for lab in labs if str(lab.value or "").strip()]
    collected = visit.visit_date
    date_errors = _Errors()
    if entered:
        _check_study_date(patient, "collected_on", collected, today=today, errors=date_errors)
    converted: dict[str, Any] = {}
    for lab in entered:
        if lab.analyte in converted:
            continue  # listed twice: refused below
        try:
            converted[lab.analyte] = lab_rules.convert(lab.analyte, lab.value, lab.unit)
        except lab_rules.LabInputError as exc:
            converted[lab.analyte] = exc
    reference = _site_reference_limits(
        patient.site,
        {
            lab.analyte
            for lab in entered
            if not isinstance(converted[lab.analyte], lab_rules.LabInputError)
            and converted[lab.analyte].value is not None
            and not any(str(x or "").strip() for x in (lab.lln, lab.uln))
        },
    )

    to_delete: list[LabResult] = []
    to_create: list[LabResult] = []
    to_update: list[LabResult] = []
    seen: set[str] = set()
    for lab in labs:
        prefix = f"labs.{lab.analyte}."
        if lab.analyte in seen:
            errors.add(f"{prefix}analyte", f"{lab.analyte} is listed twice.")
            continue
        seen.add(lab.analyte)
        if not str(lab.value or "").strip():
            if lab.analyte in existing:
                try:
                    require_reason(reason)
                except ValidationError as exc:
                    errors.merge(exc, prefix=prefix)
                else:
                    to_delete.append(existing[lab.analyte])
            continue
        lab_errors = _Errors()
        for field, messages in date_errors.messages.items():
            for message in messages:
                lab_errors.add(field, message)
        result = converted[lab.analyte]
        low = high = None
        source = "catalogue"
        if isinstance(result, lab_rules.LabInputError):
            lab_errors.add(result.field, result.message)
            result = None
        if result is not None and result.value is not None:
            if any(str(x or "").strip() for x in (lab.lln, lab.uln)):
                try:
                    low = lab_rules.convert_limit(lab.analyte, lab.lln, lab.unit)
                    high = lab_rules.convert_limit(lab.analyte, lab.uln, lab.unit)
                    lab_rules.check_limits(low, high)
                    source = "result"
                except lab_rules.LabInputError as exc:
                    lab_errors.add(
                        "lln" if exc.field in ("value", "lln") else exc.field, exc.message
                    )
            else:
                low, high, source = reference[lab.analyte]
        if lab_errors or result is None:
            for field, messages in lab_errors.messages.items():
                for message in messages:
                    errors.add(f"{prefix}{field}", message)
            continue
        values = {
            "collected_on": collected,
            "value_as_entered": result.value_as_entered,
            "unit_as_entered": result.unit_as_entered,
            "value": result.value,
            "unit": result.unit,
            "category": result.category,
            "lln": low,
            "uln": high,
            "limits_source": source,
        }
        current = existing.get(lab.analyte)
        if current is None:
            if patient.status not in DATA_ENTRY_STATUSES:
                errors.add(
                    f"{prefix}non_field_errors",
                    f"{patient.label} is {patient.get_status_display()}.",
                )
                continue
            to_create.append(LabResult(patient=patient, visit=visit, analyte=lab.analyte, **values))
            continue
        if all(getattr(current, k) == v for k, v in values.items()):
            continue
        try:
            require_reason(reason)
        except ValidationError as exc:
            errors.merge(exc, prefix=prefix)
            continue
        for k, v in values.items():
            setattr(current, k, v)
        to_update.append(current)
    if errors:
        return

    changed: list[str] = []
    if to_delete:
        with audited(acting_user=acting_user, reason=require_reason(reason)):
            LabResult.objects.filter(pk__in=[r.pk for r in to_delete]).delete()
        changed += [r.analyte for r in to_delete]
    graded: list[int] = []
    if to_create:
        with audited(acting_user=acting_user, reason="lab result recorded", visit=visit.code):
            LabResult.objects.bulk_create(to_create)
        graded += [r.pk for r in to_create]
        changed += [r.analyte for r in to_create]
    if to_update:
        now = timezone.now()
        for row in to_update:
            row.version += 1
            row.updated_at = now
        with audited(acting_user=acting_user, reason=require_reason(reason), visit=visit.code):
            LabResult.objects.bulk_update(
                to_update, [*LAB_RESULT_VALUE_FIELDS, "version", "updated_at"]
            )
        graded += [r.pk for r in to_update]
        changed += [r.analyte for r in to_update]
    if graded:
        # One grading call for the visit (it takes a list); its own audit reason, inheriting
        # who acted and the visit.
        with audited(acting_user=acting_user, visit=visit.code):
            safety_services.safety_grade_lab_results(
                patient=patient, lab_result_ids=graded, acting_user=acting_user
            )
    _labs_changed(patient_id=patient.pk, analytes=changed)


def _labs_changed(*, patient_id: int, analytes: Iterable[str]) -> None:
    """:func:`_lab_results_changed` for several labs: the response is evaluated once."""
    from response.domain.imwg_input import RESPONSE_ANALYTES

    first = next((a for a in analytes if a in RESPONSE_ANALYTES), None)
    if first is not None:
        _lab_results_changed(patient_id=patient_id, analyte=first)


# --- Vital status ---------------------------------------------------------------------------


@transaction.atomic
def last_contact_record(
    *,
    patient: Patient,
    contact_date: date,
    vital_status: str,
    acting_user: User,
    death_date: date | None = None,
    cause_of_death: str = "",
    source: str = "",
    today: date | None = None,
) -> LastContact:
    """Known alive on a date, or dead on a date: what overall survival is derived from."""
    today = _today(today)
    locked = Patient.objects.select_for_update().get(pk=patient.pk)
    errors = _Errors()
    if vital_status not in VitalStatus.values:
        errors.add("vital_status", "Choose alive or dead.")
    _check_study_date(locked, "contact_date", contact_date, today=today, errors=errors)
    if vital_status == VitalStatus.DEAD:
        if death_date is None:
            errors.add("death_date", "Give the date of death.")
        else:
            _check_study_date(locked, "death_date", death_date, today=today, errors=errors)
            if contact_date and death_date > contact_date:
                errors.add("death_date", "The date of death is after the date it was learnt.")
    elif death_date is not None:
        errors.add("death_date", "A date of death only goes with vital status 'dead'.")
    previous = selectors.last_contact(locked)
    if previous is not None and previous.vital_status == VitalStatus.DEAD:
        errors.add(
            "vital_status",
            f"{locked.label} is recorded as dead on {previous.death_date:%Y-%m-%d}.",
        )
    if vital_status == VitalStatus.ALIVE and contact_date:
        last_visit = (
            Visit.objects.filter(patient=locked, status=VisitState.DONE)
            .order_by("-visit_date")
            .values_list("visit_date", flat=True)
            .first()
        )
        if last_visit and contact_date < last_visit:
            errors.add(
                "contact_date",
                f"The patient was seen on {last_visit:%Y-%m-%d}, after this contact date.",
            )
    errors.raise_if_any()
    with audited(acting_user=acting_user, reason="last contact recorded"):
        return LastContact.objects.create(
            patient=locked,
            contact_date=contact_date,
            vital_status=vital_status,
            death_date=death_date,
            cause_of_death=cause_of_death,
            source=source,
        )
