"""The safety API: scoped reads (404 for another site), role checks (403), field messages
(400, never 500), reason and version on updates (409 when stale), e-signatures with password
and authenticator code, and constant query counts on lists."""

import pytest

from safety.models import AdverseEvent, DltAdjudication, PotentialDlt, SaeReport
from tests.conftest import api_client_for
from tests.factories import days_ago
from tests.safety.factories import dosed_patient, neutropenia
from tests.security.helpers import confirmed_device, totp_code
from trials import services as trial_services
from trials.models import Visit

pytestmark = pytest.mark.django_db

AE_URL = "/api/safety/adverse-events/"


def ae_payload(patient_row, **fields):
    return {
        "patient": patient_row.pk,
        "term": "Neutrophil count decreased",
        "onset_date": days_ago(12).isoformat(),
        "grade": 4,
        "attributions": [{"agent": "IXA", "attribution": "possible", "action_taken": "held"}],
        **fields,
    }


def test_term_search_uses_the_trials_ctcae_version_and_marks_disallowed_grades(ipd):
    client = api_client_for(ipd.coordinator_a)

    response = client.get("/api/safety/ctcae-terms/", {"trial": "IPD", "search": "neutrophil"})

    assert response.status_code == 200
    first = response.json()[0]
    assert (first["term"], first["version"], first["meddra_code"]) == (
        "Neutrophil count decreased",
        "5.0",
        10029366,
    )
    assert [g["allowed"] for g in first["grades"]] == [True, True, True, True, False]
    assert first["grades"][3]["text"].startswith("<500/mm3")
    assert client.get("/api/safety/ctcae-terms/", {"trial": "NOPE"}).status_code == 404


def test_a_coordinator_records_an_event_that_is_flagged(ipd, in_window):
    client = api_client_for(ipd.coordinator_a)

    response = client.post(AE_URL, ae_payload(in_window), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["term"], body["max_grade"], body["patient"]["label"]) == (
        "Neutrophil count decreased",
        4,
        in_window.label,
    )
    assert body["potential_dlt"]["status"] == "pending"
    assert "given_name" not in body["patient"]


BAD_INPUT = [
    ({"grade": 5}, "grade"),
    ({"grade": 7}, "grade"),
    ({"term": "Not a CTCAE term"}, "term"),
    ({"onset_date": "yesterday"}, "onset_date"),
    ({"attributions": [{"agent": "IXA", "attribution": "maybe"}]}, "attributions"),
    ({"resolution_date": days_ago(20).isoformat()}, "resolution_date"),
    ({"patient": "first"}, "patient"),
]


def test_bad_input_is_a_400_with_field_messages(ipd, in_window):
    client = api_client_for(ipd.coordinator_a)

    answers = [
        client.post(AE_URL, ae_payload(in_window, **fields), format="json")
        for fields, _ in BAD_INPUT
    ]

    assert [
        (a.status_code, field in a.json()) for a, (_, field) in zip(answers, BAD_INPUT, strict=True)
    ] == [(400, True)] * len(BAD_INPUT)
    assert not AdverseEvent.objects.exists()


def test_another_sites_patient_is_not_found_and_readers_cannot_write(ipd, in_window):
    other = dosed_patient(ipd, site=ipd.site_b, coordinator=ipd.coordinator_b)
    ae = neutropenia(other, ipd.coordinator_b, onset=days_ago(5))

    coordinator_a = api_client_for(ipd.coordinator_a)
    assert coordinator_a.post(AE_URL, ae_payload(other), format="json").status_code == 404
    assert coordinator_a.get(f"{AE_URL}{ae.pk}/").status_code == 404
    assert [r["id"] for r in coordinator_a.get(AE_URL).json()["results"]] == []
    for reader in (ipd.monitor_a, ipd.statistician, ipd.investigator):
        response = api_client_for(reader).post(AE_URL, ae_payload(in_window), format="json")
        assert response.status_code == 403
    listed = api_client_for(ipd.statistician).get(AE_URL, {"trial": "IPD"}).json()["results"]
    assert [r["patient"]["label"] for r in listed] == [other.label]


def test_updates_need_a_reason_and_the_current_version(ipd, in_window):
    ae = neutropenia(in_window, ipd.coordinator_a, onset=days_ago(5))
    client = api_client_for(ipd.coordinator_a)
    url = f"{AE_URL}{ae.pk}/"

    no_reason = client.patch(url, {"version": ae.version, "verbatim": "x"}, format="json")
    stale = client.patch(
        url, {"version": ae.version + 1, "reason": "typo", "verbatim": "x"}, format="json"
    )
    ok = client.patch(
        url, {"version": ae.version, "reason": "described", "verbatim": "ANC nadir"}, format="json"
    )

    assert no_reason.status_code == 400 and "reason" in no_reason.json()
    assert stale.status_code == 409 and stale.json()["current_version"] == ae.version
    assert ok.status_code == 200 and ok.json()["verbatim"] == "ANC nadir"


