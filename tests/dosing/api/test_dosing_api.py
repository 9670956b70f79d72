"""The dosing API: levels, slots, decisions (snapshot, rule, output), signing and overriding
(password + meaning + authenticator code; 403 for non-investigators; 409 when voided or
superseded), the decision table, what-if, operating characteristics and simulation jobs."""

import json
from dataclasses import replace

import pytest

from dosing.domain.operating_characteristics import exact_operating_characteristics
from dosing.models import DecisionStatus, OcSimulationJob, TrialEscalation
from dosing.selectors import escalation_input
from tests.conftest import api_client_for
from tests.dosing.factories import cohort, evaluate, set_dlt_state, sign
from tests.factories import MembershipFactory, TrialFactory, UserFactory
from tests.security.helpers import confirmed_device, totp_code
from trials.models import Role

pytestmark = pytest.mark.django_db

MEANING = "I approve this dose-escalation decision."


@pytest.fixture
def awaiting(ipd):
    """DL1 1/3: "expand to 6" awaits a signature."""
    cohort(ipd, ["DLT", "NO_DLT", "NO_DLT"])
    return evaluate(ipd.trial)


def test_levels_are_listed_with_their_doses(ipd):
    response = api_client_for(ipd.coordinator_a).get("/api/dosing/levels/", {"trial": "IPD"})

    levels = response.json()
    assert [lv["number"] for lv in levels] == [-1, 1, 2]
    assert [(d["agent"], d["dose"]) for d in levels[2]["doses"]] == [
        ("IXA", "4.00"),
        ("POM", "4.00"),
        ("DEX", "40.00"),
    ]


def test_a_trial_admin_defines_a_level_and_others_may_not(ipd):
    body = {
        "trial": "IPD",
        "number": 3,
        "label": "DL3",
        "doses": [{"agent": "IXA", "dose": "5"}, {"agent": "POM", "dose": "4"}],
    }

    refused = api_client_for(ipd.investigator).post("/api/dosing/levels/", body, format="json")
    created = api_client_for(ipd.trial_admin).post("/api/dosing/levels/", body, format="json")
    duplicate = api_client_for(ipd.trial_admin).post("/api/dosing/levels/", body, format="json")
    bad_agent = api_client_for(ipd.trial_admin).post(
        "/api/dosing/levels/",
        {**body, "number": 4, "doses": [{"agent": "XYZ", "dose": "1"}]},
        format="json",
    )

    assert refused.status_code == 403
    assert created.status_code == 201
    assert created.json()["display_label"] == "DL3"
    assert duplicate.status_code == 400
    assert duplicate.json()["number"] == ["IPD already has a current dose level 3."]
    assert bad_agent.status_code == 400
    assert "doses.0.agent" in bad_agent.json()


def test_slots_and_the_escalation_state(ipd):
    patients = cohort(ipd, ["PENDING", "PENDING", "PENDING"])
    api = api_client_for(ipd.statistician)

    slots = api.get("/api/dosing/slots/", {"trial": "IPD"}).json()["results"]
    state = api.get("/api/dosing/escalation/", {"trial": "IPD"}).json()

    assert [(s["patient"], s["seat"], s["status"]) for s in slots] == [
        (p.study_id, i, "held") for i, p in enumerate(patients, start=1)
    ]
    assert (state["open_level"], state["cohort_target"], state["free_slots"]) == (1, 3, 0)
    assert state["enrolment"].startswith("Cohort full, awaiting DLT evaluation")
    assert state["live_recommendation"]["rule_id"] == "3p3.P3"
    assert state["up_to_date"] is False  # nothing evaluated yet


def test_decisions_list_and_detail_with_snapshot_rule_and_output(ipd, awaiting):
    api = api_client_for(ipd.monitor_a)

    listed = api.get("/api/dosing/decisions/", {"trial": "IPD"}).json()["results"]
    detail = api.get(f"/api/dosing/decisions/{awaiting.pk}/").json()

    assert [d["rule_id"] for d in listed] == ["3p3.R2"]
    assert detail["rule_text"] == "3p3.R2: 3 evaluable, 1 DLT -> expand to 6"
    assert detail["input_snapshot"]["state"]["current_level"] == 1
    assert detail["output"]["action"] == "EXPAND"
    assert detail["status"] == "awaiting_signature"


