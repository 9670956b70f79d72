"""The API and web base: schema, docs without a CDN, JSON errors, 404 page."""

import pytest
from django.test import Client

from tests.conftest import api_client_for, client_for

pytestmark = pytest.mark.django_db


def test_openapi_schema_is_served(two_site_trial):
    response = api_client_for(two_site_trial.coordinator_a).get("/api/schema/")

    assert response.status_code == 200
    assert b"/api/patients/" in response.content


def test_api_docs_page_uses_local_assets_only(two_site_trial):
    response = client_for(two_site_trial.coordinator_a).get("/api/docs/")

    body = response.content.decode()
    assert response.status_code == 200
    assert "cdn." not in body
    assert "/static/drf_spectacular_sidecar/" in body


def test_unknown_api_url_is_json_404(two_site_trial):
    response = api_client_for(two_site_trial.coordinator_a).get("/api/nothing-here/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")


def test_unknown_page_is_the_404_page(two_site_trial):
    response = client_for(two_site_trial.coordinator_a).get("/no/such/page/")

    assert response.status_code == 404
    assert b"Page not found" in response.content


def test_bad_input_is_a_400_with_field_messages(two_site_trial):
    t = two_site_trial

    response = api_client_for(t.coordinator_a).patch(
        f"/api/patients/{t.patient_a.pk}/",
        {"date_of_birth": "31/31/2020", "version": "x", "reason": "r"},
        format="json",
    )

    assert response.status_code == 400
    assert {"date_of_birth", "version", "reason"} <= set(response.json())


def test_list_endpoints_are_paginated(two_site_trial):
    body = api_client_for(two_site_trial.investigator).get("/api/patients/").json()

    assert {"count", "next", "previous", "results"} <= set(body)


def test_login_page_is_served_with_local_css():
    response = Client().get("/accounts/login/")

    assert response.status_code == 200
    assert b"/static/css/app.css" in response.content


def test_patient_list_uses_a_constant_number_of_queries(
    two_site_trial, django_assert_max_num_queries
):
    from tests.factories import PatientFactory

    t = two_site_trial
    client = client_for(t.investigator)
    client.get("/patients/")  # warm the session
    with django_assert_max_num_queries(20) as few:
        client.get("/patients/")
    PatientFactory.create_batch(15, trial=t.trial, site=t.site_a)
    with django_assert_max_num_queries(20) as many:
        client.get("/patients/")

    assert len(many.captured_queries) == len(few.captured_queries)
