"""Two coordinators enrolling at the same moment get distinct study IDs (real row locks)."""

import threading

import pytest
from django.db import connection

from tests.factories import answer_all_eligible, days_ago, screen_patient
from trials import services
from trials.models import Patient

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_concurrent_enrolments_get_distinct_study_ids(ipd):
    t = ipd
    patients = []
    for _ in range(2):
        patient = screen_patient(t.trial, t.site_a, t.coordinator_a)
        answer_all_eligible(patient, t.coordinator_a)
        services.consent_record(
            patient=patient, version="1.0", consent_date=days_ago(3), acting_user=t.coordinator_a
        )
        patients.append(patient)
    barrier = threading.Barrier(len(patients))
    errors: list[BaseException] = []

    def enrol(patient):
        try:
            barrier.wait(timeout=10)
            services.patient_enrol(
                patient=patient,
                acting_user=t.coordinator_a,
                enrolment_date=days_ago(1),
                dose_level=1,
            )
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=enrol, args=(p,)) for p in patients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    ids = sorted(
        Patient.objects.filter(pk__in=[p.pk for p in patients]).values_list("study_id", flat=True)
    )
    assert ids == ["IPD-01-001", "IPD-01-002"]
    assert t.trial.trial_sites.get(site=t.site_a).next_study_number == 3
