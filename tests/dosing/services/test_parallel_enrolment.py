"""Two coordinators enrolling at the same moment can never over-fill a cohort: each enrolment
runs in its own transaction on its own connection, and the escalation row lock serialises them."""

import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from dosing import selectors, services
from dosing.models import SlotAssignment
from tests.dosing.factories import cohort
from tests.factories import answer_all_eligible, days_ago, screen_patient
from trials import services as trial_services
from trials.models import Patient

pytestmark = pytest.mark.django_db(transaction=True)


def _consented(t, site, coordinator):
    patient = screen_patient(t.trial, site, coordinator)
    answer_all_eligible(patient, coordinator)
    trial_services.consent_record(
        patient=patient, version="1.0", consent_date=days_ago(5), acting_user=coordinator
    )
    return patient


@pytest.fixture
def slow_cohort_reads(monkeypatch):
    """Reading the cohort is slowed down so that, without the escalation row lock, both
    enrolments would read "2 of 3" before either wrote its slot."""
    real_input = selectors.escalation_input

    def slow_input(*args, **kwargs):
        data = real_input(*args, **kwargs)
        time.sleep(0.5)
        return data

    monkeypatch.setattr(selectors, "escalation_input", slow_input)


def _run_at_once(work, items) -> tuple[dict, list]:
    barrier = threading.Barrier(len(items))
    outcomes: dict[int, str] = {}
    errors: list[BaseException] = []

    def run(patient, coordinator):
        try:
            barrier.wait(timeout=10)
            work(patient, coordinator)
            outcomes[patient.pk] = "enrolled"
        except ValidationError as exc:
            outcomes[patient.pk] = exc.message_dict["dose_level"][0][:41]
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=run, args=item) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes, errors


def test_two_enrolments_for_the_last_slot_fill_the_cohort_exactly(ipd, slow_cohort_reads):
    # given two of the three DL1 slots taken, and two coordinators at two sites
    t = ipd
    cohort(t, ["PENDING", "PENDING"])
    candidates = [
        (_consented(t, t.site_a, t.coordinator_a), t.coordinator_a),
        (_consented(t, t.site_b, t.coordinator_b), t.coordinator_b),
    ]

    # when both enrol at the same moment, through the enrolment service
    outcomes, errors = _run_at_once(
        lambda patient, coordinator: trial_services.patient_enrol(
            patient=patient, acting_user=coordinator, enrolment_date=days_ago(1)
        ),
        candidates,
    )

    # then exactly one gets the last slot and the other waits with the cohort-full message
    assert errors == []
    assert sorted(outcomes.values()) == ["Cohort full, awaiting DLT evaluation: DL1", "enrolled"]
    assert SlotAssignment.objects.filter(trial=t.trial, level_number=1, status="held").count() == 3
    assert Patient.objects.filter(trial=t.trial, dose_level__number=1).count() == 3


def test_the_escalation_row_lock_alone_serialises_two_slot_assignments(ipd, slow_cohort_reads):
    # given two of three slots taken; the slot service is called in two bare transactions,
    # so no lock of the enrolment service (trial site, patient) is held
    t = ipd
    cohort(t, ["PENDING", "PENDING"])
    candidates = [
        (_consented(t, t.site_a, t.coordinator_a), t.coordinator_a),
        (_consented(t, t.site_b, t.coordinator_b), t.coordinator_b),
    ]

    def assign(patient, coordinator):
        with transaction.atomic():
            patient = Patient.objects.select_related("trial").get(pk=patient.pk)
            level = services.assign_dose_level_for_enrolment(
                patient=patient, requested_level=None, acting_user=coordinator
            )
            Patient.objects.filter(pk=patient.pk).update(dose_level=level)

    # when both run at the same moment
    outcomes, errors = _run_at_once(assign, candidates)

    # then the second waited for the first's commit and saw the cohort full
    assert errors == []
    assert sorted(outcomes.values()) == ["Cohort full, awaiting DLT evaluation: DL1", "enrolled"]
    assert SlotAssignment.objects.filter(trial=t.trial, level_number=1, status="held").count() == 3
