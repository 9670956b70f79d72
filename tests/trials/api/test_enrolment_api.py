"""The coordinator's journey through the API: screen, eligibility, consent, enrol, visits, labs."""

import pytest

from tests.conftest import api_client_for
from tests.factories import days_ago, enrolled_patient
from trials import selectors
from trials.models import Patient, Visit

pytestmark = pytest.mark.django_db


def d(n: int) -> str:
    return days_ago(n).isoformat()


def test_the_whole_journey_through_the_api(ipd):
    t = ipd
    api = api_client_for(t.coordinator_a)

    # screen
    created = api.post(
        "/api/patients/",
        {"trial": "IPD", "site": "ALPHA", "given_name": "Mo", "family_name": "Ray", "sex": "M"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    pid = created.json()["id"]
    assert created.json()["screening_number"] == "002"
    # eligibility
    codes = [c.code for c in selectors.eligibility_criteria(t.trial)]
    answers = {c: c.startswith("IN") for c in codes}
    eligibility = api.post(f"/api/patients/{pid}/eligibility/", {"answers": answers}, format="json")
    assert eligibility.status_code == 200
    assert eligibility.json()["status"] == "eligible"
    # consent
    consent = api.post(
        f"/api/patients/{pid}/consents/", {"version": "1.0", "consent_date": d(25)}, format="json"
    )
    assert consent.status_code == 201
    # enrol
    enrolled = api.post(
        f"/api/patients/{pid}/enrol/",
        {"enrolment_date": d(22), "planned_start_date": d(21), "dose_level": 1},
        format="json",
    )
    assert enrolled.status_code == 200, enrolled.json()
    assert enrolled.json()["study_id"] == "IPD-01-001"
    assert enrolled.json()["dose_level"] == 1
    # the screening visit (baseline labs), then cycle 1 day 1 with doses and labs
    visits = api.get(f"/api/patients/{pid}/visits/").json()
    scr = next(v for v in visits if v["code"] == "SCR")
    assert (
        api.patch(
            f"/api/visits/{scr['id']}/",
            {"visit_date": d(24), "version": scr["version"]},
            format="json",
        ).status_code
        == 200
    )
    baseline = api.post(
        f"/api/visits/{scr['id']}/labs/",
        {"analyte": "SPEP_M", "value": "32", "unit": "g/L"},
        format="json",
    )
    assert baseline.json()["value"] == "3.2000"
    c1d1 = next(v for v in visits if v["code"] == "C1D1")
    assert c1d1["timing"] == "overdue"  # planned 21 days ago, not recorded yet
    recorded = api.patch(
        f"/api/visits/{c1d1['id']}/",
        {
            "visit_date": d(21),
            "version": c1d1["version"],
            "weight_kg": "72.5",
            "doses": [
                {"agent": "IXA", "status": "given", "dose_mg": "3"},
                {"agent": "POM", "status": "given", "dose_mg": "4"},
                {
                    "agent": "DEX",
                    "status": "reduced",
                    "dose_mg": "20",
                    "reason": "steroid intolerance",
                },
            ],
        },
        format="json",
    )
    assert recorded.status_code == 200, recorded.json()
    assert recorded.json()["status"] == "done"
    assert len(recorded.json()["doses"]) == 3
    lab = api.post(
        f"/api/visits/{c1d1['id']}/labs/",
        {"analyte": "PLT", "value": "182000", "unit": "/mm3"},
        format="json",
    )
    assert lab.status_code == 201, lab.json()
    assert lab.json()["value"] == "182.0000"
    assert lab.json()["unit"] == "10^9/L"
    # the patient is on treatment and the list shows the next visit
    listed = api.get("/api/patients/", {"trial": "IPD"}).json()["results"]
    row = next(p for p in listed if p["id"] == pid)
    assert row["status"] == "on_treatment"
    assert row["next_visit"]["code"] == "C1D22"  # planned today
    assert row["overdue_visits"] == 2  # C1D8 (14 days ago) and C1D15 (7 days ago)


def test_bad_input_gets_400_with_field_messages_never_500(ipd):
    t = ipd
    api = api_client_for(t.coordinator_a)
    patient = enrolled_patient(t.trial, t.site_a, t.coordinator_a, planned_start_date=days_ago(20))
    c1d1 = Visit.objects.get(patient=patient, code="C1D1")

    duplicate = api.post(
        "/api/patients/",
        {"trial": "IPD", "site": "ALPHA", "screening_number": "001"},
        format="json",
    )
    future = api.patch(
        f"/api/visits/{c1d1.pk}/", {"visit_date": d(-3), "version": 1}, format="json"
    )
    too_much = api.patch(
        f"/api/visits/{c1d1.pk}/",
        {
            "visit_date": d(20),
            "version": 1,
            "doses": [{"agent": "IXA", "status": "given", "dose_mg": "4"}],
        },
        format="json",
    )
    unknown_agent = api.patch(
        f"/api/visits/{c1d1.pk}/",
        {
            "visit_date": d(20),
            "version": 1,
            "doses": [{"agent": "ZZZ", "status": "given", "dose_mg": "4"}],
        },
        format="json",
    )
    api.patch(f"/api/visits/{c1d1.pk}/", {"visit_date": d(20), "version": 1}, format="json")
    bad_unit = api.post(
        f"/api/visits/{c1d1.pk}/labs/",
        {"analyte": "ANC", "value": "2", "unit": "mg"},
        format="json",
    )
    negative = api.post(
        f"/api/visits/{c1d1.pk}/labs/",
        {"analyte": "ANC", "value": "-2", "unit": "10^9/L"},
        format="json",
    )
    not_json_date = api.post(
        f"/api/patients/{patient.pk}/consents/",
        {"version": "2", "consent_date": "yesterday"},
        format="json",
    )
    bad_transition = api.post(
        f"/api/patients/{patient.pk}/transition/",
        {"to_status": "follow_up", "effective_date": d(1)},
        format="json",
    )

    assert (
        duplicate.status_code == 400 and "already used" in duplicate.json()["screening_number"][0]
    )
    assert future.status_code == 400 and "future" in future.json()["visit_date"][0]
    assert too_much.status_code == 400 and "above" in too_much.json()["doses.IXA.dose"][0]
    assert unknown_agent.status_code == 400 and "doses.ZZZ.agent" in unknown_agent.json()
    assert bad_unit.status_code == 400 and "Accepted:" in bad_unit.json()["unit"][0]
    assert negative.status_code == 400 and "negative" in negative.json()["value"][0]
    assert not_json_date.status_code == 400 and "consent_date" in not_json_date.json()
    assert bad_transition.status_code == 400 and "to_status" in bad_transition.json()


def test_a_stale_visit_edit_is_a_409_and_changes_nothing(ipd):
    t = ipd
    patient = enrolled_patient(t.trial, t.site_a, t.coordinator_a, planned_start_date=days_ago(20))
    c1d1 = Visit.objects.get(patient=patient, code="C1D1")
    first = api_client_for(t.coordinator_a)
    second = api_client_for(t.trial_admin)
    first.patch(f"/api/visits/{c1d1.pk}/", {"visit_date": d(20), "version": 1}, format="json")

    clash = second.patch(
        f"/api/visits/{c1d1.pk}/", {"visit_date": d(19), "version": 1}, format="json"
    )

    assert clash.status_code == 409
    assert clash.json()["current_version"] == 2
    c1d1.refresh_from_db()
    assert c1d1.visit_date == days_ago(20)


def test_lab_correction_needs_reason_and_version(ipd):
    t = ipd
    api = api_client_for(t.coordinator_a)
    patient = enrolled_patient(t.trial, t.site_a, t.coordinator_a, planned_start_date=days_ago(20))
    c1d1 = Visit.objects.get(patient=patient, code="C1D1")
    api.patch(f"/api/visits/{c1d1.pk}/", {"visit_date": d(20), "version": 1}, format="json")
    lab = api.post(
        f"/api/visits/{c1d1.pk}/labs/",
        {"analyte": "HGB", "value": "95", "unit": "g/L"},
        format="json",
    ).json()

    no_reason = api.patch(
        f"/api/labs/{lab['id']}/", {"value": "9.6", "unit": "g/dL", "version": 1}, format="json"
    )
    ok = api.patch(
        f"/api/labs/{lab['id']}/",
        {"value": "9.6", "unit": "g/dL", "version": 1, "reason": "re-read report"},
        format="json",
    )
    stale = api.patch(
        f"/api/labs/{lab['id']}/",
        {"value": "9.7", "unit": "g/dL", "version": 1, "reason": "again"},
        format="json",
    )
    history = api.get(f"/api/history/lab/{lab['id']}/").json()

    assert no_reason.status_code == 400 and "reason" in no_reason.json()
    assert ok.status_code == 200 and ok.json()["value"] == "9.6000"
    assert stale.status_code == 409
    assert history[-1]["reason"] == "re-read report"


def test_trial_detail_has_design_agents_and_dose_levels(ipd):
    body = api_client_for(ipd.statistician).get("/api/trials/IPD/").json()

    assert body["design"]["dlt_window_days"] == 21
    assert body["design"]["simon"]["assumed"] is True
    assert [a["code"] for a in body["agents"]] == ["IXA", "POM", "DEX"]
    assert [lv["number"] for lv in body["dose_levels"]] == [-1, 1, 2]
    assert body["dose_levels"][2]["doses"][0] == {
        "agent": "IXA",
        "dose": "4.00",
        "unit": "mg",
        "schedule": "",
    }
    assert [c["code"] for c in body["criteria"]][:2] == ["IN1", "IN2"]
    assert body["protocol_versions"][0]["number"] == 1


def test_trial_admin_amends_and_transitions_others_cannot(ipd):
    t = ipd
    body = {
        "changes": {"dlt_window_days": 28},
        "reason": "Amendment 2",
        "effective_date": "2024-09-01",
    }

    refused = api_client_for(t.coordinator_a).post(
        "/api/trials/IPD/amendments/", body, format="json"
    )
    amended = api_client_for(t.trial_admin).post("/api/trials/IPD/amendments/", body, format="json")
    bad = api_client_for(t.trial_admin).post(
        "/api/trials/IPD/amendments/", {**body, "changes": {"dlt_window_days": -1}}, format="json"
    )
    illegal = api_client_for(t.trial_admin).post(
        "/api/trials/IPD/transition/", {"to_status": "draft", "reason": "oops"}, format="json"
    )
    moved = api_client_for(t.trial_admin).post(
        "/api/trials/IPD/transition/", {"to_status": "phase_ii", "reason": "RP2D"}, format="json"
    )

    assert refused.status_code == 403
    assert amended.status_code == 201 and amended.json()["changes"] == {"dlt_window_days": [21, 28]}
    assert bad.status_code == 400 and "design.dlt_window_days" in bad.json()
    assert illegal.status_code == 400 and "to_status" in illegal.json()
    assert moved.status_code == 200 and moved.json()["status"] == "phase_ii"


def test_read_only_roles_get_403_and_other_sites_404(ipd):
    t = ipd
    patient = enrolled_patient(t.trial, t.site_a, t.coordinator_a, planned_start_date=days_ago(20))
    c1d1 = Visit.objects.get(patient=patient, code="C1D1")
    body = {"visit_date": d(20), "version": 1}

    monitor = api_client_for(t.monitor_a).patch(f"/api/visits/{c1d1.pk}/", body, format="json")
    statistician = api_client_for(t.statistician).patch(
        f"/api/visits/{c1d1.pk}/", body, format="json"
    )
    investigator_read = api_client_for(t.investigator).get(f"/api/visits/{c1d1.pk}/")
    other_site = api_client_for(t.coordinator_b).patch(
        f"/api/visits/{c1d1.pk}/", body, format="json"
    )
    other_site_read = api_client_for(t.coordinator_b).get(f"/api/patients/{patient.pk}/visits/")
    screen_elsewhere = api_client_for(t.coordinator_b).post(
        "/api/patients/", {"trial": "IPD", "site": "ALPHA"}, format="json"
    )
    monitor_screen = api_client_for(t.monitor_a).post(
        "/api/patients/", {"trial": "IPD", "site": "ALPHA"}, format="json"
    )

    assert monitor.status_code == 403
    assert statistician.status_code == 403
    assert investigator_read.status_code == 200
    assert other_site.status_code == 404
    assert other_site_read.status_code == 404
    assert screen_elsewhere.status_code == 403
    assert monitor_screen.status_code == 403
    assert Patient.objects.filter(trial=t.trial).count() == 3


def test_off_treatment_and_last_contact_through_the_api(ipd):
    t = ipd
    api = api_client_for(t.coordinator_a)
    patient = enrolled_patient(t.trial, t.site_a, t.coordinator_a, planned_start_date=days_ago(20))
    c1d1 = Visit.objects.get(patient=patient, code="C1D1")
    api.patch(
        f"/api/visits/{c1d1.pk}/",
        {
            "visit_date": d(20),
            "version": 1,
            "doses": [{"agent": "IXA", "status": "given", "dose_mg": "3"}],
        },
        format="json",
    )

    off = api.post(
        f"/api/patients/{patient.pk}/transition/",
        {
            "to_status": "off_treatment",
            "effective_date": d(5),
            "reason_code": "adverse_event",
            "reason": "grade 4 neutropenia",
        },
        format="json",
    )
    contact = api.post(
        f"/api/patients/{patient.pk}/last-contact/",
        {"contact_date": d(1), "vital_status": "alive"},
        format="json",
    )
    history = api.get(f"/api/patients/{patient.pk}/status-history/").json()

    assert off.status_code == 200 and off.json()["status"] == "off_treatment"
    assert contact.status_code == 201
    assert [h["to_status"] for h in history] == ["enrolled", "on_treatment", "off_treatment"]
    assert history[-1]["reason"] == "grade 4 neutropenia"
