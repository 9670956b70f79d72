"""The live Simon monitor: who it counts (the RP2D rule), the transitions of trial A's assumed
design (3/14, 7/25), notifications sent once, and idempotent recomputation."""

from datetime import date, timedelta

import pytest
from django.core import mail
from django.utils import timezone

from response import services
from response.models import PatientResponse, SimonMonitor, SimonNotification
from response.selectors import simon_population
from response.services.simon import simon_outcome
from tests.response.factories import (
    TRIAL_A_SIMON,
    computed_response,
    set_design,
    treated_patient,
)
from trials.models import PatientStatusChange

START = date(2025, 1, 6)


@pytest.fixture
def phase_ii(two_site_trial):
    """Trial A's assumed Simon design on a single-arm phase II trial (every patient counts)."""
    t = two_site_trial
    t.trial.phase = "II"
    t.trial.save()
    set_design(t.trial, criteria="IMWG2016", nadir_policy="lowest_observed", simon=TRIAL_A_SIMON)
    return t


def cohort(t, outcomes: str):
    """One patient per letter, in enrolment order: R responder, N progressed (non-responder),
    P pending (on treatment, no response yet), X not evaluable (no measurable disease)."""
    patients = []
    for i, letter in enumerate(outcomes):
        patient = treated_patient(t.trial, t.site_a, start=START + timedelta(days=i))
        if letter == "R":
            computed_response(patient, "PR")
        elif letter == "N":
            computed_response(patient, "PD", progression_date=START + timedelta(days=60 + i))
        elif letter == "P":
            computed_response(patient, "SD")
        elif letter == "X":
            computed_response(patient, "NE", measurable=(), evaluable=False)
        patients.append(patient)
    return patients


def monitor_events(t) -> int:
    """Audit events of the trial's monitor and notifications."""
    return (
        SimonMonitor.pgh_event_model.objects.filter(trial_id=t.trial.pk).count()
        + SimonNotification.pgh_event_model.objects.filter(trial_id=t.trial.pk).count()
    )


def update(t):
    return services.simon_monitor_update(trial_id=t.trial.pk)


@pytest.mark.django_db
def test_fourteen_stage_one_patients_with_three_responders_stop_for_futility(phase_ii):
    cohort(phase_ii, "RRR" + "N" * 11)

    monitor = update(phase_ii)

    assert (monitor.stage, monitor.rule, monitor.final_verdict) == (
        1,
        "STOP_FUTILITY",
        "NOT_PROMISING",
    )
    assert (monitor.stage1_decidable, monitor.stage1_responders) == (True, 3)
    assert monitor.design_assumed is True
    kinds = set(SimonNotification.objects.values_list("kind", flat=True))
    assert kinds == {"futility_boundary", "stage1_decidable", "final_verdict"}
    assert {m.to[0] for m in mail.outbox} == {phase_ii.investigator.email}
    assert any("stop for futility" in m.subject for m in mail.outbox)


@pytest.mark.django_db
def test_four_stage_one_responders_continue_to_stage_two(phase_ii):
    cohort(phase_ii, "RRRR" + "N" * 10 + "PP")

    monitor = update(phase_ii)

    assert (monitor.stage, monitor.rule, monitor.stage1_responders) == (2, "CONTINUE", 4)
    assert monitor.state["stage2_patient_ids"] and monitor.final_verdict is None
    assert list(SimonNotification.objects.values_list("kind", flat=True)) == ["stage1_decidable"]
    assert "continue" in mail.outbox[0].subject


@pytest.mark.django_db
def test_stage_one_waits_for_every_outcome_and_shows_over_run(phase_ii):
    patients = cohort(phase_ii, "RRRR" + "N" * 9 + "P" + "RR")

    monitor = update(phase_ii)

    assert (monitor.rule, monitor.stage1_decidable, monitor.stage1_pending) == ("PENDING", False, 1)
    assert monitor.state["over_run_patient_ids"] == [p.label for p in patients[14:]]
    assert not SimonNotification.objects.exists()


@pytest.mark.django_db
def test_futility_that_pending_outcomes_cannot_change_is_notified_early(phase_ii):
    cohort(phase_ii, "R" + "N" * 12 + "P")

    monitor = update(phase_ii)

    assert (monitor.rule, monitor.stage1_decidable) == ("PENDING", False)
    assert list(SimonNotification.objects.values_list("kind", flat=True)) == ["futility_boundary"]
    assert "futility boundary" in mail.outbox[0].subject


