"""The response pages: scoped by site and role, forms that go through the services, and list
pages whose query count does not grow with the rows."""

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from config.celery import app
from response import services
from response.models import PatientResponse, ResponseQuery, ResponseSignature
from tests.conftest import client_for
from tests.factories import TEST_PASSWORD, UserFactory
from tests.response.factories import (
    TRIAL_A_SIMON,
    computed_response,
    cycles,
    serum_course,
    set_design,
    treated_patient,
    visit_on,
)

pytestmark = pytest.mark.django_db

START = date(2025, 1, 6)
C2, C3, C4 = cycles(START, 3)


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


def page_url(patient):
    return f"/response/patients/{patient.pk}/"


def test_the_patient_page_shows_the_calls_and_the_rule_trace(imwg, patient):
    response = client_for(imwg.coordinator_a).get(page_url(patient))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="computed-bor">PR<' in html
    assert "<summary>S-MR</summary>" in html  # the rule that fired
    assert "serum: 1.6 vs baseline 3.0 (−46.7%) → MR (S-MR)" in html
    assert "Enter response labs" in html
    assert "Your response (investigator)" not in html


def test_the_investigator_gets_the_entry_and_sign_forms(imwg, patient):
    html = client_for(imwg.investigator).get(page_url(patient)).content.decode()

    assert "Your response (investigator)" in html
    assert "Sign the final response" in html
    assert "Enter response labs" not in html


@pytest.mark.parametrize(("who", "code"), [("coordinator_b", 404), ("statistician", 200)])
def test_who_sees_the_patient_page(imwg, patient, who, code):
    assert client_for(getattr(imwg, who)).get(page_url(patient)).status_code == code


def test_an_investigator_entry_from_the_page_raises_a_query(imwg, patient):
    client = client_for(imwg.investigator)

    response = client.post(
        f"{page_url(patient)}entries/", {"target": C4.isoformat(), "category": "CR", "note": ""}
    )

    assert response.status_code == 302
    html = client.get(page_url(patient)).content.decode()
    assert "OVERCALL" in html


def test_coordinators_cannot_post_entries(imwg, patient):
    response = client_for(imwg.coordinator_a).post(
        f"{page_url(patient)}entries/", {"target": "bor", "category": "CR"}
    )

    assert response.status_code == 403


def test_a_bad_entry_shows_the_field_message(imwg, patient):
    response = client_for(imwg.investigator).post(
        f"{page_url(patient)}entries/",
        {"target": C4.isoformat(), "category": "PR", "pd_basis": "serum"},
    )

    assert response.status_code == 400
    assert "The basis is given only for PD." in response.content.decode()


def test_the_site_answers_a_query_from_the_page(imwg, patient):
    services.investigator_response_record(
        patient=patient,
        scope="assessment",
        assessment_date=C4,
        category="CR",
        acting_user=imwg.investigator,
    )
    query = ResponseQuery.objects.get(patient=patient)

    response = client_for(imwg.coordinator_a).post(
        f"/response/queries/{query.pk}/act/",
        {"to_status": "answered", "text": "IFE positive on the report", "version": query.version},
    )

    query.refresh_from_db()
    assert response.status_code == 302
    assert (query.status, query.answer) == ("answered", "IFE positive on the report")


def test_labs_entered_on_the_page_are_evaluated_after_commit(
    imwg, django_capture_on_commit_callbacks
):
    p = treated_patient(imwg.trial, imwg.site_a, start=START)
    c2 = visit_on(p, C2)
    c3 = visit_on(p, C3)
    client = client_for(imwg.coordinator_a)
    saved = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            for visit, serum in ((p.visits.get(code="C1D1"), "3.0"), (c2, "1.4"), (c3, "1.3")):
                response = client.post(
                    f"{page_url(p)}labs/",
                    {"visit": visit.pk, "SPEP_M": serum, "UPEP_M": "40", "SIFE": "positive"},
                )
                assert response.status_code == 302
    finally:
        app.conf.task_always_eager = saved

    assert PatientResponse.objects.get(patient=p).best_overall_response == "PR"


def test_a_bad_lab_value_is_refused_on_its_field(imwg):
    p = treated_patient(imwg.trial, imwg.site_a, start=START)

    response = client_for(imwg.coordinator_a).post(
        f"{page_url(p)}labs/", {"visit": p.visits.get().pk, "SPEP_M": "-1"}
    )

    assert response.status_code == 400
    assert "cannot be negative" in response.content.decode()
    assert not p.lab_results.exists()


def test_signing_from_the_page(imwg, patient):
    services.investigator_response_record(
        patient=patient, scope="best_overall_response", category="PR", acting_user=imwg.investigator
    )
    device = TOTPDevice.objects.create(user=imwg.investigator, name="app", confirmed=True)
    client = client_for(imwg.investigator)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits)

    response = client.post(
        f"{page_url(patient)}sign/",
        {
            "meaning": "final_response",
            "password": TEST_PASSWORD,
            "otp_token": str(totp.token()).zfill(6),
        },
    )

    assert response.status_code == 302
    assert ResponseSignature.objects.get(patient=patient).signed_by == imwg.investigator