def test_a_coordinator_gets_403_on_the_escalation(ipd, awaiting):
    response = api_client_for(ipd.coordinator_a).get(f"/api/dosing/decisions/{awaiting.pk}/")

    assert response.status_code == 403


def test_a_member_of_another_trial_gets_404(ipd, awaiting):
    outsider = UserFactory(email="out@example.org")
    MembershipFactory(user=outsider, trial=TrialFactory(code="OTHER"), role=Role.INVESTIGATOR)
    api = api_client_for(outsider)

    detail = api.get(f"/api/dosing/decisions/{awaiting.pk}/")
    listed = api.get("/api/dosing/decisions/", {"trial": "IPD"})

    assert (detail.status_code, listed.status_code) == (404, 404)


def test_an_investigator_signs_through_the_api(ipd, awaiting, password):
    device = confirmed_device(ipd.investigator)
    api = api_client_for(ipd.investigator)
    url = f"/api/dosing/decisions/{awaiting.pk}/sign/"

    no_code = api.post(url, {"meaning": MEANING, "password": password}, format="json")
    wrong = api.post(
        url,
        {"meaning": MEANING, "password": "wrong", "otp_token": totp_code(device)},
        format="json",
    )
    signed = api.post(
        url,
        {"meaning": MEANING, "password": password, "otp_token": totp_code(device, steps_ahead=1)},
        format="json",
    )

    assert no_code.status_code == 400 and "otp_token" in no_code.json()
    assert wrong.status_code == 400 and "password" in wrong.json()
    assert signed.status_code == 201
    assert signed.json()["decision"]["status"] == "signed"
    assert signed.json()["signature"]["method"] == "password+otp"
    assert TrialEscalation.objects.get(trial=ipd.trial).cohort_target == 6


def test_signing_needs_a_meaning_and_a_password(ipd, awaiting):
    confirmed_device(ipd.investigator)

    response = api_client_for(ipd.investigator).post(
        f"/api/dosing/decisions/{awaiting.pk}/sign/", {}, format="json"
    )

    assert response.status_code == 400
    assert set(response.json()) == {"meaning", "password"}


def test_a_statistician_cannot_sign(ipd, awaiting, password):
    response = api_client_for(ipd.statistician).post(
        f"/api/dosing/decisions/{awaiting.pk}/sign/",
        {"meaning": MEANING, "password": password},
        format="json",
    )

    assert response.status_code == 403


def test_a_voided_decision_answers_409(ipd, password):
    patients = cohort(ipd, ["DLT", "NO_DLT", "NO_DLT"])
    decision = evaluate(ipd.trial)
    sign(decision, ipd.investigator)
    set_dlt_state(patients[0], "NO_DLT")
    evaluate(ipd.trial)
    second = UserFactory(email="inv2@example.org")
    MembershipFactory(user=second, trial=ipd.trial, role=Role.INVESTIGATOR, all_sites=True)
    device = confirmed_device(second)

    response = api_client_for(second).post(
        f"/api/dosing/decisions/{decision.pk}/sign/",
        {"meaning": MEANING, "password": password, "otp_token": totp_code(device)},
        format="json",
    )

    assert response.status_code == 409
    assert "voided" in response.json()["detail"]


def test_an_override_through_the_api_needs_a_reason_and_a_valid_level(ipd, awaiting, password):
    device = confirmed_device(ipd.investigator)
    api = api_client_for(ipd.investigator)
    url = f"/api/dosing/decisions/{awaiting.pk}/override/"
    base = {"meaning": MEANING, "password": password}

    no_reason = api.post(
        url, {**base, "action": "ESCALATE", "otp_token": totp_code(device)}, format="json"
    )
    bad_level = api.post(
        url,
        {
            **base,
            "action": "ESCALATE",
            "level": 7,
            "reason": "PK supports it",
            "otp_token": totp_code(device, steps_ahead=1),
        },
        format="json",
    )
    overridden = api.post(
        url,
        {
            **base,
            "action": "DEESCALATE",
            "reason": "The DLT was a grade 4 febrile neutropenia: go back to DL-1",
            "otp_token": totp_code(device, steps_ahead=2),
        },
        format="json",
    )

    awaiting.refresh_from_db()
    esc = TrialEscalation.objects.get(trial=ipd.trial)
    assert no_reason.status_code == 400 and "reason" in no_reason.json()
    assert bad_level.status_code == 400 and "level" in bad_level.json()
    assert overridden.status_code == 201
    assert awaiting.status == DecisionStatus.OVERRIDDEN
    assert (esc.open_level_number, esc.cohort_target) == (-1, 3)


