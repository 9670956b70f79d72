"""Screening numbers, eligibility (screen failure with the failing criteria) and consent."""

import pytest
from django.core.exceptions import ValidationError

from tests.factories import answer_all_eligible, days_ago, screen_patient
from trials import selectors, services
from trials.audit import history_for
from trials.models import Patient, Visit

pytestmark = pytest.mark.django_db


def test_screening_numbers_are_allocated_per_site(ipd):
    t = ipd

    a1 = screen_patient(t.trial, t.site_a, t.coordinator_a)
    a2 = screen_patient(t.trial, t.site_a, t.coordinator_a)
    b1 = screen_patient(t.trial, t.site_b, t.coordinator_b)

    # the fixture already holds screening number 001 at each site
    assert (a1.screening_number, a2.screening_number, b1.screening_number) == ("002", "003", "002")
    assert a1.status == "screening"


def test_a_duplicate_screening_number_is_refused_with_a_clear_message(ipd):
    t = ipd

    with pytest.raises(ValidationError) as caught:
        screen_patient(t.trial, t.site_a, t.coordinator_a, screening_number="001")

    message = caught.value.message_dict["screening_number"][0]
    assert "already used" in message and "IPD-S001" in message
    assert Patient.objects.filter(trial=t.trial, site=t.site_a).count() == 1


def test_screening_needs_an_open_trial_and_a_trial_site(two_site_trial, ipd):
    t = ipd
    from tests.factories import SiteFactory, TrialFactory

    draft = TrialFactory(code="DRAFT")
    with pytest.raises(ValidationError) as closed:
        screen_patient(draft, t.site_a, t.coordinator_a)
    with pytest.raises(ValidationError) as outside:
        screen_patient(t.trial, SiteFactory(code="GAMMA"), t.coordinator_a)

    assert "not screening" in closed.value.message_dict["trial"][0]
    assert "not an active site" in outside.value.message_dict["site"][0]


def test_an_ineligible_patient_becomes_a_screen_failure_with_the_failing_criteria(ipd):
    t = ipd
    patient = screen_patient(t.trial, t.site_a, t.coordinator_a)
    answers = {c.code: c.kind == "inclusion" for c in selectors.eligibility_criteria(t.trial)}
    answers["IN2"] = False  # not lenalidomide-refractory
    answers["EX2"] = True  # neuropathy grade 2

    result = services.eligibility_record(
        patient=patient, answers=answers, acting_user=t.coordinator_a
    )

    patient.refresh_from_db()
    assert result.failing == ("IN2", "EX2")
    assert patient.status == "screen_failed"
    change = patient.status_changes.get()
    assert change.reason_code == "ineligible"
    assert change.details == {"failing_criteria": ["IN2", "EX2"]}
    assert history_for(patient)[-1].reason == "Not eligible: IN2, EX2"


def test_partial_answers_keep_the_patient_in_screening(ipd):
    t = ipd
    patient = screen_patient(t.trial, t.site_a, t.coordinator_a)

    result = services.eligibility_record(
        patient=patient, answers={"IN1": True}, acting_user=t.coordinator_a
    )

    patient.refresh_from_db()
    assert not result.complete
    assert patient.status == "screening"


def test_changing_an_answer_needs_a_reason(ipd):
    t = ipd
    patient = screen_patient(t.trial, t.site_a, t.coordinator_a)
    services.eligibility_record(patient=patient, answers={"IN1": True}, acting_user=t.coordinator_a)

    with pytest.raises(ValidationError) as caught:
        services.eligibility_record(
            patient=patient, answers={"IN1": False}, acting_user=t.coordinator_a
        )
    services.eligibility_record(
        patient=patient,
        answers={"IN1": True, "IN2": True},
        acting_user=t.coordinator_a,
    )

    assert "reason" in caught.value.message_dict


def test_unknown_criterion_is_refused(ipd):
    t = ipd
    patient = screen_patient(t.trial, t.site_a, t.coordinator_a)

    with pytest.raises(ValidationError) as caught:
        services.eligibility_record(
            patient=patient, answers={"IN99": True}, acting_user=t.coordinator_a
        )

    assert "Unknown criterion" in caught.value.message_dict["answers"][0]


def test_consent_is_recorded_with_version_and_date_and_plans_screening(ipd):
    t = ipd
    patient = screen_patient(t.trial, t.site_a, t.coordinator_a)

    consent = services.consent_record(
        patient=patient, version="2.1", consent_date=days_ago(3), acting_user=t.coordinator_a
    )

    assert consent.version == "2.1"
    assert selectors.first_consent_date(patient) == days_ago(3)
    assert Visit.objects.get(patient=patient).code == "SCR"
    assert history_for(consent)[0].reason == "informed consent recorded"


@pytest.mark.parametrize(
    ("version", "when", "field"),
    [("", 1, "version"), ("1.0", -1, "consent_date")],
)
def test_bad_consent_is_refused(ipd, version, when, field):
    t = ipd
    patient = screen_patient(t.trial, t.site_a, t.coordinator_a)

    with pytest.raises(ValidationError) as caught:
        services.consent_record(
            patient=patient,
            version=version,
            consent_date=days_ago(when),
            acting_user=t.coordinator_a,
        )

    assert field in caught.value.message_dict


def test_the_same_consent_version_twice_is_refused(ipd):
    t = ipd
    patient = screen_patient(t.trial, t.site_a, t.coordinator_a)
    services.consent_record(
        patient=patient, version="1.0", consent_date=days_ago(3), acting_user=t.coordinator_a
    )

    with pytest.raises(ValidationError) as caught:
        services.consent_record(
            patient=patient, version="1.0", consent_date=days_ago(2), acting_user=t.coordinator_a
        )

    assert "already recorded" in caught.value.message_dict["version"][0]


def test_eligibility_of_a_screen_failure_cannot_be_changed(ipd):
    t = ipd
    patient = screen_patient(t.trial, t.site_a, t.coordinator_a)
    services.eligibility_record(
        patient=patient,
        answers={c.code: False for c in selectors.eligibility_criteria(t.trial)},
        acting_user=t.coordinator_a,
    )

    with pytest.raises(ValidationError):
        answer_all_eligible(patient, t.coordinator_a)
