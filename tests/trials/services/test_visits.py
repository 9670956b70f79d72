"""Recording visits and doses: dates, consent, dose limits, BSA, conflicts, corrections."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from tests.factories import days_ago, enrolled_patient, screen_patient
from trials import selectors, services
from trials.audit import history_for
from trials.models import DoseAdministration, Visit
from trials.services import ConflictError, DoseInput

pytestmark = pytest.mark.django_db

FULL_C1D1 = [
    DoseInput("IXA", "given", Decimal(3)),
    DoseInput("POM", "given", Decimal(4)),
    DoseInput("DEX", "given", Decimal(40)),
]


@pytest.fixture
def patient(ipd):
    return enrolled_patient(
        ipd.trial, ipd.site_a, ipd.coordinator_a, planned_start_date=days_ago(20)
    )


def visit(patient, code):
    return Visit.objects.get(patient=patient, code=code)


def test_c1d1_with_doses_starts_treatment(ipd, patient):
    c1d1 = visit(patient, "C1D1")

    recorded = services.visit_record(
        visit=c1d1,
        visit_date=days_ago(20),
        acting_user=ipd.coordinator_a,
        expected_version=c1d1.version,
        doses=FULL_C1D1,
        weight_kg="70",
    )

    patient.refresh_from_db()
    assert recorded.status == "done"
    assert patient.status == "on_treatment"
    assert selectors.first_dose_date(patient) == days_ago(20)
    assert patient.status_changes.get(to_status="on_treatment").effective_date == days_ago(20)
    assert DoseAdministration.objects.filter(visit=c1d1).count() == 3
    assert history_for(recorded)[-1].reason == "visit recorded"


def test_a_late_c1d1_moves_the_rest_of_the_cycle(ipd, patient):
    c1d1 = visit(patient, "C1D1")

    services.visit_record(
        visit=c1d1,
        visit_date=days_ago(18),
        acting_user=ipd.coordinator_a,
        expected_version=1,
        doses=FULL_C1D1,
    )

    assert visit(patient, "C1D8").planned_date == days_ago(11)
    assert visit(patient, "C2D1").planned_date == days_ago(18 - 28)


def test_c2d1_plans_cycle_3(ipd):
    t = ipd
    patient = enrolled_patient(
        t.trial,
        t.site_a,
        t.coordinator_a,
        consent_date=days_ago(60),
        enrolment_date=days_ago(60),
        planned_start_date=days_ago(56),
    )
    services.visit_record(
        visit=visit(patient, "C1D1"),
        visit_date=days_ago(56),
        acting_user=t.coordinator_a,
        expected_version=1,
        doses=FULL_C1D1,
    )

    services.visit_record(
        visit=visit(patient, "C2D1"),
        visit_date=days_ago(27),
        acting_user=t.coordinator_a,
        expected_version=None,
        doses=FULL_C1D1,
    )

    assert visit(patient, "C3D1").planned_date == days_ago(27 - 28)
    assert visit(patient, "C2D15").planned_date == days_ago(13)


@pytest.mark.parametrize(
    ("when", "fragment"),
    [(-1, "in the future"), (31, "before the patient's consent")],
)
def test_visit_dates_in_the_future_or_before_consent_are_refused(ipd, patient, when, fragment):
    c1d1 = visit(patient, "C1D1")

    with pytest.raises(ValidationError) as caught:
        services.visit_record(
            visit=c1d1,
            visit_date=days_ago(when),
            acting_user=ipd.coordinator_a,
            expected_version=1,
            doses=FULL_C1D1,
        )

    assert any(fragment in m for m in caught.value.message_dict["visit_date"])
    c1d1.refresh_from_db()
    assert c1d1.status == "planned"
    assert not DoseAdministration.objects.exists()


def test_no_study_data_without_consent(ipd):
    t = ipd
    patient = screen_patient(t.trial, t.site_a, t.coordinator_a)

    with pytest.raises(ValidationError) as caught:
        services.visit_add_unscheduled(
            patient=patient, visit_date=days_ago(1), acting_user=t.coordinator_a
        )

    assert "no informed consent" in caught.value.message_dict["visit_date"][0]
    assert not Visit.objects.filter(patient=patient).exists()


def test_a_dose_above_the_level_is_refused(ipd, patient):
    c1d1 = visit(patient, "C1D1")

    with pytest.raises(ValidationError) as caught:
        services.visit_record(
            visit=c1d1,
            visit_date=days_ago(20),
            acting_user=ipd.coordinator_a,
            expected_version=1,
            doses=[DoseInput("IXA", "given", Decimal(4)), *FULL_C1D1[1:]],
        )

    message = caught.value.message_dict["doses.IXA.dose"][0]
    assert "above what the patient's dose level allows (3 mg)" in message
    assert not DoseAdministration.objects.exists()


def test_reduced_held_and_missed_doses_need_reasons(ipd, patient):
    c1d1 = visit(patient, "C1D1")

    with pytest.raises(ValidationError) as caught:
        services.visit_record(
            visit=c1d1,
            visit_date=days_ago(20),
            acting_user=ipd.coordinator_a,
            expected_version=1,
            doses=[
                DoseInput("IXA", "reduced", Decimal("2.3")),
                DoseInput("POM", "held"),
                DoseInput("DEX", "given", Decimal(20)),
            ],
        )
    services.visit_record(
        visit=c1d1,
        visit_date=days_ago(20),
        acting_user=ipd.coordinator_a,
        expected_version=1,
        doses=[
            DoseInput("IXA", "reduced", Decimal("2.3"), "neutropenia"),
            DoseInput("POM", "held", None, "platelets 40"),
            DoseInput("DEX", "reduced", Decimal(20), "age over 75"),
        ],
    )

    assert set(caught.value.message_dict) == {
        "doses.IXA.reason",
        "doses.POM.reason",
        "doses.DEX.status",
    }
    pom = DoseAdministration.objects.get(agent__code="POM")
    assert (pom.status, pom.dose_mg, pom.reason) == ("held", None, "platelets 40")


def test_carfilzomib_dose_comes_from_bsa(cfz):
    trial, site, coordinator = cfz
    patient = enrolled_patient(
        trial,
        site,
        coordinator,
        dose_level=None,
        height_cm=Decimal(170),
        weight_kg=Decimal(70),
        planned_start_date=days_ago(20),
    )
    c1d1 = visit(patient, "C1D1")

    with pytest.raises(ValidationError) as above:
        services.visit_record(
            visit=c1d1,
            visit_date=days_ago(20),
            acting_user=coordinator,
            expected_version=1,
            doses=[DoseInput("CFZ", "given", Decimal(50))],
        )
    services.visit_record(
        visit=c1d1,
        visit_date=days_ago(20),
        acting_user=coordinator,
        expected_version=1,
        weight_kg="70",
        doses=[DoseInput("CFZ", "given", Decimal("49.1"))],
    )

    assert "(49.1 mg)" in above.value.message_dict["doses.CFZ.dose"][0]
    dose = DoseAdministration.objects.get(visit=c1d1)
    assert (dose.allowed_mg, dose.level_dose, dose.level_unit) == (
        Decimal("49.1"),
        Decimal(27),
        "mg/m2",
    )
    c1d1.refresh_from_db()
    assert c1d1.bsa_m2 == Decimal("1.82")


def test_a_visit_edited_by_two_people_refuses_the_second_save(ipd, patient):
    t = ipd
    c1d1 = visit(patient, "C1D1")
    services.visit_record(
        visit=c1d1,
        visit_date=days_ago(20),
        acting_user=t.coordinator_a,
        expected_version=1,
        doses=FULL_C1D1,
    )
    # both open version 2 ...
    services.visit_record(
        visit=c1d1,
        visit_date=days_ago(20),
        acting_user=t.trial_admin,
        expected_version=2,
        doses=FULL_C1D1,
        weight_kg="71",
        reason="weight from nurse notes",
    )

    with pytest.raises(ConflictError) as caught:
        services.visit_record(
            visit=c1d1,
            visit_date=days_ago(19),
            acting_user=t.coordinator_a,
            expected_version=2,
            doses=FULL_C1D1,
            reason="date typo",
        )

    c1d1.refresh_from_db()
    assert caught.value.current_version == 3
    assert "changed by someone else" in str(caught.value)
    assert c1d1.visit_date == days_ago(20)
    assert c1d1.weight_kg == Decimal(71)


def test_a_correction_needs_a_reason_and_is_audited(ipd, patient):
    t = ipd
    c1d1 = visit(patient, "C1D1")
    services.visit_record(
        visit=c1d1,
        visit_date=days_ago(20),
        acting_user=t.coordinator_a,
        expected_version=1,
        doses=FULL_C1D1,
    )

    with pytest.raises(ValidationError) as caught:
        services.visit_record(
            visit=c1d1,
            visit_date=days_ago(20),
            acting_user=t.coordinator_a,
            expected_version=2,
            doses=FULL_C1D1,
            weight_kg="72",
        )
    services.visit_record(
        visit=c1d1,
        visit_date=days_ago(20),
        acting_user=t.coordinator_a,
        expected_version=2,
        doses=[DoseInput("IXA", "given", Decimal("2.9")), *FULL_C1D1[1:]],
        reason="pharmacy record shows 2.9 mg",
    )

    assert "reason" in caught.value.message_dict
    dose = DoseAdministration.objects.get(visit=c1d1, agent__code="IXA")
    last = history_for(dose)[-1]
    assert last.reason == "pharmacy record shows 2.9 mg"
    assert last.changes["dose_mg"] == [3.0, 2.9]


def test_a_missed_visit_is_kept_with_its_reason(ipd, patient):
    c1d8 = visit(patient, "C1D8")

    services.visit_mark_missed(
        visit=c1d8,
        reason="patient in hospital",
        acting_user=ipd.coordinator_a,
        expected_version=1,
    )

    c1d8.refresh_from_db()
    assert (c1d8.status, c1d8.missed_reason) == ("missed", "patient in hospital")
    assert history_for(c1d8)[-1].reason == "patient in hospital"


def test_doses_are_not_recorded_at_a_screening_visit(ipd, patient):
    scr = visit(patient, "SCR")

    with pytest.raises(ValidationError) as caught:
        services.visit_record(
            visit=scr,
            visit_date=days_ago(29),
            acting_user=ipd.coordinator_a,
            expected_version=scr.version,
            doses=FULL_C1D1,
        )

    assert "not recorded at a Screening visit" in caught.value.message_dict["doses"][0]


def test_implausible_weight_is_refused(ipd, patient):
    with pytest.raises(ValidationError) as caught:
        services.visit_record(
            visit=visit(patient, "C1D1"),
            visit_date=days_ago(20),
            acting_user=ipd.coordinator_a,
            expected_version=1,
            weight_kg="700",
        )

    assert "weight_kg" in caught.value.message_dict


def test_an_unscheduled_visit_is_recorded_like_a_planned_one(ipd, patient):
    t = ipd
    services.visit_record(
        visit=visit(patient, "C1D1"),
        visit_date=days_ago(20),
        acting_user=t.coordinator_a,
        expected_version=1,
        doses=FULL_C1D1,
    )

    extra = services.visit_add_unscheduled(
        patient=patient, visit_date=days_ago(17), acting_user=t.coordinator_a
    )
    recorded = services.visit_record(
        visit=extra,
        visit_date=days_ago(17),
        acting_user=t.coordinator_a,
        expected_version=extra.version,
        doses=[DoseInput("DEX", "missed", None, "vomited")],
    )

    assert (recorded.code, recorded.status) == ("U1", "done")
    assert DoseAdministration.objects.get(visit=recorded).status == "missed"
