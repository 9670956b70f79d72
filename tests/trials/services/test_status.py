"""The patient status workflow after treatment, and vital status."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from tests.factories import days_ago, enrolled_patient
from trials import selectors, services
from trials.audit import history_for
from trials.models import Visit
from trials.services import DoseInput

pytestmark = pytest.mark.django_db


@pytest.fixture
def treated(ipd):
    t = ipd
    patient = enrolled_patient(
        t.trial,
        t.site_a,
        t.coordinator_a,
        consent_date=days_ago(200),
        enrolment_date=days_ago(200),
        planned_start_date=days_ago(190),
    )
    c1d1 = Visit.objects.get(patient=patient, code="C1D1")
    services.visit_record(
        visit=c1d1,
        visit_date=days_ago(190),
        acting_user=t.coordinator_a,
        expected_version=1,
        doses=[
            DoseInput("IXA", "given", Decimal(3)),
            DoseInput("POM", "given", Decimal(4)),
            DoseInput("DEX", "given", Decimal(40)),
        ],
    )
    patient.refresh_from_db()
    return patient


def test_off_treatment_plans_the_end_of_treatment_visit(ipd, treated):
    services.patient_transition(
        patient=treated,
        to_status="off_treatment",
        effective_date=days_ago(150),
        reason_code="progression",
        reason="PD at C2D1",
        acting_user=ipd.coordinator_a,
    )

    codes = set(Visit.objects.filter(patient=treated).values_list("code", flat=True))
    assert codes == {"SCR", "C1D1", "EOT"}
    step = treated.status_changes.get(to_status="off_treatment")
    assert (step.reason_code, step.reason) == ("progression", "PD at C2D1")
    assert history_for(treated)[-1].reason == "PD at C2D1"


def test_follow_up_then_off_study(ipd, treated):
    t = ipd
    services.patient_transition(
        patient=treated,
        to_status="off_treatment",
        effective_date=days_ago(150),
        reason_code="adverse_event",
        acting_user=t.coordinator_a,
    )
    services.patient_transition(
        patient=treated,
        to_status="follow_up",
        effective_date=days_ago(140),
        acting_user=t.coordinator_a,
    )

    fu = Visit.objects.filter(patient=treated, kind="follow_up").order_by("planned_date")
    assert [(v.code, v.planned_date) for v in fu] == [
        ("FU1", days_ago(150 - 84)),
        ("FU2", days_ago(150 - 168)),
    ]

    services.patient_transition(
        patient=treated,
        to_status="off_study",
        effective_date=days_ago(10),
        reason_code="lost_to_follow_up",
        acting_user=t.coordinator_a,
    )
    treated.refresh_from_db()
    assert treated.status == "off_study"
    assert not Visit.objects.filter(patient=treated, status="planned").exists()


@pytest.mark.parametrize(
    ("to_status", "reason_code", "when", "field"),
    [
        ("off_treatment", "", 10, "reason_code"),
        ("off_treatment", "lost_to_follow_up", 10, "reason_code"),
        ("follow_up", "", 10, "to_status"),
        ("off_treatment", "progression", -3, "effective_date"),
        ("off_treatment", "progression", 195, "effective_date"),  # before the first dose
        ("enrolled", "", 10, "to_status"),
    ],
)
def test_illegal_steps_are_refused(ipd, treated, to_status, reason_code, when, field):
    with pytest.raises(ValidationError) as caught:
        services.patient_transition(
            patient=treated,
            to_status=to_status,
            effective_date=days_ago(when),
            reason_code=reason_code,
            acting_user=ipd.coordinator_a,
        )

    assert field in caught.value.message_dict
    treated.refresh_from_db()
    assert treated.status == "on_treatment"


def test_last_contact_and_death(ipd, treated):
    t = ipd
    services.last_contact_record(
        patient=treated,
        contact_date=days_ago(30),
        vital_status="alive",
        acting_user=t.coordinator_a,
    )
    services.last_contact_record(
        patient=treated,
        contact_date=days_ago(5),
        vital_status="dead",
        death_date=days_ago(7),
        cause_of_death="progressive disease",
        acting_user=t.coordinator_a,
    )

    with pytest.raises(ValidationError) as caught:
        services.last_contact_record(
            patient=treated,
            contact_date=days_ago(1),
            vital_status="alive",
            acting_user=t.coordinator_a,
        )

    latest = selectors.last_contact(treated)
    assert (latest.vital_status, latest.death_date) == ("dead", days_ago(7))
    assert "recorded as dead" in caught.value.message_dict["vital_status"][0]


@pytest.mark.parametrize(
    ("status", "contact", "death", "field"),
    [
        ("dead", 5, None, "death_date"),
        ("alive", 5, 5, "death_date"),
        ("dead", 5, 3, "death_date"),  # died after it was learnt
        ("alive", -1, None, "contact_date"),
        ("alive", 195, None, "contact_date"),  # before the last visit
    ],
)
def test_bad_last_contact(ipd, treated, status, contact, death, field):
    with pytest.raises(ValidationError) as caught:
        services.last_contact_record(
            patient=treated,
            contact_date=days_ago(contact),
            vital_status=status,
            death_date=days_ago(death) if death is not None else None,
            acting_user=ipd.coordinator_a,
        )

    assert field in caught.value.message_dict
