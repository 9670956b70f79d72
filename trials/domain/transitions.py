"""Status workflows of trials and patients, as transition tables.

One table per workflow, read by one transition service each (``trial_transition``,
``patient_transition``): nothing else assigns a status. A pair not in the table is refused with
a message that lists what is possible from the current status.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class TransitionError(ValueError):
    """The requested status change is not allowed; ``field`` names the offending input."""

    def __init__(self, message: str, *, field: str = "to_status") -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# --- Trials -----------------------------------------------------------------------------------


class TrialStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    PHASE_I = "phase_i"
    PHASE_II = "phase_ii"
    CLOSED_TO_ACCRUAL = "closed_to_accrual"
    CLOSED = "closed"


TRIAL_STATUS_LABELS = {
    TrialStatus.DRAFT: "Draft",
    TrialStatus.OPEN: "Open",
    TrialStatus.PHASE_I: "Phase I (dose escalation)",
    TrialStatus.PHASE_II: "Phase II (expansion)",
    TrialStatus.CLOSED_TO_ACCRUAL: "Closed to accrual",
    TrialStatus.CLOSED: "Closed",
}

ALL_PHASES = frozenset({"I", "I/II", "II"})

#: (from, to) -> the trial phases for which the step exists.
TRIAL_TRANSITIONS: dict[tuple[TrialStatus, TrialStatus], frozenset[str]] = {
    (TrialStatus.DRAFT, TrialStatus.OPEN): ALL_PHASES,
    (TrialStatus.OPEN, TrialStatus.PHASE_I): frozenset({"I", "I/II"}),
    (TrialStatus.OPEN, TrialStatus.PHASE_II): frozenset({"II"}),
    (TrialStatus.PHASE_I, TrialStatus.PHASE_II): frozenset({"I/II"}),
    (TrialStatus.OPEN, TrialStatus.CLOSED_TO_ACCRUAL): ALL_PHASES,
    (TrialStatus.PHASE_I, TrialStatus.CLOSED_TO_ACCRUAL): ALL_PHASES,
    (TrialStatus.PHASE_II, TrialStatus.CLOSED_TO_ACCRUAL): ALL_PHASES,
    # A temporary accrual hold is lifted back into the phase the trial was in.
    (TrialStatus.CLOSED_TO_ACCRUAL, TrialStatus.PHASE_I): frozenset({"I", "I/II"}),
    (TrialStatus.CLOSED_TO_ACCRUAL, TrialStatus.PHASE_II): frozenset({"II", "I/II"}),
    (TrialStatus.CLOSED_TO_ACCRUAL, TrialStatus.CLOSED): ALL_PHASES,
}

#: Statuses in which new patients may be enrolled.
ACCRUING_TRIAL_STATUSES = frozenset({TrialStatus.OPEN, TrialStatus.PHASE_I, TrialStatus.PHASE_II})
#: Statuses in which new patients may be screened.
SCREENING_TRIAL_STATUSES = ACCRUING_TRIAL_STATUSES


def trial_targets(current: str, phase: str) -> list[TrialStatus]:
    return [
        to for (frm, to), phases in TRIAL_TRANSITIONS.items() if frm == current and phase in phases
    ]


def check_trial_transition(current: str, target: str, *, phase: str) -> TrialStatus:
    try:
        target_status = TrialStatus(target)
    except ValueError:
        raise TransitionError(f"Unknown trial status {target!r}.") from None
    phases = TRIAL_TRANSITIONS.get((TrialStatus(current), target_status))
    if phases is None or phase not in phases:
        possible = ", ".join(TRIAL_STATUS_LABELS[s] for s in trial_targets(current, phase))
        raise TransitionError(
            f"A phase {phase} trial cannot go from "
            f"{TRIAL_STATUS_LABELS[TrialStatus(current)]} to {TRIAL_STATUS_LABELS[target_status]}."
            + (f" From here it can go to: {possible}." if possible else " It is final.")
        )
    return target_status


# --- Patients ---------------------------------------------------------------------------------


class PatientStatus(StrEnum):
    SCREENING = "screening"
    SCREEN_FAILED = "screen_failed"
    ENROLLED = "enrolled"
    ON_TREATMENT = "on_treatment"
    OFF_TREATMENT = "off_treatment"
    FOLLOW_UP = "follow_up"
    OFF_STUDY = "off_study"


PATIENT_STATUS_LABELS = {
    PatientStatus.SCREENING: "Screening",
    PatientStatus.SCREEN_FAILED: "Screen failure",
    PatientStatus.ENROLLED: "Enrolled",
    PatientStatus.ON_TREATMENT: "On treatment",
    PatientStatus.OFF_TREATMENT: "Off treatment",
    PatientStatus.FOLLOW_UP: "Follow-up",
    PatientStatus.OFF_STUDY: "Off study",
}


class ScreenFailureReason(StrEnum):
    INELIGIBLE = "ineligible"
    CONSENT_DECLINED = "consent_declined"
    OTHER = "other"


class OffTreatmentReason(StrEnum):
    PROGRESSION = "progression"
    ADVERSE_EVENT = "adverse_event"
    DLT = "dlt"
    PATIENT_DECISION = "patient_decision"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    INVESTIGATOR_DECISION = "investigator_decision"
    NON_COMPLIANCE = "non_compliance"
    TREATMENT_COMPLETED = "treatment_completed"
    TRANSPLANT_OR_OTHER_THERAPY = "other_therapy"
    DEATH = "death"
    OTHER = "other"


class OffStudyReason(StrEnum):
    DEATH = "death"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    LOST_TO_FOLLOW_UP = "lost_to_follow_up"
    FOLLOW_UP_COMPLETED = "follow_up_completed"
    INVESTIGATOR_DECISION = "investigator_decision"
    NEVER_TREATED = "never_treated"
    TRIAL_CLOSED = "trial_closed"
    OTHER = "other"


REASON_LABELS: dict[str, str] = {
    ScreenFailureReason.INELIGIBLE: "Not eligible",
    ScreenFailureReason.CONSENT_DECLINED: "Declined consent",
    OffTreatmentReason.PROGRESSION: "Disease progression",
    OffTreatmentReason.ADVERSE_EVENT: "Adverse event / toxicity",
    OffTreatmentReason.DLT: "Dose-limiting toxicity",
    OffTreatmentReason.PATIENT_DECISION: "Patient decision",
    OffTreatmentReason.CONSENT_WITHDRAWN: "Consent withdrawn",
    OffTreatmentReason.INVESTIGATOR_DECISION: "Investigator decision",
    OffTreatmentReason.NON_COMPLIANCE: "Non-compliance",
    OffTreatmentReason.TREATMENT_COMPLETED: "Planned treatment completed",
    OffTreatmentReason.TRANSPLANT_OR_OTHER_THERAPY: "Transplant or other therapy",
    OffStudyReason.LOST_TO_FOLLOW_UP: "Lost to follow-up",
    OffStudyReason.FOLLOW_UP_COMPLETED: "Follow-up completed",
    OffStudyReason.NEVER_TREATED: "Enrolled but never treated",
    OffStudyReason.TRIAL_CLOSED: "Trial closed",
    OffStudyReason.DEATH: "Death",
    OffStudyReason.OTHER: "Other",
}


@dataclass(frozen=True)
class PatientTransitionRule:
    reasons: frozenset[str] = frozenset()  # empty: no reason code asked
    manual: bool = True  # False: only a service step (enrolment, first dose) takes it

    @property
    def needs_reason(self) -> bool:
        return bool(self.reasons)


_OFF_TREATMENT = frozenset(OffTreatmentReason)
_OFF_STUDY = frozenset(OffStudyReason)

PATIENT_TRANSITIONS: dict[tuple[PatientStatus, PatientStatus], PatientTransitionRule] = {
    (PatientStatus.SCREENING, PatientStatus.SCREEN_FAILED): PatientTransitionRule(
        reasons=frozenset(ScreenFailureReason)
    ),
    (PatientStatus.SCREENING, PatientStatus.ENROLLED): PatientTransitionRule(manual=False),
    (PatientStatus.ENROLLED, PatientStatus.ON_TREATMENT): PatientTransitionRule(manual=False),
    (PatientStatus.ENROLLED, PatientStatus.OFF_STUDY): PatientTransitionRule(reasons=_OFF_STUDY),
    (PatientStatus.ON_TREATMENT, PatientStatus.OFF_TREATMENT): PatientTransitionRule(
        reasons=_OFF_TREATMENT
    ),
    (PatientStatus.OFF_TREATMENT, PatientStatus.FOLLOW_UP): PatientTransitionRule(),
    (PatientStatus.OFF_TREATMENT, PatientStatus.OFF_STUDY): PatientTransitionRule(
        reasons=_OFF_STUDY
    ),
    (PatientStatus.FOLLOW_UP, PatientStatus.OFF_STUDY): PatientTransitionRule(reasons=_OFF_STUDY),
}

#: Statuses in which study data (visits, doses, labs) may be recorded.
DATA_ENTRY_STATUSES = frozenset(
    {
        PatientStatus.SCREENING,
        PatientStatus.ENROLLED,
        PatientStatus.ON_TREATMENT,
        PatientStatus.OFF_TREATMENT,
        PatientStatus.FOLLOW_UP,
    }
)
#: Statuses in which study treatment may be given.
DOSING_STATUSES = frozenset({PatientStatus.ENROLLED, PatientStatus.ON_TREATMENT})


def patient_targets(current: str, *, manual_only: bool = True) -> list[PatientStatus]:
    return [
        to
        for (frm, to), rule in PATIENT_TRANSITIONS.items()
        if frm == current and (rule.manual or not manual_only)
    ]


def check_patient_transition(
    current: str, target: str, *, reason_code: str | None, manual: bool
) -> PatientTransitionRule:
    """Raise :class:`TransitionError` unless ``current → target`` is allowed with this reason."""
    try:
        target_status = PatientStatus(target)
    except ValueError:
        raise TransitionError(f"Unknown patient status {target!r}.") from None
    current_status = PatientStatus(current)
    rule = PATIENT_TRANSITIONS.get((current_status, target_status))
    if rule is None or (manual and not rule.manual):
        possible = ", ".join(
            PATIENT_STATUS_LABELS[s] for s in patient_targets(current, manual_only=manual)
        )
        how = ""
        if rule is not None:
            how = " This happens through enrolment or the first recorded dose."
        raise TransitionError(
            f"A patient cannot go from {PATIENT_STATUS_LABELS[current_status]} to "
            f"{PATIENT_STATUS_LABELS[target_status]} here.{how}"
            + (f" Possible next steps: {possible}." if possible else " This status is final.")
        )
    if rule.needs_reason and reason_code not in rule.reasons:
        allowed = ", ".join(sorted(rule.reasons))
        if not reason_code:
            raise TransitionError(
                f"Choose why ({allowed}).",
                field="reason_code",
            )
        raise TransitionError(
            f"{reason_code!r} is not a reason for this step; choose one of: {allowed}.",
            field="reason_code",
        )
    if not rule.needs_reason and reason_code:
        raise TransitionError("This step takes no reason code.", field="reason_code")
    return rule


def reason_choices(reasons: type[StrEnum]) -> list[tuple[str, str]]:
    return [
        (r.value, REASON_LABELS.get(r, r.value.replace("_", " ").capitalize())) for r in reasons
    ]