def test_grade_change_and_attribution_endpoints(ipd, in_window):
    ae = services_ae = neutropenia(in_window, ipd.coordinator_a, onset=days_ago(5), grade=3)
    client = api_client_for(ipd.coordinator_a)

    changed = client.post(
        f"{AE_URL}{ae.pk}/grade-changes/",
        {"grade": 4, "on_date": days_ago(3).isoformat(), "version": 1, "reason": "worse"},
        format="json",
    )
    attributed = client.post(
        f"{AE_URL}{ae.pk}/attributions/",
        {
            "agent": "POM",
            "attribution": "probable",
            "action_taken": "reduced",
            "version": 2,
            "reason": "investigator's assessment",
        },
        format="json",
    )

    assert changed.status_code == 200 and changed.json()["max_grade"] == 4
    assert attributed.status_code == 200
    assert {
        "agent": "POM",
        "attribution": "probable",
        "action_taken": "reduced",
    } in attributed.json()["attributions"]
    assert services_ae.pk == ae.pk


def test_the_event_list_takes_a_constant_number_of_queries(
    ipd, in_window, django_assert_num_queries
):
    client = api_client_for(ipd.coordinator_a)
    neutropenia(in_window, ipd.coordinator_a, onset=days_ago(12))

    # trial, count, events, their grade episodes, their attributions
    with django_assert_num_queries(5):
        client.get(AE_URL, {"trial": "IPD"})
    for days in (2, 3, 4):
        neutropenia(in_window, ipd.coordinator_a, onset=days_ago(days), grade=2)
    with django_assert_num_queries(5):
        assert client.get(AE_URL, {"trial": "IPD"}).json()["count"] == 4


def test_lab_suggestions_are_confirmed_or_dismissed(ipd, in_window):
    visit = Visit.objects.get(patient=in_window, code="C1D1")
    for analyte, value in (("PLT", "20"), ("ANC", "0.3")):
        trial_services.lab_result_record(
            visit=visit, analyte=analyte, value=value, unit="10^9/L", acting_user=ipd.coordinator_a
        )
    from safety.services import safety_grade_lab_results

    safety_grade_lab_results(
        patient=in_window,
        lab_result_ids=visit.lab_results.values_list("pk", flat=True),
        acting_user=ipd.coordinator_a,
    )
    client = api_client_for(ipd.coordinator_a)
    listed = client.get("/api/safety/lab-suggestions/", {"trial": "IPD"}).json()["results"]
    plt, anc = sorted(listed, key=lambda r: r["analyte"], reverse=True)

    confirmed = client.post(
        f"/api/safety/lab-suggestions/{plt['id']}/confirm/",
        {"version": plt["version"], "attributions": [{"agent": "POM", "attribution": "possible"}]},
        format="json",
    )
    dismissed = client.post(
        f"/api/safety/lab-suggestions/{anc['id']}/dismiss/",
        {"version": anc["version"]},
        format="json",
    )
    dismissed_ok = client.post(
        f"/api/safety/lab-suggestions/{anc['id']}/dismiss/",
        {"version": anc["version"], "reason": "clotted sample"},
        format="json",
    )

    assert confirmed.status_code == 201
    assert (confirmed.json()["term"], confirmed.json()["max_grade"]) == (
        "Platelet count decreased",
        4,
    )
    assert dismissed.status_code == 400 and "reason" in dismissed.json()
    assert dismissed_ok.json()["status"] == "dismissed"
    monitor = api_client_for(ipd.monitor_a)
    assert (
        monitor.post(
            f"/api/safety/lab-suggestions/{anc['id']}/dismiss/",
            {"version": 9, "reason": "nope"},
            format="json",
        ).status_code
        == 403
    )


@pytest.fixture
def signing_investigator(ipd):
    device = confirmed_device(ipd.investigator)
    return api_client_for(ipd.investigator), device


def test_an_investigator_adjudicates_with_password_and_code(
    ipd, in_window, signing_investigator, password, escalations, django_capture_on_commit_callbacks
):
    client, device = signing_investigator
    potential = PotentialDlt.objects.get(
        adverse_event=neutropenia(in_window, ipd.coordinator_a, onset=days_ago(12))
    )
    url = f"/api/safety/potential-dlts/{potential.pk}/adjudicate/"
    body = {
        "decision": "confirmed",
        "reason": "grade 4 neutropenia for 12 days",
        "meaning": "I confirm this is a dose-limiting toxicity",
        "version": potential.version,
    }

    wrong = client.post(
        url, {**body, "password": "wrong", "otp_token": totp_code(device)}, format="json"
    )
    with django_capture_on_commit_callbacks(execute=True):
        ok = client.post(
            url,
            {**body, "password": password, "otp_token": totp_code(device, steps_ahead=1)},
            format="json",
        )

    assert wrong.status_code == 400 and "password" in wrong.json()
    assert ok.status_code == 200, ok.content
    assert ok.json()["status"] == "confirmed"
    assert ok.json()["adjudication"]["meaning"] == body["meaning"]
    assert DltAdjudication.objects.get().signature.method == "password+otp"
    assert escalations == [(ipd.trial.pk,)]
    queue = client.get("/api/safety/potential-dlts/", {"status": "pending"}).json()
    assert queue["count"] == 0


