"""List endpoints and pages use a constant number of queries, whatever the number of patients."""

import pytest
from django.urls import reverse

from tests.conftest import api_client_for, client_for
from tests.factories import days_ago, enrolled_patient
from trials import services
from trials.models import Visit

pytestmark = pytest.mark.django_db


@pytest.fixture
def many(ipd):
    """Trial A in phase II: the coordinator picks the level, so many patients can share one
    (in phase I the dosing app's escalation slots cap a cohort at 3 or 6)."""
    services.trial_transition(
        trial=ipd.trial, to_status="phase_ii", acting_user=ipd.trial_admin, reason="RP2D"
    )
    return ipd


def _add_patients(t, n):
    for _ in range(n):
        patient = enrolled_patient(
            t.trial, t.site_a, t.coordinator_a, planned_start_date=days_ago(20)
        )
        services.visit_record(
            visit=Visit.objects.get(patient=patient, code="C1D1"),
            visit_date=days_ago(20),
            acting_user=t.coordinator_a,
            expected_version=1,
        )


@pytest.mark.parametrize("who", ["coordinator_a", "investigator"])
def test_api_patient_list_query_count_is_constant(
    many, django_assert_num_queries, django_assert_max_num_queries, who
):
    t = many
    user = getattr(t, who)
    api = api_client_for(user)
    _add_patients(t, 1)
    with django_assert_max_num_queries(60) as few:
        api.get("/api/patients/", {"trial": "IPD"})
    _add_patients(t, 6)

    with django_assert_num_queries(len(few.captured_queries)):
        response = api.get("/api/patients/", {"trial": "IPD"})

    assert response.status_code == 200
    assert response.json()["count"] >= 7


def test_my_patients_page_query_count_is_constant(
    many, django_assert_num_queries, django_assert_max_num_queries
):
    t = many
    client = client_for(t.coordinator_a)
    _add_patients(t, 1)
    client.get(reverse("patient_list"))
    with django_assert_max_num_queries(60) as few:
        client.get(reverse("patient_list"))
    _add_patients(t, 6)

    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(reverse("patient_list"))

    assert response.status_code == 200
    assert len(response.context["patients"]) == 8


def test_patient_page_query_count_does_not_grow_with_visits(
    ipd, django_assert_num_queries, django_assert_max_num_queries
):
    t = ipd
    client = client_for(t.coordinator_a)
    patient = enrolled_patient(
        t.trial,
        t.site_a,
        t.coordinator_a,
        consent_date=days_ago(90),
        enrolment_date=days_ago(90),
        planned_start_date=days_ago(85),
    )
    client.get(reverse("patient_detail", args=[patient.pk]))
    with django_assert_max_num_queries(60) as few:
        client.get(reverse("patient_detail", args=[patient.pk]))
    services.visit_record(
        visit=Visit.objects.get(patient=patient, code="C1D1"),
        visit_date=days_ago(85),
        acting_user=t.coordinator_a,
        expected_version=1,
    )
    services.visit_record(
        visit=Visit.objects.get(patient=patient, code="C2D1"),
        visit_date=days_ago(57),
        acting_user=t.coordinator_a,
        expected_version=None,
    )

    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(reverse("patient_detail", args=[patient.pk]))

    assert response.status_code == 200
