"""The response tasks: enqueued after commit, thin and idempotent, and run by a real worker."""

import time
from datetime import date, timedelta

import pytest
from django.db import transaction

from config.celery import app
from config.enqueue import enqueue_on_commit
from response import services, tasks
from response.models import PatientResponse, SimonMonitor
from response.services import LesionInput
from tests.response.factories import (
    TRIAL_A_SIMON,
    serum_course,
    set_design,
    treated_patient,
)

START = date(2025, 1, 6)


@pytest.fixture
def eager():
    """Celery's own local mode: a sent task runs in this process, so the after-commit chain can
    be followed inside one test transaction. Errors propagate."""
    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.mark.django_db
def test_a_lab_entry_evaluates_the_patient_after_commit_only(
    two_site_trial, eager, django_capture_on_commit_callbacks
):
    t = two_site_trial
    set_design(t.trial, criteria="IMWG2016", nadir_policy="lowest_observed")
    patient = treated_patient(t.trial, t.site_a, start=START)

    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        serum_course(patient, START, [1.6, 1.4])
        enqueue_on_commit(tasks.evaluate_patient, patient.pk)  # what the lab service does
        assert not PatientResponse.objects.filter(patient=patient).exists()

    assert len(callbacks) == 1
    assert PatientResponse.objects.get(patient=patient).best_overall_response == "MR"


@pytest.mark.django_db
def test_a_changed_response_updates_the_simon_monitor_after_commit(
    two_site_trial, eager, django_capture_on_commit_callbacks
):
    t = two_site_trial
    t.trial.phase = "II"
    t.trial.save()
    set_design(t.trial, criteria="IMWG2016", nadir_policy="lowest_observed", simon=TRIAL_A_SIMON)
    patient = treated_patient(t.trial, t.site_a, start=START)
    serum_course(patient, START, [1.4, 1.3])

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.response_evaluate_patient(patient_id=patient.pk)
        assert not SimonMonitor.objects.exists()

    monitor = SimonMonitor.objects.get(trial=t.trial)
    assert len(callbacks) == 1
    assert (monitor.responders, monitor.rule, monitor.stage1_pending) == (1, "PENDING", 13)


@pytest.mark.django_db
def test_recist_entries_enqueue_the_evaluation(
    two_site_trial, eager, django_capture_on_commit_callbacks
):
    t = two_site_trial
    set_design(t.trial, criteria="RECIST1.1", confirmation_required=False)
    patient = treated_patient(t.trial, t.site_a)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.recist_lesion_add(
            patient=patient,
            lesion=LesionInput("T1", "target", "liver", START, "50"),
            acting_user=t.coordinator_a,
        )
        services.recist_assessment_record(
            patient=patient,
            assessment_date=START + timedelta(weeks=8),
            measurements={"T1": "30"},
            acting_user=t.coordinator_a,
        )

    assert len(callbacks) == 2
    assert PatientResponse.objects.get(patient=patient).best_overall_response == "PR"


@pytest.mark.django_db
def test_the_task_is_idempotent_and_tolerates_a_missing_patient(two_site_trial):
    t = two_site_trial
    set_design(t.trial, criteria="IMWG2016", nadir_policy="lowest_observed")
    patient = treated_patient(t.trial, t.site_a, start=START)
    serum_course(patient, START, [1.6, 1.4])

    tasks.evaluate_patient.run(patient.pk)
    tasks.evaluate_patient.run(patient.pk)
    tasks.evaluate_patient.run(10**9)
    tasks.update_simon_monitor.run(10**9)

    assert PatientResponse.objects.get(patient=patient).version == 1


@pytest.mark.django_db
def test_the_sweep_catches_up_on_a_lost_message(two_site_trial):
    t = two_site_trial
    t.trial.status = "phase_i"
    t.trial.save()
    set_design(t.trial, criteria="IMWG2016", nadir_policy="lowest_observed")
    patient = treated_patient(t.trial, t.site_a, start=START)
    serum_course(patient, START, [1.6, 1.4])

    first = tasks.sweep.run()
    again = tasks.sweep.run()

    assert (first, again) == (1, 0)
    assert PatientResponse.objects.filter(patient=patient).exists()


def test_the_beat_schedule_runs_the_sweep():
    entries = {e["task"] for e in app.conf.beat_schedule.values()}

    assert "response.sweep" in entries


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_evaluates_the_patient(two_site_trial, celery_worker_process):
    t = two_site_trial
    set_design(t.trial, criteria="IMWG2016", nadir_policy="lowest_observed")
    patient = treated_patient(t.trial, t.site_a, start=START)
    serum_course(patient, START, [1.6, 1.4, 1.3])

    tasks.evaluate_patient.delay(patient.pk)

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = PatientResponse.objects.filter(patient=patient).first()
        if response is not None:
            break
        time.sleep(0.2)
    assert response is not None, "the worker did not evaluate the patient within 30 s"
    assert response.best_overall_response == "PR"
