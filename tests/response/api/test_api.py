"""The response API: scoped reads, role-checked writes, 4xx with field messages (never 500),
reason and version on updates, and list endpoints whose query count does not grow."""

import time
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from response import services
from response.models import ResponseQuery
from tests.conftest import api_client_for
from tests.factories import TEST_PASSWORD, UserFactory
from tests.response.factories import (
    TRIAL_A_SIMON,
    computed_response,
    cycles,
    serum_course,
    set_design,
    treated_patient,
)

pytestmark = pytest.mark.django_db

START = date(2025, 1, 6)
C2, C3, C4 = cycles(START, 3)
API = "/api/response"


@pytest.fixture
def imwg(two_site_trial):
    set_design(
        two_site_trial.trial,
        criteria="IMWG2016",
        nadir_policy="lowest_observed",
        simon=TRIAL_A_SIMON,
    )
    return two_site_trial


@pytest.fixture
def patient(imwg):
    p = treated_patient(imwg.trial, imwg.site_a, start=START)
    serum_course(p, START, [1.6, 1.4, 1.3])
    services.response_evaluate_patient(patient_id=p.pk)
    return p


def totp_code(device: TOTPDevice) -> str:
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits)
    totp.time = time.time()
    return str(totp.token()).zfill(device.digits)


# --- Reads ------------------------------------------------------------------------------------


def test_the_patient_detail_shows_calls_with_their_trace(imwg, patient):
    response = api_client_for(imwg.coordinator_a).get(f"{API}/patients/{patient.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert body["response"]["best_overall_response"] == "PR"
    assert [t["timepoint"] for t in body["timepoints"]] == ["MR", "PR", "PR"]
    assert body["timepoints"][1]["trace"]["levels"][0]["parameter"] == "serum"


def test_another_sites_patient_is_not_found(imwg, patient):
    response = api_client_for(imwg.coordinator_b).get(f"{API}/patients/{patient.pk}/")

    assert response.status_code == 404


def test_the_response_list_has_a_constant_query_count(imwg, patient, django_assert_num_queries):
    client = api_client_for(imwg.investigator)
    with CaptureQueriesContext(connection) as few:
        assert client.get(f"{API}/patients/?trial={imwg.trial.code}").status_code == 200
    for i in range(4):
        computed_response(
            treated_patient(imwg.trial, imwg.site_b, start=START + timedelta(days=i)), "SD"
        )

    with django_assert_num_queries(len(few)):
        response = client.get(f"{API}/patients/?trial={imwg.trial.code}")

    assert response.json()["count"] == 5


# --- Entries ----------------------------------------------------------------------------------


def test_an_investigator_entry_raises_a_query(imwg, patient):
    client = api_client_for(imwg.investigator)

    response = client.post(
        f"{API}/patients/{patient.pk}/entries/",
        {"scope": "assessment", "assessment_date": C4.isoformat(), "category": "CR"},
        format="json",
    )

    assert response.status_code == 201
    (query,) = client.get(f"{API}/queries/?status=open").json()["results"]
    assert (query["flag"], query["entered"], query["computed"]) == ("OVERCALL", "CR", "PR")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (
            {"scope": "assessment", "assessment_date": "2025-02-04", "category": "PR"},
            "assessment_date",
        ),
        ({"scope": "assessment", "assessment_date": "2025-02-03", "category": "GOOD"}, "category"),
        ({"scope": "everything", "category": "PR"}, "scope"),
        ({"scope": "best_overall_response", "category": "PR", "pd_basis": "serum"}, "pd_basis"),
    ],
)
def test_bad_entries_get_field_messages(imwg, patient, payload, field):
    response = api_client_for(imwg.investigator).post(
        f"{API}/patients/{patient.pk}/entries/", payload, format="json"
    )

    assert response.status_code == 400
    assert field in response.json()


def test_coordinators_do_not_enter_responses(imwg, patient):
    response = api_client_for(imwg.coordinator_a).post(
        f"{API}/patients/{patient.pk}/entries/",
        {"scope": "best_overall_response", "category": "PR"},
        format="json",
    )

    assert response.status_code == 403


def test_corrections_need_a_reason_and_the_current_version(imwg, patient):
    client = api_client_for(imwg.investigator)
    entry = client.post(
        f"{API}/patients/{patient.pk}/entries/",
        {"scope": "best_overall_response", "category": "VGPR"},
        format="json",
    ).json()
    url = f"{API}/patients/{patient.pk}/entries/{entry['id']}/"

    missing = client.patch(url, {"category": "PR"}, format="json")
    stale = client.patch(url, {"category": "PR", "reason": "recount", "version": 7}, format="json")
    fixed = client.patch(url, {"category": "PR", "reason": "recount", "version": 1}, format="json")

    assert missing.status_code == 400 and {"reason", "version"} <= set(missing.json())
    assert stale.status_code == 409 and stale.json()["current_version"] == 1
    assert fixed.status_code == 200 and fixed.json()["version"] == 2


