"""Every read of the dosing app: dose levels, the escalation input, slots, decisions, jobs.

Reads other apps rely on (stable interface):

- :func:`dose_levels`, :func:`current_dose_level`, :func:`level_dose` — the trial's levels;
- :func:`enrolment_slot_status` — the level open for enrolment and its free slots (or why
  enrolment waits), for the enrolment pages;
- :func:`escalation_input` — the engine's input built from the database (settings from
  ``trials.selectors.trial_design``, patient states from :func:`dlt_states`).

:func:`dlt_states` is the one place the dosing app reads patients' DLT states.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from django.db.models import Count, Prefetch, Q, QuerySet
from django.shortcuts import get_object_or_404

from dosing.domain.escalation import (
    DLTStatus,
    EscalationInputError,
    EscalationSettings,
    EscalationState,
    LevelPatients,
    PatientDLTState,
    RuleSet,
)
from dosing.models import (
    DecisionKind,
    DecisionSignature,
    DecisionStatus,
    DoseLevel,
    DoseLevelDose,
    EscalationDecision,
    EscalationStage,
    OcSimulationJob,
    SignatureStatus,
    SlotAssignment,
    SlotKind,
    TrialEscalation,
)
from trials import selectors as trial_selectors
from trials.domain.design import EscalationDesign
from trials.models import Patient, Role, Trial, TrialAgent, TrialStatus, User

#: Roles that see the escalation grid, the decisions and the design tools of a trial.
ESCALATION_READ_ROLES = (Role.INVESTIGATOR, Role.TRIAL_ADMIN, Role.STATISTICIAN, Role.MONITOR)
#: Roles that sign (or override) escalation decisions.
ESCALATION_SIGN_ROLES = (Role.INVESTIGATOR,)
#: Trial statuses in which enrolment follows the dose-escalation slots.
ESCALATION_TRIAL_STATUSES = (TrialStatus.OPEN, TrialStatus.PHASE_I)


class EscalationNotConfigured(Exception):
    """The trial has no dose-escalation design, or its dose levels do not fit one."""


# --- Dose levels ---------------------------------------------------------------------------


def dose_levels(trial: Trial, *, include_retired: bool = False) -> QuerySet[DoseLevel]:
    """The trial's dose levels (current ones unless ``include_retired``), lowest first, with
    their doses and agents prefetched."""
    qs = DoseLevel.objects.filter(trial=trial)
    if not include_retired:
        qs = qs.filter(retired_in__isnull=True)
    return (
        qs.select_related("introduced_in", "retired_in")
        .prefetch_related(
            Prefetch(
                "doses",
                queryset=DoseLevelDose.objects.select_related("agent").order_by(
                    "agent__position", "agent__code"
                ),
            )
        )
        .order_by("number", "id")
    )


def current_dose_level(trial: Trial, number: int) -> DoseLevel | None:
    return dose_levels(trial).filter(number=number).first()


def level_dose(dose_level: DoseLevel, agent: TrialAgent) -> DoseLevelDose | None:
    """The level's dose of ``agent`` (uses the prefetched doses when present)."""
    for dose in dose_level.doses.all():
        if dose.agent_id == agent.pk:
            return dose
    return None


# --- DLT states (the safety app's contract) ------------------------------------------------


class DltStateLike(Protocol):
    """What ``safety.selectors.dlt_states_for_trial`` returns per patient."""

    patient_id: int
    dose_level_id: int
    status: str
    reason: str
    window_opens_on: date | None
    window_closes_on: date | None
    days_elapsed: int
    days_remaining: int
    confirmed_dlt_ae_ids: tuple[int, ...]


def dlt_states(
    trial: Trial, *, patient_ids: Iterable[int] | None = None, window_days: int | None = None
) -> Mapping[int, DltStateLike]:
    """Every patient's DLT state (or only those of ``patient_ids``), keyed by patient id: the
    one place dosing reads them."""
    # Imported here: the safety app imports dosing's models, so a module-level import would
    # tie the two apps' import order together.
    from safety.selectors import dlt_states_for_trial

    return dlt_states_for_trial(trial, patient_ids=patient_ids, window_days=window_days)