def test_adjudication_is_refused_to_non_investigators_and_without_an_authenticator(
    ipd, in_window, password
):
    potential = PotentialDlt.objects.get(
        adverse_event=neutropenia(in_window, ipd.coordinator_a, onset=days_ago(12))
    )
    url = f"/api/safety/potential-dlts/{potential.pk}/adjudicate/"
    body = {
        "decision": "confirmed",
        "reason": "DLT",
        "meaning": "I confirm",
        "version": potential.version,
        "password": password,
    }

    assert api_client_for(ipd.coordinator_a).post(url, body, format="json").status_code == 403
    # investigators must have set up an authenticator before they can sign
    assert api_client_for(ipd.investigator).post(url, body, format="json").status_code == 403
    assert not DltAdjudication.objects.exists()


def test_sae_report_submitted_then_signed(ipd, in_window, signing_investigator, password):
    client, device = signing_investigator
    ae = neutropenia(
        in_window, ipd.coordinator_a, onset=days_ago(3), seriousness=["serious_hospitalisation"]
    )
    report = SaeReport.objects.get(adverse_event=ae)
    coordinator = api_client_for(ipd.coordinator_a)

    listed = coordinator.get("/api/safety/sae-reports/", {"trial": "IPD"}).json()["results"]
    submitted = coordinator.post(
        f"/api/safety/sae-reports/{report.pk}/submit/",
        {"report": "full", "version": report.version, "narrative": "Admitted for neutropenia."},
        format="json",
    )
    signed = client.post(
        f"/api/safety/sae-reports/{report.pk}/sign/",
        {
            "meaning": "I approve this SAE report",
            "password": password,
            "otp_token": totp_code(device),
            "version": submitted.json()["version"],
        },
        format="json",
    )

    assert (listed[0]["initial_status"], listed[0]["overdue"]) == ("pending", False)
    assert submitted.status_code == 200 and submitted.json()["status"] == "full_submitted"
    assert signed.status_code == 200, signed.content
    assert (signed.json()["status"], signed.json()["signed_by"]) == ("signed", "inv@example.org")


def test_tables_endpoints(ipd, in_window):
    neutropenia(in_window, ipd.coordinator_a, onset=days_ago(12))
    client = api_client_for(ipd.investigator)

    tables = client.get("/api/safety/tables/ae/", {"trial": "IPD"})
    listing = client.get("/api/safety/tables/dlt/", {"trial": "IPD"})

    assert tables.status_code == 200
    (row,) = tables.json()["overall"]["rows"]
    assert (row["term"], row["by_grade"]["4"], row["grade_3_plus"]) == (
        "Neutrophil count decreased",
        1,
        1,
    )
    assert listing.json()[0]["dose_level"] == "DL1"
    assert client.get("/api/safety/tables/dlt/").status_code == 404


def test_the_schema_documents_the_safety_api(ipd):
    response = api_client_for(ipd.investigator).get("/api/schema/", {"format": "json"})

    paths = response.json()["paths"]
    assert "/api/safety/potential-dlts/{id}/adjudicate/" in paths
    assert "/api/safety/adverse-events/" in paths


def test_an_event_entered_in_error_is_removed_with_a_reason_until_adjudicated(
    ipd, in_window, escalations
):
    wrong = neutropenia(in_window, ipd.coordinator_a, onset=days_ago(3), grade=2)
    flagged = neutropenia(in_window, ipd.coordinator_a, onset=days_ago(12))
    from safety.services import potential_dlt_adjudicate

    potential = PotentialDlt.objects.get(adverse_event=flagged)
    potential_dlt_adjudicate(
        potential_dlt=potential,
        decision="confirmed",
        reason="DLT",
        signer=ipd.investigator,
        meaning="I confirm",
        acting_user=ipd.investigator,
        expected_version=potential.version,
    )
    client = api_client_for(ipd.coordinator_a)

    no_reason = client.delete(f"{AE_URL}{wrong.pk}/", {"version": 1}, format="json")
    removed = client.delete(
        f"{AE_URL}{wrong.pk}/", {"version": 1, "reason": "wrong patient"}, format="json"
    )
    refused = client.delete(
        f"{AE_URL}{flagged.pk}/", {"version": flagged.version, "reason": "oops"}, format="json"
    )

    assert no_reason.status_code == 400
    assert removed.status_code == 204
    assert not AdverseEvent.objects.filter(pk=wrong.pk).exists()
    assert refused.status_code == 400 and "adjudicated" in str(refused.json())
    from pghistory.models import Events

    deleted = Events.objects.filter(
        pgh_label="delete", pgh_obj_model="safety.AdverseEvent", pgh_obj_id=str(wrong.pk)
    ).get()
    assert deleted.pgh_context["reason"] == "wrong patient"
