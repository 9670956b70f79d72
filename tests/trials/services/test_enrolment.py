"""Enrolment: study IDs per trial and site, dose level, planned cycle-1 visits."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from tests.factories import answer_all_eligible, days_ago, enrolled_patient, screen_patient
from trials import services
from trials.audit import history_for
from trials.models import Visit

pytestmark = pytest.mark.django_db


def test_study_ids_count_per_trial_and_site(ipd):
    t = ipd

    a1 = enrolled_patient(t.trial, t.site_a, t.coordinator_a)
    a2 = enrolled_patient(t.trial, t.site_a, t.coordinator_a)
    b1 = enrolled_patient(t.trial, t.site_b, t.coordinator_b)

    assert (a1.study_id, a2.study_id, b1.study_id) == ("IPD-01-001", "IPD-01-002", "IPD-02-001")
    assert a1.label == "IPD-01-001"
    assert a1.status == "enrolled"
    assert a1.dose_level.number == 1


def test_enrolment_plans_cycle_1_and_2_from_the_planned_start(ipd):
    t = ipd

    patient = enrolled_patient(t.trial, t.site_a, t.coordinator_a, planned_start_date=days_ago(20))

    visits = {v.code: v for v in Visit.objects.filter(patient=patient)}
    assert set(visits) == {"SCR", "C1D1", "C1D8", "C1D15", "C1D22", "C2D1", "C2D15"}
    assert visits["C1D1"].planned_date == days_ago(20)
    assert visits["C2D1"].response_assessment


def test_enrolment_is_audited_with_its_reason(ipd):
    t = ipd

    patient = enrolled_patient(t.trial, t.site_a, t.coordinator_a)

    enrol_event = [e for e in history_for(patient) if "study_id" in e.changes][0]
    assert enrol_event.reason == "patient enrolled"
    assert enrol_event.user_id == t.coordinator_a.pk
    step = patient.status_changes.get(to_status="enrolled")
    assert step.details["study_id"] == "IPD-01-001"


def _screened_consented(t, *, eligible=True, consent=True):
    patient = screen_patient(t.trial, t.site_a, t.coordinator_a)
    if eligible:
        answer_all_eligible(patient, t.coordinator_a)
    if consent:
        services.consent_record(
            patient=patient, version="1.0", consent_date=days_ago(10), acting_user=t.coordinator_a
        )
    return patient


@pytest.mark.parametrize(
    ("eligible", "consent", "enrol_on", "level", "field"),
    [
        (False, True, 5, 1, "eligibility"),
        (True, False, 5, 1, "consent"),
        (True, True, 11, 1, "enrolment_date"),  # before consent
        (True, True, -1, 1, "enrolment_date"),  # in the future
        (True, True, 5, 7, "dose_level"),
    ],
)
def test_enrolment_is_refused_with_a_clear_message(ipd, eligible, consent, enrol_on, level, field):
    t = ipd
    patient = _screened_consented(t, eligible=eligible, consent=consent)

    with pytest.raises(ValidationError) as caught:
        services.patient_enrol(
            patient=patient,
            acting_user=t.coordinator_a,
            enrolment_date=days_ago(enrol_on),
            dose_level=level,
        )

    patient.refresh_from_db()
    assert field in caught.value.message_dict
    assert patient.study_id is None
    assert patient.status == "screening"


def test_no_enrolment_when_the_trial_is_closed_to_accrual(ipd):
    t = ipd
    patient = _screened_consented(t)
    services.trial_transition(
        trial=t.trial, to_status="closed_to_accrual", acting_user=t.trial_admin, reason="hold"
    )

    with pytest.raises(ValidationError) as caught:
        services.patient_enrol(
            patient=patient, acting_user=t.coordinator_a, enrolment_date=days_ago(1), dose_level=1
        )

    assert "not enrolling" in caught.value.message_dict["non_field_errors"][0]


def test_a_mg_per_m2_regimen_needs_height_and_weight(cfz):
    trial, site, coordinator = cfz
    patient = screen_patient(trial, site, coordinator)
    answer_all_eligible(patient, coordinator)
    services.consent_record(
        patient=patient, version="1", consent_date=days_ago(5), acting_user=coordinator
    )

    with pytest.raises(ValidationError) as caught:
        services.patient_enrol(patient=patient, acting_user=coordinator, enrolment_date=days_ago(4))
    enrolled = services.patient_enrol(
        patient=patient,
        acting_user=coordinator,
        enrolment_date=days_ago(4),
        height_cm=Decimal(170),
        weight_kg=Decimal(70),
    )

    assert "weight_kg" in caught.value.message_dict
    assert enrolled.study_id == "CFZ-01-001"
    assert enrolled.dose_level.number == 1  # the only level, taken without asking