def phase_one_patients(trial: Trial) -> QuerySet[Patient]:
    """The trial's patients the escalation counts: a dose level and no phase II slot."""
    return (
        Patient.objects.filter(trial=trial, dose_level__isnull=False)
        .exclude(dose_slot__kind=SlotKind.PHASE_II)
        .order_by()
    )


def phase_ii_counts(trial: Trial) -> dict[int, int]:
    """Patients with a dose level holding a phase II slot, per level number (counted in SQL:
    a phase II trial has thousands of them and the escalation needs none of their rows)."""
    return dict(
        SlotAssignment.objects.filter(
            trial=trial, kind=SlotKind.PHASE_II, patient__dose_level__isnull=False
        )
        .values_list("level_number")
        .annotate(n=Count("pk"))
        .order_by("level_number")
    )


# --- The engine's input ------------------------------------------------------------------------


def escalation_design(trial: Trial) -> EscalationDesign | None:
    return trial_selectors.trial_design(trial).escalation


def escalation_settings(
    trial: Trial, *, levels: Iterable[DoseLevel], design: EscalationDesign | None = None
) -> EscalationSettings:
    """The engine's settings: the design's variant (``trial_design(trial).escalation``) over the
    trial's current dose levels (1..K, and −1 when the protocol names it)."""
    design = design if design is not None else escalation_design(trial)
    if design is None:
        raise EscalationNotConfigured(f"{trial.code} has no dose-escalation design.")
    numbers = sorted({lv.number for lv in levels})
    positive = [n for n in numbers if n > 0]
    if not positive:
        raise EscalationNotConfigured(f"{trial.code} has no dose levels yet.")
    if positive != list(range(1, len(positive) + 1)):
        raise EscalationNotConfigured(
            f"{trial.code}'s dose levels must run 1, 2, … without gaps (have {positive})."
        )
    negative = [n for n in numbers if n < 0]
    lowest = 1
    if design.has_level_minus_one and negative:
        if negative != list(range(min(negative), 0)):
            raise EscalationNotConfigured(
                f"{trial.code}'s levels below 1 must run −1, −2, … without gaps (have {negative})."
            )
        lowest = min(negative)
    start = next((lv.number for lv in levels if lv.is_starting and lv.number > 0), 1)
    try:
        return EscalationSettings(
            num_levels=len(positive),
            allow_deescalate=design.allow_deescalate,
            require_six_at_mtd=design.require_six_at_mtd,
            lowest_level=lowest,
            start_level=start,
            rule_set=RuleSet(design.rule_set),
            early_determination=design.early_determination,
        )
    except (EscalationInputError, ValueError) as exc:
        raise EscalationNotConfigured(str(exc)) from None


@dataclass(frozen=True)
class EscalationPatient:
    """One patient as the escalation sees them: level, DLT state, window progress, slot."""

    patient_id: int
    ref: str
    site_id: int
    level_number: int
    dose_level_id: int
    status: str
    reason: str
    window_opens_on: date | None
    window_closes_on: date | None
    days_elapsed: int
    days_remaining: int
    dlt_count: int
    slot: SlotAssignment | None

    @property
    def holds_slot(self) -> bool:
        return self.status != DLTStatus.NOT_EVALUABLE

    @property
    def window_length(self) -> int:
        return self.days_elapsed + self.days_remaining

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)


STATUS_LABELS = {
    DLTStatus.DLT: "DLT",
    DLTStatus.NO_DLT: "No DLT (evaluable)",
    DLTStatus.PENDING: "In the DLT window",
    DLTStatus.NOT_EVALUABLE: "Not evaluable (replaced)",
}


@dataclass(frozen=True)
class EscalationInput:
    """The engine's input for one trial, with the rows it was built from."""

    trial: Trial
    settings: EscalationSettings
    state: EscalationState
    patients: tuple[EscalationPatient, ...]
    #: Phase II patients per level number (counted, not read: the engine does not use them).
    phase_ii_counts: Mapping[int, int]
    levels: tuple[DoseLevel, ...]
    window_days: int
    by_ref: Mapping[str, EscalationPatient] = field(default_factory=dict)

    @property
    def phase_ii_count(self) -> int:
        return sum(self.phase_ii_counts.values())

    def occupied(self, level_number: int) -> int:
        """Patients holding a slot at the level (everyone but the not-evaluable)."""
        return sum(p.holds_slot for p in self.patients if p.level_number == level_number)

    def level(self, number: int | None) -> DoseLevel | None:
        return next((lv for lv in self.levels if lv.number == number), None)


