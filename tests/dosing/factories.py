"""Builders for the dose-escalation tests.

Patients are enrolled through the trials app's enrolment service (which calls the dosing slot
logic); their DLT state is set on the safety app's ``DltWindow`` row directly — the row that
``safety.selectors.dlt_states_for_trial`` reads — because walking 12 patients through doses,
adverse events and signed adjudications would test the safety app, not the escalation.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from dosing import services
from dosing.models import DecisionSignature, EscalationDecision
from safety.models import DltWindow
from tests.factories import MembershipFactory, UserFactory, days_ago, enrolled_patient
from trials.models import Patient, Role, Trial, User

WINDOW_STATUS = {
    "DLT": "dlt",
    "NO_DLT": "completed_evaluable",
    "PENDING": "pending",
    "NOT_EVALUABLE": "not_evaluable",
}
MEANING = "I have reviewed the DLT data and approve this dose-escalation decision."


def enrol(t, *, site=None, coordinator=None, dose_level: int | None = None) -> Patient:
    """Screen, consent and enrol a trial-A patient; the escalation slot logic picks the level."""
    site = site or t.site_a
    coordinator = coordinator or (t.coordinator_a if site == t.site_a else t.coordinator_b)
    return enrolled_patient(
        t.trial,
        site,
        coordinator,
        consent_date=days_ago(40),
        enrolment_date=days_ago(35),
        dose_level=dose_level,
    )


def set_dlt_state(patient: Patient, status: str, *, days_in: int = 10) -> DltWindow:
    """The patient's DLT window, as safety would hold it: "DLT", "NO_DLT", "PENDING" or
    "NOT_EVALUABLE" (21-day window opened ``days_in`` days ago, or completed)."""
    patient.refresh_from_db()
    opens = days_ago(days_in if status == "PENDING" else 30)
    window_status = WINDOW_STATUS[status]
    fields = {
        "dose_level_id": patient.dose_level_id,
        "opens_on": opens,
        "length_days": 21,
        "last_day": opens + timedelta(days=20),
        "status": window_status,
        "reason": "withdrew consent in week 1" if status == "NOT_EVALUABLE" else "",
        "planned_doses": 8,
        "doses_received": 8 if status != "NOT_EVALUABLE" else 2,
        "definition_id": "IPD-DLT-1",
        "evaluated_on": days_ago(0),
        "closed_at": None if status == "PENDING" else timezone.now(),
    }
    window, _ = DltWindow.objects.update_or_create(patient=patient, defaults=fields)
    return window


def cohort(t, statuses: list[str], **kwargs) -> list[Patient]:
    """Enrol one patient per status and give each that DLT state."""
    patients = [enrol(t, **kwargs) for _ in statuses]
    for patient, status in zip(patients, statuses, strict=True):
        set_dlt_state(patient, status)
    return patients


def investigator(trial: Trial, email: str) -> User:
    user = UserFactory(email=email)
    MembershipFactory(user=user, trial=trial, role=Role.INVESTIGATOR, all_sites=True)
    return user


def evaluate(trial: Trial) -> EscalationDecision:
    decision = services.escalation_evaluate(trial_id=trial.pk)
    assert decision is not None
    return decision


def sign(decision: EscalationDecision, user: User) -> DecisionSignature:
    return services.escalation_decision_sign(
        decision=decision, signer=user, meaning=MEANING, acting_user=user
    )


def reach_rp2d(t) -> list[Patient]:
    """Trial A's published path through the services, each step signed: DL1 1/6, DL2 1/6,
    MTD = RP2D = DL2 (the trial is then in phase II). The 12 phase I patients."""
    from dosing.selectors import pending_rp2d

    patients = []
    for statuses in (
        ["DLT", "NO_DLT", "NO_DLT"],
        ["NO_DLT", "NO_DLT", "NO_DLT"],
        ["NO_DLT", "DLT", "NO_DLT"],
        ["NO_DLT", "NO_DLT", "NO_DLT"],
    ):
        patients += cohort(t, statuses)
        sign(evaluate(t.trial), t.investigator)
    sign(pending_rp2d(t.trial), t.investigator)
    t.trial.refresh_from_db()
    return patients