# --- Queries ----------------------------------------------------------------------------------


@pytest.fixture
def query(imwg, patient):
    services.investigator_response_record(
        patient=patient,
        scope="assessment",
        assessment_date=C4,
        category="CR",
        acting_user=imwg.investigator,
    )
    return ResponseQuery.objects.get(patient=patient)


def test_the_site_answers_and_the_investigator_closes(imwg, query):
    url = f"{API}/queries/{query.pk}/transition/"

    answered = api_client_for(imwg.coordinator_a).post(
        url, {"to_status": "answered", "text": "IFE positive", "version": 1}, format="json"
    )
    refused = api_client_for(imwg.coordinator_a).post(
        url, {"to_status": "closed", "text": "done", "version": 2}, format="json"
    )
    stale = api_client_for(imwg.investigator).post(
        url, {"to_status": "closed", "text": "okay", "version": 1}, format="json"
    )
    closed = api_client_for(imwg.investigator).post(
        url, {"to_status": "closed", "text": "entry corrected", "version": 2}, format="json"
    )

    assert answered.status_code == 200 and answered.json()["status"] == "answered"
    assert refused.status_code == 403
    assert stale.status_code == 409
    assert closed.status_code == 200 and closed.json()["closed_by"] == imwg.investigator.email


def test_queries_of_another_site_are_not_found(imwg, query):
    client = api_client_for(imwg.coordinator_b)

    assert client.get(f"{API}/queries/{query.pk}/").status_code == 404
    assert client.get(f"{API}/queries/").json()["count"] == 0


def test_the_query_list_has_a_constant_query_count(imwg, query, django_assert_num_queries):
    client = api_client_for(imwg.investigator)
    with CaptureQueriesContext(connection) as few:
        client.get(f"{API}/queries/")
    for i in range(3):
        other = treated_patient(imwg.trial, imwg.site_b, start=START + timedelta(days=i))
        serum_course(other, START, [1.6, 1.4])
        services.response_evaluate_patient(patient_id=other.pk)
        services.investigator_response_record(
            patient=other,
            scope="best_overall_response",
            category="CR",
            acting_user=imwg.investigator,
        )

    with django_assert_num_queries(len(few)):
        response = client.get(f"{API}/queries/")

    assert response.json()["count"] == 4


# --- Signing ----------------------------------------------------------------------------------


@pytest.fixture
def ready_to_sign(imwg, patient):
    services.investigator_response_record(
        patient=patient, scope="best_overall_response", category="PR", acting_user=imwg.investigator
    )
    return patient


def test_signing_needs_the_password_and_a_current_code(imwg, ready_to_sign):
    device = TOTPDevice.objects.create(user=imwg.investigator, name="app", confirmed=True)
    client = api_client_for(imwg.investigator)
    url = f"{API}/patients/{ready_to_sign.pk}/sign/"

    wrong = client.post(url, {"password": "nope", "otp_token": totp_code(device)}, format="json")
    signed = client.post(
        url, {"password": TEST_PASSWORD, "otp_token": totp_code(device)}, format="json"
    )

    assert wrong.status_code == 400 and "password" in wrong.json()
    assert signed.status_code == 201
    assert signed.json()["content"]["best_overall_response"] == "PR"


def test_an_investigator_without_an_authenticator_cannot_sign(imwg, ready_to_sign):
    response = api_client_for(imwg.investigator).post(
        f"{API}/patients/{ready_to_sign.pk}/sign/", {"password": TEST_PASSWORD}, format="json"
    )

    assert response.status_code == 403


# --- RECIST -----------------------------------------------------------------------------------


def test_recist_lesions_and_measurements(two_site_trial):
    t = two_site_trial
    set_design(t.trial, criteria="RECIST1.1", confirmation_required=False)
    p = treated_patient(t.trial, t.site_a)
    client = api_client_for(t.coordinator_a)
    base = f"{API}/patients/{p.pk}/recist"
    lesion = {"kind": "target", "organ": "liver", "baseline_date": "2025-01-06"}

    first = client.post(
        f"{base}/lesions/", {**lesion, "code": "T1", "baseline_diameter_mm": "30"}, format="json"
    )
    client.post(
        f"{base}/lesions/", {**lesion, "code": "T2", "baseline_diameter_mm": "25"}, format="json"
    )
    third = client.post(
        f"{base}/lesions/", {**lesion, "code": "T3", "baseline_diameter_mm": "22"}, format="json"
    )
    measured = client.post(
        f"{base}/assessments/",
        {"assessment_date": "2025-03-03", "measurements": {"T1": "20", "T2": None}},
        format="json",
    )

    assert first.status_code == 201
    assert third.status_code == 400 and "per organ" in third.json()["non_field_errors"][0]
    again = client.post(
        f"{base}/assessments/",
        {"assessment_date": "2025-03-03", "measurements": {"T1": "21", "T2": "18"}},
        format="json",
    )
    corrected = client.post(
        f"{base}/assessments/",
        {
            "assessment_date": "2025-03-03",
            "measurements": {"T1": "21", "T2": "18"},
            "reason": "T2 measured on review",
            "version": 1,
        },
        format="json",
    )

    assert measured.status_code == 200
    assert measured.json()["measurements"] == {"T1": "20.0", "T2": None}
    assert again.status_code == 400 and {"reason", "version"} <= set(again.json())
    assert corrected.status_code == 200 and corrected.json()["version"] == 2


