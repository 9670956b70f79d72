"""A coordinator of site A never reads a site B record, through any page or endpoint."""

import pytest
from django.urls import reverse

from tests.conftest import api_client_for, client_for

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url_name",
    ["patient_detail", "patient_edit"],
)
def test_pages_answer_404_for_another_sites_patient(two_site_trial, url_name):
    t = two_site_trial
    client = client_for(t.coordinator_a)

    own = client.get(reverse(url_name, args=[t.patient_a.pk]))
    other = client.get(reverse(url_name, args=[t.patient_b.pk]))

    assert own.status_code == 200
    assert other.status_code == 404


def test_history_page_answers_404_for_another_sites_patient(two_site_trial):
    t = two_site_trial
    client = client_for(t.coordinator_a)

    assert client.get(reverse("history", args=["patient", t.patient_a.pk])).status_code == 200
    assert client.get(reverse("history", args=["patient", t.patient_b.pk])).status_code == 404


def test_patient_list_page_shows_only_own_site(two_site_trial):
    t = two_site_trial

    response = client_for(t.coordinator_a).get(reverse("patient_list"))

    patients = list(response.context["patients"])
    assert patients == [t.patient_a]


def test_api_patient_list_and_detail_are_scoped_to_site(two_site_trial):
    t = two_site_trial
    api = api_client_for(t.coordinator_a)

    listed = api.get("/api/patients/", {"trial": "IPD"}).json()
    detail_other = api.get(f"/api/patients/{t.patient_b.pk}/")
    history_other = api.get(f"/api/history/patient/{t.patient_b.pk}/")
    patch_other = api.patch(
        f"/api/patients/{t.patient_b.pk}/",
        {"given_name": "X", "version": 1, "reason": "typo"},
        format="json",
    )

    assert [p["id"] for p in listed["results"]] == [t.patient_a.pk]
    assert detail_other.status_code == 404
    assert history_other.status_code == 404
    assert patch_other.status_code == 404


def test_user_without_membership_sees_no_trial_and_no_patient(two_site_trial, django_user_model):
    t = two_site_trial
    outsider = django_user_model.objects.create_user(email="out@example.org", password="x" * 12)
    api = api_client_for(outsider)

    assert api.get("/api/trials/").json()["results"] == []
    assert api.get("/api/trials/IPD/").status_code == 404
    assert api.get(f"/api/patients/{t.patient_a.pk}/").status_code == 404
    assert client_for(outsider).get(reverse("trial_detail", args=["IPD"])).status_code == 404


def test_all_sites_roles_see_both_sites(two_site_trial):
    t = two_site_trial

    ids = {p["id"] for p in api_client_for(t.investigator).get("/api/patients/").json()["results"]}

    assert ids == {t.patient_a.pk, t.patient_b.pk}


def test_direct_identifiers_only_for_the_sites_coordinators_and_monitors(two_site_trial):
    t = two_site_trial

    as_coordinator = api_client_for(t.coordinator_a).get(f"/api/patients/{t.patient_a.pk}/").json()
    as_monitor = api_client_for(t.monitor_a).get(f"/api/patients/{t.patient_a.pk}/").json()
    as_statistician = api_client_for(t.statistician).get(f"/api/patients/{t.patient_a.pk}/").json()
    as_investigator = api_client_for(t.investigator).get(f"/api/patients/{t.patient_a.pk}/").json()

    assert as_coordinator["family_name"] == t.patient_a.family_name
    assert as_monitor["family_name"] == t.patient_a.family_name
    assert as_statistician["family_name"] is None
    assert as_investigator["family_name"] is None


def test_monitor_and_statistician_cannot_edit(two_site_trial):
    t = two_site_trial
    body = {"given_name": "X", "version": 1, "reason": "typo fix"}

    monitor = api_client_for(t.monitor_a).patch(
        f"/api/patients/{t.patient_a.pk}/", body, format="json"
    )
    statistician = api_client_for(t.statistician).patch(
        f"/api/patients/{t.patient_a.pk}/", body, format="json"
    )

    assert monitor.status_code == 403
    assert statistician.status_code == 403


def test_anonymous_is_sent_to_login_or_gets_401(two_site_trial):
    t = two_site_trial
    from django.test import Client

    page = Client().get(reverse("patient_detail", args=[t.patient_a.pk]))
    api = Client().get(f"/api/patients/{t.patient_a.pk}/")

    assert page.status_code == 302
    assert page["Location"].startswith(reverse("login"))
    assert api.status_code in (401, 403)