def test_the_decision_table_and_what_if(ipd):
    cohort(ipd, ["NO_DLT", "NO_DLT", "PENDING"])
    api = api_client_for(ipd.statistician)

    table = api.get("/api/dosing/decision-table/", {"trial": "IPD"}).json()
    what_if = api.get("/api/dosing/what-if/", {"trial": "IPD", "depth": 2}).json()
    bad_depth = api.get("/api/dosing/what-if/", {"trial": "IPD", "depth": "x"})

    assert {"3p3.R1", "3p3.R2", "3p3.X2"} <= {r["rule_id"] for r in table["rows"]}
    assert [(o["cohort"], o["action"]) for o in what_if["outcomes"]] == [
        ("1N", "ESCALATE"),
        ("1T", "EXPAND"),
    ]
    assert len(what_if["paths"]["children"]) == 2
    assert bad_depth.status_code == 400


def test_exact_operating_characteristics_for_the_trials_settings_or_a_variant(ipd):
    api = api_client_for(ipd.statistician)
    settings = escalation_input(ipd.trial).settings

    response = api.get(
        "/api/dosing/operating-characteristics/",
        {"trial": "IPD", "rates": "0.3,0.4,0.5", "require_six_at_mtd": "false"},
    )
    bad = api.get("/api/dosing/operating-characteristics/", {"trial": "IPD", "rates": "0.3,2,0.5"})

    expected = exact_operating_characteristics(
        [0.3, 0.4, 0.5], replace(settings, require_six_at_mtd=False)
    )
    assert response.status_code == 200
    assert response.json() == json.loads(json.dumps(expected.to_dict()))
    assert bad.status_code == 400 and "rates" in bad.json()


def test_a_simulation_job_is_started_and_followed(ipd, django_capture_on_commit_callbacks):
    api = api_client_for(ipd.statistician)

    started = api.post(
        "/api/dosing/operating-characteristics/simulations/",
        {"trial": "IPD", "true_dlt_rates": [0.05, 0.1, 0.2], "n_sims": 200, "seed": 3},
        format="json",
    )
    job = OcSimulationJob.objects.get()
    followed = api.get(f"/api/dosing/operating-characteristics/simulations/{job.pk}/")
    wrong_count = api.post(
        "/api/dosing/operating-characteristics/simulations/",
        {"trial": "IPD", "true_dlt_rates": [0.05], "n_sims": 200},
        format="json",
    )

    assert started.status_code == 201
    assert followed.json()["status"] == "queued"
    assert wrong_count.status_code == 400
    assert "true_dlt_rates" in wrong_count.json()


def test_the_decision_list_query_count_is_constant(
    ipd, django_assert_num_queries, django_assert_max_num_queries
):
    api = api_client_for(ipd.investigator)
    patients = cohort(ipd, ["PENDING", "PENDING", "PENDING"])
    evaluate(ipd.trial)
    with django_assert_max_num_queries(30) as few:
        api.get("/api/dosing/decisions/", {"trial": "IPD"})
    queries_with_one = len(few.captured_queries)
    for patient, status in zip(patients, ["NO_DLT", "DLT", "NO_DLT"], strict=True):
        set_dlt_state(patient, status)
        evaluate(ipd.trial)

    with django_assert_num_queries(queries_with_one):
        response = api.get("/api/dosing/decisions/", {"trial": "IPD"})

    assert response.json()["count"] == 4


def test_the_slot_list_query_count_is_constant(
    ipd, django_assert_num_queries, django_assert_max_num_queries
):
    api = api_client_for(ipd.investigator)
    cohort(ipd, ["PENDING"])
    with django_assert_max_num_queries(30) as few:
        api.get("/api/dosing/slots/", {"trial": "IPD"})
    queries_with_one = len(few.captured_queries)
    cohort(ipd, ["PENDING", "PENDING"])

    with django_assert_num_queries(queries_with_one):
        response = api.get("/api/dosing/slots/", {"trial": "IPD"})

    assert response.json()["count"] == 3
