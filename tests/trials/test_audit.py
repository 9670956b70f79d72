"""Every change to an audited record shows who, when, what and why."""

import pytest
from django.db import connection
from django.urls import reverse

from tests.conftest import api_client_for, client_for
from trials import services
from trials.audit import history_for
from trials.models import Patient

pytestmark = pytest.mark.django_db


def test_service_update_records_who_what_and_why(two_site_trial):
    t = two_site_trial

    services.patient_update(
        patient=t.patient_a,
        acting_user=t.coordinator_a,
        reason="transcription error",
        expected_version=1,
        given_name="Maria",
    )

    last = history_for(t.patient_a)[-1]
    assert last.label == "update"
    assert last.user_id == t.coordinator_a.pk
    assert last.user_email == t.coordinator_a.email
    assert last.reason == "transcription error"
    assert last.changes["given_name"][1] == "Maria"
    assert last.at is not None


def test_insert_is_audited(two_site_trial):
    labels = [e.label for e in history_for(two_site_trial.patient_a)]

    assert labels == ["insert"]


def test_raw_sql_update_cannot_skip_the_audit_trail(two_site_trial):
    t = two_site_trial

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE trials_patient SET family_name = %s WHERE id = %s", ["Raw", t.patient_a.pk]
        )

    last = history_for(t.patient_a)[-1]
    assert last.label == "update"
    assert last.changes["family_name"][1] == "Raw"


def test_delete_is_audited(two_site_trial):
    t = two_site_trial
    pk = t.patient_b.pk

    Patient.objects.filter(pk=pk).delete()

    from pghistory.models import Events

    labels = list(
        Events.objects.filter(pgh_obj_model="trials.Patient", pgh_obj_id=str(pk)).values_list(
            "pgh_label", flat=True
        )
    )
    assert "delete" in labels


def test_membership_changes_are_audited(two_site_trial):
    t = two_site_trial
    membership = t.coordinator_b.memberships.get()

    services.membership_revoke(
        membership=membership, acting_user=t.trial_admin, reason="left the site"
    )

    last = history_for(membership)[-1]
    assert last.reason == "left the site"
    assert last.user_id == t.trial_admin.pk
    assert last.changes["active"] == [True, False]


def test_api_update_without_reason_is_refused_and_changes_nothing(two_site_trial):
    t = two_site_trial
    api = api_client_for(t.coordinator_a)

    response = api.patch(
        f"/api/patients/{t.patient_a.pk}/", {"given_name": "Zed", "version": 1}, format="json"
    )

    assert response.status_code == 400
    assert "reason" in response.json()
    t.patient_a.refresh_from_db()
    assert t.patient_a.given_name != "Zed"


def test_api_update_with_reason_is_saved_and_in_history_api(two_site_trial):
    t = two_site_trial
    api = api_client_for(t.coordinator_a)

    response = api.patch(
        f"/api/patients/{t.patient_a.pk}/",
        {"given_name": "Zed", "version": 1, "reason": "spelling corrected"},
        format="json",
    )
    history = api.get(f"/api/history/patient/{t.patient_a.pk}/").json()

    assert response.status_code == 200
    assert response.json()["given_name"] == "Zed"
    assert response.json()["version"] == 2
    assert history[-1]["reason"] == "spelling corrected"
    assert history[-1]["user_email"] == t.coordinator_a.email
    assert history[-1]["changes"]["given_name"][1] == "Zed"


def test_stale_api_update_is_refused_with_409(two_site_trial):
    t = two_site_trial
    api = api_client_for(t.coordinator_a)
    api.patch(
        f"/api/patients/{t.patient_a.pk}/",
        {"given_name": "First", "version": 1, "reason": "first edit"},
        format="json",
    )

    second = api.patch(
        f"/api/patients/{t.patient_a.pk}/",
        {"given_name": "Second", "version": 1, "reason": "second edit"},
        format="json",
    )

    assert second.status_code == 409
    assert second.json()["current_version"] == 2
    t.patient_a.refresh_from_db()
    assert t.patient_a.given_name == "First"


def test_form_update_without_reason_shows_error_and_changes_nothing(two_site_trial):
    t = two_site_trial
    client = client_for(t.coordinator_a)
    url = reverse("patient_edit", args=[t.patient_a.pk])

    response = client.post(
        url, {"given_name": "Zed", "family_name": "Q", "sex": "F", "version": 1, "reason": ""}
    )

    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    t.patient_a.refresh_from_db()
    assert t.patient_a.given_name != "Zed"


def test_form_update_with_reason_shows_in_history_page(two_site_trial):
    t = two_site_trial
    client = client_for(t.coordinator_a)

    client.post(
        reverse("patient_edit", args=[t.patient_a.pk]),
        {"given_name": "Zed", "family_name": "Q", "sex": "F", "version": 1, "reason": "typo"},
    )
    page = client.get(reverse("history", args=["patient", t.patient_a.pk]))

    assert page.status_code == 200
    body = page.content.decode()
    assert "typo" in body
    assert t.coordinator_a.email in body
    assert "Zed" in body


def test_history_hides_identifiers_from_statisticians(two_site_trial):
    t = two_site_trial
    services.patient_update(
        patient=t.patient_a,
        acting_user=t.coordinator_a,
        reason="typo",
        expected_version=1,
        family_name="Secretname",
    )

    as_stat = api_client_for(t.statistician).get(f"/api/history/patient/{t.patient_a.pk}/")

    assert as_stat.status_code == 200
    assert "Secretname" not in as_stat.content.decode()