# --- Trial summaries and Simon ----------------------------------------------------------------


def test_the_summary_has_exact_intervals(imwg):
    for i, bor in enumerate(["PR", "VGPR", "SD", "PD", "NE"]):
        computed_response(
            treated_patient(imwg.trial, imwg.site_a, start=START + timedelta(days=i)), bor
        )

    response = api_client_for(imwg.statistician).get(f"{API}/trials/{imwg.trial.code}/summary/")

    overall = response.json()["overall"]
    assert response.status_code == 200
    assert (overall["orr"]["x"], overall["orr"]["n"]) == (2, 5)
    assert overall["orr"]["lcl"] == pytest.approx(0.0527, abs=1e-4)
    assert overall["orr"]["ucl"] == pytest.approx(0.8534, abs=1e-4)
    assert (overall["vgpr_or_better"]["x"], overall["sd_or_better"]["x"]) == (1, 3)


@pytest.mark.parametrize(("who", "code"), [("coordinator_a", 403), ("outsider", 404)])
def test_summaries_are_for_trial_readers(imwg, who, code):
    user = UserFactory() if who == "outsider" else getattr(imwg, who)

    response = api_client_for(user).get(f"{API}/trials/{imwg.trial.code}/summary/")

    assert response.status_code == code


def test_the_simon_monitor(imwg):
    services.simon_monitor_update(trial_id=imwg.trial.pk)

    response = api_client_for(imwg.statistician).get(f"{API}/trials/{imwg.trial.code}/simon/")

    body = response.json()
    assert response.status_code == 200
    assert (body["monitor"]["n1"], body["monitor"]["r1"], body["monitor"]["design_assumed"]) == (
        14,
        3,
        True,
    )
    assert body["monitor"]["rule"] == "PENDING"


def test_the_simon_design_search(imwg):
    response = api_client_for(imwg.statistician).get(
        f"{API}/simon/design/?p0=0.2&p1=0.45&alpha=0.1&beta=0.1"
    )

    optimal = response.json()["optimal"]
    assert (optimal["r1"], optimal["n1"], optimal["r"], optimal["n"]) == (3, 14, 7, 25)
    assert "3 or fewer" in optimal["rule_text"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("p0=0.4&p1=0.2", "non_field_errors"),
        ("p0=0.2&p1=0.4&nmax=999", "nmax"),
        ("p0=x&p1=0.4", "p0"),
    ],
)
def test_bad_simon_parameters_get_field_messages(imwg, query, field):
    response = api_client_for(imwg.statistician).get(f"{API}/simon/design/?{query}")

    assert response.status_code == 400
    assert field in response.json()


def test_the_schema_documents_the_response_api(imwg):
    response = api_client_for(imwg.statistician).get("/api/schema/?format=json")

    paths = response.json()["paths"]
    assert "/api/response/patients/{id}/entries/" in paths
    assert "/api/response/simon/design/" in paths


def test_a_lesion_correction_needs_a_reason_and_its_version(two_site_trial):
    t = two_site_trial
    set_design(t.trial, criteria="RECIST1.1", confirmation_required=False)
    p = treated_patient(t.trial, t.site_a)
    client = api_client_for(t.coordinator_a)
    base = f"{API}/patients/{p.pk}/recist/lesions/"
    lesion = {"code": "T1", "kind": "target", "organ": "liver", "baseline_date": "2025-01-06"}
    created = client.post(base, {**lesion, "baseline_diameter_mm": "30"}, format="json").json()

    missing = client.patch(
        f"{base}{created['id']}/", {**lesion, "baseline_diameter_mm": "32"}, format="json"
    )
    stale = client.patch(
        f"{base}{created['id']}/",
        {**lesion, "baseline_diameter_mm": "32", "reason": "re-read", "version": 5},
        format="json",
    )
    fixed = client.patch(
        f"{base}{created['id']}/",
        {**lesion, "baseline_diameter_mm": "32", "reason": "re-read", "version": 1},
        format="json",
    )

    assert missing.status_code == 400 and {"reason", "version"} <= set(missing.json())
    assert stale.status_code == 409
    assert fixed.status_code == 200 and fixed.json()["baseline_diameter_mm"] == "32.0"