def _ref(row: Mapping[str, Any]) -> str:
    return row["study_id"] or f"patient-{row['pk']}"


def escalation_input(trial: Trial, *, design: EscalationDesign | None = None) -> EscalationInput:
    """Map the database rows to the engine's dataclasses, once (about 8 queries, whatever the
    number of patients).

    Phase I patients are the patients with a dose level who do not hold a phase II slot; each
    counts at the level of its DLT window (the first dose), in enrolment order, so the current
    level is the level of the most recently enrolled patient. Only phase I patients are read
    row by row; phase II patients (thousands once a trial is in phase II) are only counted, so
    the work grows with the levels and the phase I cohorts, not with the trial's size.
    """
    levels = tuple(dose_levels(trial, include_retired=True))
    current = tuple(lv for lv in levels if lv.retired_in_id is None)
    trial_design = trial_selectors.trial_design(trial)
    settings = escalation_settings(
        trial, levels=current, design=design if design is not None else trial_design.escalation
    )
    window_days = trial_design.dlt_window_days
    number_of = {lv.pk: lv.number for lv in levels}
    # One pass over the trial's patients in SQL; only the phase I rows come back, and the
    # reads that follow look them up by id.
    rows = {
        r["pk"]: r
        for r in phase_one_patients(trial).values("pk", "study_id", "site_id", "enrolment_date")
    }
    states = dlt_states(trial, patient_ids=rows, window_days=window_days)
    # Phase I patients hold escalation slots (or none, when enrolled before slots existed).
    slots = {
        s.patient_id: s for s in SlotAssignment.objects.filter(trial=trial, patient_id__in=rows)
    }
    patients: list[tuple[tuple, EscalationPatient]] = []
    for patient_id, st in states.items():
        row = rows.get(patient_id)
        if row is None:
            continue
        slot = slots.get(patient_id)
        patient = EscalationPatient(
            patient_id=patient_id,
            ref=_ref(row),
            site_id=row["site_id"],
            level_number=number_of[st.dose_level_id],
            dose_level_id=st.dose_level_id,
            status=str(st.status),
            reason=st.reason,
            window_opens_on=st.window_opens_on,
            window_closes_on=st.window_closes_on,
            days_elapsed=st.days_elapsed,
            days_remaining=st.days_remaining,
            dlt_count=len(st.confirmed_dlt_ae_ids),
            slot=slot,
        )
        # Patients enrolled before slots existed come first; then the order of assignment.
        order = (
            slot is not None,
            slot.assigned_at.timestamp() if slot else 0.0,
            (row["enrolment_date"] or date.min).toordinal(),
            patient_id,
        )
        patients.append((order, patient))
    patients.sort(key=lambda item: item[0])
    phase_one_rows = tuple(p for _, p in patients)
    by_level: dict[int, list[PatientDLTState]] = {}
    for p in phase_one_rows:
        by_level.setdefault(p.level_number, []).append(
            PatientDLTState(status=DLTStatus(p.status), patient_ref=p.ref)
        )
    state = EscalationState(
        current_level=phase_one_rows[-1].level_number if phase_one_rows else None,
        levels=tuple(
            LevelPatients(level=level, patients=tuple(ps)) for level, ps in by_level.items()
        ),
    )
    return EscalationInput(
        trial=trial,
        settings=settings,
        state=state,
        patients=phase_one_rows,
        phase_ii_counts=phase_ii_counts(trial),
        levels=current,
        window_days=window_days,
        by_ref={p.ref: p for p in phase_one_rows},
    )


# --- Escalation state, slots and enrolment ------------------------------------------------------


def escalation_of(trial: Trial) -> TrialEscalation | None:
    return (
        TrialEscalation.objects.filter(trial=trial)
        .select_related("current_decision", "applied_decision")
        .first()
    )


def trials_in_escalation() -> list[int]:
    """Trials whose escalation the sweep evaluates: trials enrolling in phase I with an
    escalation design, and every trial whose escalation has started and is not closed (data
    under a signed decision can still change)."""
    ids = set(
        TrialEscalation.objects.exclude(trial__status=TrialStatus.CLOSED).values_list(
            "trial_id", flat=True
        )
    )
    for trial in Trial.objects.filter(status__in=ESCALATION_TRIAL_STATUSES).exclude(pk__in=ids):
        if escalation_design(trial) is not None:
            ids.add(trial.pk)
    return sorted(ids)