@pytest.mark.django_db
def test_non_evaluable_patients_are_replaced(phase_ii):
    patients = cohort(phase_ii, "X" + "RRR" + "N" * 11)

    monitor = update(phase_ii)

    assert monitor.rule == "STOP_FUTILITY"
    assert monitor.state["not_evaluable_patient_ids"] == [patients[0].label]
    assert patients[0].label not in monitor.state["stage1_patient_ids"]


@pytest.mark.django_db
def test_promising_at_the_end(phase_ii):
    cohort(phase_ii, "RRRR" + "N" * 10 + "RRRR" + "N" * 7)

    monitor = update(phase_ii)

    assert (monitor.rule, monitor.final_verdict, monitor.total_responders_in_design) == (
        "PROMISING",
        "PROMISING",
        8,
    )


@pytest.mark.django_db
def test_an_unchanged_monitor_writes_and_sends_nothing(phase_ii):
    cohort(phase_ii, "RRR" + "N" * 11)
    update(phase_ii)
    events, sent = monitor_events(phase_ii), len(mail.outbox)

    update(phase_ii)

    assert (monitor_events(phase_ii), len(mail.outbox)) == (events, sent)
    assert SimonNotification.objects.count() == 3


@pytest.mark.django_db
def test_a_notification_is_sent_once_even_when_the_state_moves_on(phase_ii):
    patients = cohort(phase_ii, "R" + "N" * 12 + "P")
    update(phase_ii)
    PatientResponse.objects.filter(patient=patients[-1]).update(
        best_overall_response="PD", progression_date=START + timedelta(days=90)
    )

    update(phase_ii)

    assert SimonNotification.objects.filter(kind="futility_boundary").count() == 1
    assert SimonMonitor.objects.get().rule == "STOP_FUTILITY"


@pytest.mark.django_db
def test_a_trial_without_a_simon_design_has_no_monitor(two_site_trial):
    set_design(two_site_trial.trial, criteria="IMWG2016", nadir_policy="lowest_observed")

    assert services.simon_monitor_update(trial_id=two_site_trial.trial.pk) is None
    assert not SimonMonitor.objects.exists()


# --- Who counts: the RP2D rule ----------------------------------------------------------------


@pytest.mark.django_db
def test_a_phase_one_two_trial_counts_patients_enrolled_after_it_entered_phase_two(two_site_trial):
    t = two_site_trial
    set_design(t.trial, criteria="IMWG2016", nadir_policy="lowest_observed", simon=TRIAL_A_SIMON)
    phase_i = treated_patient(t.trial, t.site_a, start=START)
    assert simon_population(t.trial).patients == []

    t.trial.status = "phase_ii"
    t.trial.save()  # the audit trail dates the step
    phase_ii = treated_patient(t.trial, t.site_b, start=START + timedelta(days=40))
    # one test is one transaction: order the recording times as separate requests would
    PatientStatusChange.objects.filter(patient=phase_i).update(
        created_at=timezone.now() - timedelta(days=30)
    )
    PatientStatusChange.objects.filter(patient=phase_ii).update(
        created_at=timezone.now() + timedelta(seconds=5)
    )

    population = simon_population(t.trial)

    assert population.patients == [phase_ii]
    assert "Phase II patients" in population.rule


@pytest.mark.parametrize(
    ("bor", "progression", "measurable", "evaluable", "off", "expected"),
    [
        ("PR", None, ["serum"], True, False, (True, True)),
        ("VGPR", None, ["serum"], True, True, (True, True)),
        ("SD", None, ["serum"], True, False, (True, None)),
        ("SD", None, ["serum"], True, True, (True, False)),
        ("PD", date(2025, 3, 3), ["serum"], True, False, (True, False)),
        ("MR", None, ["serum"], True, True, (True, False)),
        ("NE", None, [], False, False, (False, None)),
        ("NE", None, ["serum"], False, False, (None, None)),
        ("NE", None, ["serum"], False, True, (False, None)),
    ],
)
def test_simon_outcome(bor, progression, measurable, evaluable, off, expected):
    response = PatientResponse(
        best_overall_response=bor,
        progression_date=progression,
        measurable=measurable,
        evaluable=evaluable,
        baseline_date=START,
    )

    assert simon_outcome(response, off_treatment=off) == expected


def test_no_response_yet():
    assert simon_outcome(None, off_treatment=False) == (None, None)
    assert simon_outcome(None, off_treatment=True) == (False, None)