# --- Trial pages -------------------------------------------------------------------------------


def test_the_trial_summary_has_rates_with_intervals_and_the_waterfall(imwg, patient):
    response = client_for(imwg.statistician).get(f"/response/trials/{imwg.trial.code}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "1/1 = 100.0%" in html
    assert "95% CI 2.5%–100.0%" in html
    assert "waterfall.png" in html


@pytest.mark.parametrize(("who", "code"), [("coordinator_a", 403), ("outsider", 404)])
def test_trial_pages_are_for_trial_readers(imwg, who, code):
    user = UserFactory() if who == "outsider" else getattr(imwg, who)
    client = client_for(user)

    for url in ("", "simon/", "waterfall.png"):
        assert client.get(f"/response/trials/{imwg.trial.code}/{url}").status_code == code


def test_the_summary_page_has_a_constant_query_count(imwg, patient, django_assert_num_queries):
    client = client_for(imwg.investigator)
    url = f"/response/trials/{imwg.trial.code}/"
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for i in range(4):
        computed_response(
            treated_patient(imwg.trial, imwg.site_b, start=START + timedelta(days=i)), "SD"
        )

    with django_assert_num_queries(len(few)):
        response = client.get(url)

    assert response.content.decode().count('href="/response/patients/') == 5


def test_the_query_list_has_a_constant_query_count(imwg, patient, django_assert_num_queries):
    client = client_for(imwg.investigator)
    services.investigator_response_record(
        patient=patient, scope="best_overall_response", category="CR", acting_user=imwg.investigator
    )
    with CaptureQueriesContext(connection) as few:
        client.get("/response/queries/")
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
        response = client.get("/response/queries/")

    assert response.content.decode().count("OVERCALL") == 4


@pytest.mark.parametrize(
    ("fmt", "content_type", "magic"),
    [("png", "image/png", b"\x89PNG"), ("svg", "image/svg+xml", b"<?xml")],
)
def test_the_waterfall_plot(imwg, patient, fmt, content_type, magic):
    response = client_for(imwg.statistician).get(
        f"/response/trials/{imwg.trial.code}/waterfall.{fmt}"
    )

    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response.content.startswith(magic)


def test_the_simon_page_labels_the_assumption_and_shows_both_designs(imwg, patient):
    html = (
        client_for(imwg.statistician)
        .get(f"/response/trials/{imwg.trial.code}/simon/")
        .content.decode()
    )

    assert "ASSUMPTION" in html
    assert "p0 = 0.2, p1 = 0.45, α = 0.1, β = 0.1" in html
    assert (
        "Stop after 14 patients if 3 or fewer respond; the drug is promising if more than 7 of 25 respond."
        in html
    )
    assert "Stop after 15 patients if 3 or fewer respond" in html  # minimax
    assert "(the optimal design)" in html
    assert 'id="monitor-rule">Stage 1 cannot be decided yet<' in html


def test_the_patient_page_has_a_constant_query_count(imwg, patient, django_assert_num_queries):
    client = client_for(imwg.investigator)
    url = page_url(patient)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    serum_course(patient, START, [1.6, 1.4, 1.3, 1.2, 2.6, 2.8])
    services.response_evaluate_patient(patient_id=patient.pk)
    for when in cycles(START, 3):
        services.investigator_response_record(
            patient=patient,
            scope="assessment",
            assessment_date=when,
            category="CR",
            acting_user=imwg.investigator,
        )

    with django_assert_num_queries(len(few)):
        response = client.get(url)

    assert response.content.decode().count("OVERCALL") >= 3


def test_recist_lesions_and_assessments_from_the_page(two_site_trial):
    t = two_site_trial
    set_design(t.trial, criteria="RECIST1.1", confirmation_required=False)
    p = treated_patient(t.trial, t.site_a)
    client = client_for(t.coordinator_a)
    lesion = {"kind": "target", "organ": "liver", "method": "CT", "baseline_date": "2025-01-06"}

    client.post(f"{page_url(p)}lesions/", {**lesion, "code": "T1", "baseline_diameter_mm": "30"})
    client.post(f"{page_url(p)}lesions/", {**lesion, "code": "T2", "baseline_diameter_mm": "20"})
    refused = client.post(
        f"{page_url(p)}lesions/", {**lesion, "code": "T3", "baseline_diameter_mm": "20"}
    )
    saved = client.post(
        f"{page_url(p)}assessments/",
        {
            "assessment_date": "2025-03-03",
            "non_target_status": "NON_CR_NON_PD",
            "new_lesions": "NO",
            "mm_T1": "20",
            "mm_T2": "15",
        },
    )
    services.response_evaluate_patient(patient_id=p.pk)
    html = client.get(page_url(p)).content.decode()

    assert refused.status_code == 400 and "at most 2 per organ" in refused.content.decode()
    assert saved.status_code == 302
    assert 'id="computed-bor">PR<' in html
    assert "T1 20.0; T2 15.0" in html