@dataclass(frozen=True)
class SlotStatusSummary:
    """What enrolment would do now, for the enrolment page: the level and free slots, or why
    the patient has to wait."""

    escalation: bool
    level: DoseLevel | None
    free_slots: int | None
    message: str


def enrolment_slot_status(
    trial: Trial,
    *,
    data: EscalationInput | None = None,
    escalation: TrialEscalation | None = None,
) -> SlotStatusSummary:
    """The level the next enrolment gets and how many slots are free (no locks: advisory).
    A page that has already read the escalation input and row passes them in."""
    design = escalation_design(trial) if data is None else None
    configured = data is not None or design is not None
    esc = escalation if escalation is not None else escalation_of(trial)
    if not configured or (esc is None and trial.status not in ESCALATION_TRIAL_STATUSES):
        return SlotStatusSummary(False, None, None, "The coordinator chooses the dose level.")
    if esc is not None and esc.stage == EscalationStage.RP2D_DECLARED:
        level = current_dose_level(trial, esc.rp2d_level_number)
        return SlotStatusSummary(
            True, level, None, f"Phase II: every patient is given the RP2D ({level})."
        )
    if data is None:
        try:
            data = escalation_input(trial, design=design)
        except (EscalationNotConfigured, EscalationInputError) as exc:
            return SlotStatusSummary(True, None, 0, str(exc))
    number = esc.open_level_number if esc else data.settings.start_level
    target = esc.cohort_target if esc else 3
    level = data.level(number)
    if esc is not None and (esc.on_hold or esc.stage != EscalationStage.ESCALATING):
        return SlotStatusSummary(True, level, 0, closed_message(esc, level))
    free = max(0, target - data.occupied(number)) if level else 0
    if free:
        return SlotStatusSummary(True, level, free, f"{level}: {free} slot(s) free.")
    return SlotStatusSummary(True, level, 0, cohort_full_message(level, data, target))


def closed_message(esc: TrialEscalation, level: DoseLevel | None) -> str:
    if esc.on_hold:
        return f"Enrolment is on hold: {esc.hold_reason}"
    if esc.stage == EscalationStage.MTD_DECLARED:
        return (
            f"Dose escalation has stopped (MTD: level {esc.mtd_level_number}). Enrolment "
            "reopens in phase II once an investigator signs the RP2D."
        )
    if esc.stage == EscalationStage.NO_TOLERABLE_DOSE:
        return "Dose escalation has stopped: no tolerable dose. Nobody more is enrolled."
    return f"No level is open for enrolment ({level})."


def cohort_full_message(level: DoseLevel | None, data: EscalationInput, target: int) -> str:
    if level is None:
        return "No level is open for enrolment."
    at_level = [p for p in data.patients if p.level_number == level.number and p.holds_slot]
    pending = sum(p.status == DLTStatus.PENDING for p in at_level)
    return (
        f"Cohort full, awaiting DLT evaluation: {level} holds {len(at_level)} of {target} "
        f"patients ({pending} still in the DLT window). The patient waits in screening until "
        "a signed escalation decision opens a slot."
    )


def slots_for_trial(trial: Trial) -> QuerySet[SlotAssignment]:
    return (
        SlotAssignment.objects.filter(trial=trial)
        .select_related("patient", "dose_level", "assigned_by")
        .order_by("assigned_at", "id")
    )


# --- Decisions ----------------------------------------------------------------------------------


def decisions_for_trial(trial: Trial, *, kind: str | None = None) -> QuerySet[EscalationDecision]:
    """The trial's decisions, newest first, with their signatures and signers (2 queries)."""
    qs = EscalationDecision.objects.filter(trial=trial)
    if kind:
        qs = qs.filter(kind=kind)
    return (
        qs.select_related("decided_by", "trial")
        .prefetch_related(
            Prefetch(
                "signatures",
                queryset=DecisionSignature.objects.select_related("signer").order_by(
                    "signed_at", "id"
                ),
            )
        )
        .annotate(
            valid_signatures=Count("signatures", filter=Q(signatures__status=SignatureStatus.VALID))
        )
        .order_by("-number")
    )


