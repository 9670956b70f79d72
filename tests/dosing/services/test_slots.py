"""Phase I enrolment assigns the open level while its cohort has a free slot; otherwise the
patient waits with a clear message; a not-evaluable patient frees one replacement slot."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from dosing.models import SlotAssignment, SlotKind, SlotStatus, TrialEscalation
from dosing.selectors import enrolment_slot_status
from tests.dosing.factories import cohort, enrol, set_dlt_state
from tests.factories import answer_all_eligible, days_ago, enrolled_patient, screen_patient
from trials import services as trial_services

pytestmark = pytest.mark.django_db


def _consented(t):
    patient = screen_patient(t.trial, t.site_a, t.coordinator_a)
    answer_all_eligible(patient, t.coordinator_a)
    trial_services.consent_record(
        patient=patient, version="1.0", consent_date=days_ago(10), acting_user=t.coordinator_a
    )
    return patient


def _enrol(t, patient, dose_level=None):
    return trial_services.patient_enrol(
        patient=patient,
        acting_user=t.coordinator_a,
        enrolment_date=days_ago(1),
        dose_level=dose_level,
    )


def test_the_first_cohort_gets_the_starting_level_seats_one_to_three(ipd):
    patients = cohort(ipd, ["PENDING", "PENDING", "PENDING"])

    slots = SlotAssignment.objects.filter(patient__in=patients).order_by("seat")

    assert [(s.level_number, s.seat, s.kind, s.status) for s in slots] == [
        (1, 1, SlotKind.ESCALATION, SlotStatus.HELD),
        (1, 2, SlotKind.ESCALATION, SlotStatus.HELD),
        (1, 3, SlotKind.ESCALATION, SlotStatus.HELD),
    ]
    assert {p.dose_level.number for p in patients} == {1}
    assert TrialEscalation.objects.get(trial=ipd.trial).open_level_number == 1


def test_a_fourth_patient_waits_with_a_clear_message(ipd):
    cohort(ipd, ["PENDING", "NO_DLT", "PENDING"])
    waiting = _consented(ipd)

    with pytest.raises(ValidationError) as caught:
        _enrol(ipd, waiting)

    waiting.refresh_from_db()
    message = caught.value.message_dict["dose_level"][0]
    assert message.startswith("Cohort full, awaiting DLT evaluation: DL1 holds 3 of 3 patients")
    assert "2 still in the DLT window" in message
    assert (waiting.status, waiting.study_id, waiting.dose_level) == ("screening", None, None)
    assert not SlotAssignment.objects.filter(patient=waiting).exists()
    assert enrolment_slot_status(ipd.trial).free_slots == 0


def test_a_not_evaluable_patient_frees_one_replacement_slot(ipd):
    first, dropped, third = cohort(ipd, ["NO_DLT", "PENDING", "PENDING"])
    set_dlt_state(dropped, "NOT_EVALUABLE")

    replacement = _enrol(ipd, _consented(ipd))
    still_waiting = _consented(ipd)
    with pytest.raises(ValidationError) as caught:
        _enrol(ipd, still_waiting)

    freed = SlotAssignment.objects.get(patient=dropped)
    assert (freed.status, freed.freed_reason) == (SlotStatus.FREED, "withdrew consent in week 1")
    assert SlotAssignment.objects.get(patient=replacement).seat == freed.seat
    assert replacement.dose_level.number == 1
    assert "Cohort full" in caught.value.message_dict["dose_level"][0]


def test_the_coordinator_cannot_choose_another_level_than_the_open_one(ipd):
    patient = _consented(ipd)

    with pytest.raises(ValidationError) as caught:
        _enrol(ipd, patient, dose_level=2)

    assert caught.value.message_dict["dose_level"] == [
        "DL1 is the level open for enrolment (dose escalation assigns it); choose it, or leave "
        "the level empty to be given it."
    ]


def test_choosing_the_open_level_is_accepted(ipd):
    patient = _enrol(ipd, _consented(ipd), dose_level=1)

    assert patient.dose_level.number == 1


def test_the_slot_is_rolled_back_with_an_enrolment_refused_for_another_reason(ipd):
    patient = _consented(ipd)

    with pytest.raises(ValidationError):
        trial_services.patient_enrol(
            patient=patient, acting_user=ipd.coordinator_a, enrolment_date=days_ago(-3)
        )

    assert not SlotAssignment.objects.filter(patient=patient).exists()


def test_the_database_refuses_two_holders_of_one_seat(ipd):
    first, second = cohort(ipd, ["PENDING", "PENDING"])
    slot = SlotAssignment.objects.get(patient=second)

    slot.seat = SlotAssignment.objects.get(patient=first).seat
    with pytest.raises(IntegrityError), transaction.atomic():
        slot.save()


def test_the_database_refuses_a_seventh_seat(ipd):
    (patient,) = cohort(ipd, ["PENDING"])
    slot = SlotAssignment.objects.get(patient=patient)

    slot.seat = 7
    with pytest.raises(IntegrityError), transaction.atomic():
        slot.save()


def test_a_trial_without_dose_escalation_keeps_the_coordinators_choice(cfz):
    trial, site, coordinator = cfz

    patient = enrolled_patient(
        trial, site, coordinator, dose_level=None, height_cm=Decimal(170), weight_kg=Decimal(70)
    )

    assert patient.dose_level.number == 1
    assert not SlotAssignment.objects.filter(patient=patient).exists()


def test_the_slot_status_says_what_enrolment_would_do(ipd):
    cohort(ipd, ["PENDING"])

    status = enrolment_slot_status(ipd.trial)

    assert (status.escalation, status.level.number, status.free_slots) == (True, 1, 2)
    assert status.message == "DL1: 2 slot(s) free."


def test_enrolment_through_a_patient_object_from_the_enrolment_service(ipd):
    patient = enrol(ipd)

    assert SlotAssignment.objects.get(patient=patient).step == 0