def get_decision_for_user(user: User, *, pk: int) -> EscalationDecision:
    """A decision of a trial the user may read the escalation of (else 404)."""
    trials = trial_selectors.trials_for_user(user)
    return get_object_or_404(decisions_for_trial_qs(trials), pk=pk)


def decisions_for_trial_qs(trials: QuerySet[Trial]) -> QuerySet[EscalationDecision]:
    return (
        EscalationDecision.objects.filter(trial__in=trials)
        .select_related("trial", "decided_by")
        .prefetch_related(
            Prefetch(
                "signatures",
                queryset=DecisionSignature.objects.select_related("signer").order_by(
                    "signed_at", "id"
                ),
            )
        )
    )


def pending_rp2d(trial: Trial) -> EscalationDecision | None:
    return (
        EscalationDecision.objects.filter(
            trial=trial, kind=DecisionKind.RP2D, status=DecisionStatus.AWAITING_SIGNATURE
        )
        .order_by("-number")
        .first()
    )


def awaiting_signature(trial: Trial) -> QuerySet[EscalationDecision]:
    return EscalationDecision.objects.filter(
        trial=trial, status=DecisionStatus.AWAITING_SIGNATURE
    ).order_by("-number")


def investigators_of(trial: Trial) -> QuerySet[User]:
    return User.objects.filter(
        is_active=True,
        memberships__trial=trial,
        memberships__active=True,
        memberships__role__in=ESCALATION_SIGN_ROLES,
    ).distinct()


def can_read_escalation(user: User, trial: Trial) -> bool:
    return trial_selectors.user_has_role(user, trial=trial, roles=ESCALATION_READ_ROLES)


def can_sign_decisions(user: User, trial: Trial) -> bool:
    return trial_selectors.user_has_role(user, trial=trial, roles=ESCALATION_SIGN_ROLES)


# --- The grid -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GridPatient:
    patient: EscalationPatient
    visible: bool

    @property
    def label(self) -> str:
        return self.patient.ref if self.visible else "Patient at another site"


@dataclass(frozen=True)
class GridLevel:
    level: DoseLevel
    patients: tuple[GridPatient, ...]
    counts: Mapping[str, int]
    is_open: bool
    cohort_target: int | None
    free_slots: int | None
    is_current: bool
    is_mtd: bool
    is_rp2d: bool


def escalation_grid(
    data: EscalationInput,
    *,
    visible_patient_ids: Iterable[int],
    escalation: TrialEscalation | None,
    level_counts: Iterable[Mapping[str, int]] = (),
) -> list[GridLevel]:
    """Levels (highest first, as investigators read a dose-escalation grid) × patients."""
    visible = set(visible_patient_ids)
    counts = {c["level"]: c for c in level_counts}
    open_number = escalation.open_level_number if escalation else data.settings.start_level
    open_for_enrolment = escalation is None or (
        escalation.stage == EscalationStage.ESCALATING and not escalation.on_hold
    )
    target = escalation.cohort_target if escalation else 3
    grid = []
    for level in sorted(data.levels, key=lambda lv: -lv.number):
        at_level = tuple(
            GridPatient(p, p.patient_id in visible)
            for p in data.patients
            if p.level_number == level.number
        )
        is_open = open_for_enrolment and level.number == open_number
        grid.append(
            GridLevel(
                level=level,
                patients=at_level,
                counts=counts.get(level.number, {}),
                is_open=is_open,
                cohort_target=target if is_open else None,
                free_slots=max(0, target - data.occupied(level.number)) if is_open else None,
                is_current=data.state.current_level == level.number,
                is_mtd=escalation is not None and escalation.mtd_level_number == level.number,
                is_rp2d=escalation is not None and escalation.rp2d_level_number == level.number,
            )
        )
    return grid


# --- Simulations --------------------------------------------------------------------------------


def simulation_jobs(trial: Trial) -> QuerySet[OcSimulationJob]:
    return OcSimulationJob.objects.filter(trial=trial).select_related("requested_by")


def get_simulation_for_user(user: User, *, pk: int) -> OcSimulationJob:
    trials = trial_selectors.trials_for_user(user)
    return get_object_or_404(
        OcSimulationJob.objects.filter(trial__in=trials).select_related("trial"), pk=pk
    )
