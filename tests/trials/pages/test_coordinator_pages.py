"""The coordinator's pages: wizard, my patients, patient page, visit form, status, trial admin."""

import pytest
from django.urls import reverse

from tests.conftest import client_for
from tests.factories import days_ago, enrolled_patient, screen_patient
from trials import selectors, services
from trials.models import LabResult, Patient, ProtocolVersion, Visit

pytestmark = pytest.mark.django_db


def test_the_wizard_screens_checks_consents_and_enrols(ipd):
    t = ipd
    client = client_for(t.coordinator_a)

    screened = client.post(
        reverse("patient_screen", args=["IPD"]),
        {
            "site": t.site_a.pk,
            "given_name": "Ann",
            "family_name": "Bee",
            "sex": "F",
            "height_cm": "165",
            "weight_kg": "60",
        },
    )
    patient = Patient.objects.get(given_name="Ann")
    assert screened.url == reverse("patient_eligibility", args=[patient.pk])
    answers = {
        f"c_{c.code}": "yes" if c.kind == "inclusion" else "no"
        for c in selectors.eligibility_criteria(t.trial)
    }
    eligible = client.post(reverse("patient_eligibility", args=[patient.pk]), answers)
    assert eligible.url == reverse("patient_consent", args=[patient.pk])
    consented = client.post(
        reverse("patient_consent", args=[patient.pk]),
        {"version": "1.0", "consent_date": days_ago(3).isoformat()},
    )
    assert consented.url == reverse("patient_enrol", args=[patient.pk])
    enrolled = client.post(
        reverse("patient_enrol", args=[patient.pk]),
        {
            "enrolment_date": days_ago(2).isoformat(),
            "planned_start_date": days_ago(1).isoformat(),
            "dose_level": "1",
            "height_cm": "165",
            "weight_kg": "60",
        },
    )

    patient.refresh_from_db()
    assert enrolled.url == reverse("patient_detail", args=[patient.pk])
    assert patient.study_id == "IPD-01-001"
    page = client.get(enrolled.url).content.decode()
    assert "Enrolled as IPD-01-001 at DL1" in page
    assert "Cycle 1 day 1" in page


def test_wizard_errors_keep_the_input(ipd):
    t = ipd
    client = client_for(t.coordinator_a)

    duplicate = client.post(
        reverse("patient_screen", args=["IPD"]),
        {"site": t.site_a.pk, "screening_number": "001", "given_name": "Keep Me"},
    )
    patient = screen_patient(t.trial, t.site_a, t.coordinator_a)
    future = client.post(
        reverse("patient_consent", args=[patient.pk]),
        {"version": "1.0", "consent_date": days_ago(-5).isoformat()},
    )

    assert duplicate.status_code == 200
    assert "already used" in duplicate.context["form"].errors["screening_number"][0]
    assert 'value="Keep Me"' in duplicate.content.decode()
    assert "future" in future.context["form"].errors["consent_date"][0]


def test_an_ineligible_answer_makes_a_screen_failure(ipd):
    t = ipd
    client = client_for(t.coordinator_a)
    patient = screen_patient(t.trial, t.site_a, t.coordinator_a)
    answers = {
        f"c_{c.code}": "yes" if c.kind == "inclusion" else "no"
        for c in selectors.eligibility_criteria(t.trial)
    }
    answers["c_IN3"] = "no"

    response = client.post(reverse("patient_eligibility", args=[patient.pk]), answers, follow=True)

    patient.refresh_from_db()
    assert patient.status == "screen_failed"
    assert "screen failure: IN3" in response.content.decode()


def test_my_patients_puts_overdue_first(ipd):
    t = ipd
    on_time = enrolled_patient(
        t.trial,
        t.site_a,
        t.coordinator_a,
        enrolment_date=days_ago(1),
        consent_date=days_ago(2),
        planned_start_date=days_ago(0),
    )
    late = enrolled_patient(t.trial, t.site_a, t.coordinator_a, planned_start_date=days_ago(20))

    response = client_for(t.coordinator_a).get(reverse("patient_list"))

    ids = [p.pk for p in response.context["patients"]]
    assert ids.index(late.pk) < ids.index(on_time.pk)
    row = next(p for p in response.context["patients"] if p.pk == late.pk)
    assert row.overdue_count >= 3
    assert "overdue" in response.content.decode()


def test_patient_page_shows_timeline_missing_items_and_hooks(ipd):
    t = ipd
    patient = enrolled_patient(t.trial, t.site_a, t.coordinator_a, planned_start_date=days_ago(20))
    c1d1 = Visit.objects.get(patient=patient, code="C1D1")
    services.visit_complete(
        visit=c1d1,
        visit_date=days_ago(20),
        acting_user=t.coordinator_a,
        expected_version=1,
        doses=[services.DoseInput("IXA", "given", 3)],
        labs=[services.LabInput("ANC", "2.0", "10^9/L")],
    )
    from trials import timeline

    timeline.register(
        "adverse_events",
        lambda p, today: [timeline.TimelineItem(on=days_ago(15), title="Neutropenia grade 3")],
    )
    try:
        body = (
            client_for(t.coordinator_a)
            .get(reverse("patient_detail", args=[patient.pk]))
            .content.decode()
        )
    finally:
        timeline._providers.pop("adverse_events")

    assert "What is missing" in body
    assert "no result for PLT, HGB, WBC, LYMPH, CREAT, CA" in body
    assert "no dose recorded for DEX, POM" in body
    assert "Cycle 1 day 8 is overdue" in body
    assert "IXA 3 mg" in body
    assert "Neutropenia grade 3" in body


def test_visit_form_records_doses_and_labs(ipd):
    t = ipd
    patient = enrolled_patient(t.trial, t.site_a, t.coordinator_a, planned_start_date=days_ago(20))
    c1d1 = Visit.objects.get(patient=patient, code="C1D1")
    client = client_for(t.coordinator_a)
    form = client.get(reverse("visit_record", args=[c1d1.pk]))
    assert 'accesskey="s"' in form.content.decode()
    assert form.context["form"].fields["visit_date"].widget.attrs.get("autofocus")

    saved = client.post(
        reverse("visit_record", args=[c1d1.pk]),
        {
            "visit_date": days_ago(20).isoformat(),
            "version": "1",
            "weight_kg": "70",
            "dose_IXA_status": "given",
            "dose_IXA_mg": "3",
            "dose_POM_mg": "4",  # status left empty: "given" is assumed for a dose typed in
            "dose_DEX_status": "held",
            "dose_DEX_reason": "hyperglycaemia",
            "lab_ANC_value": "1500",
            "lab_ANC_unit": "/mm3",
            "lab_PLT_value": "150",
            "lab_PLT_unit": "10^9/L",
            "lab_SIFE_value": "positive",
        },
    )

    assert saved.status_code == 302
    assert {r.analyte: str(r.value) for r in LabResult.objects.filter(visit=c1d1)} == {
        "ANC": "1.5000",
        "PLT": "150.0000",
        "SIFE": "None",
    }
    patient.refresh_from_db()
    assert patient.status == "on_treatment"


def test_visit_form_errors_are_summarised_and_nothing_is_lost(ipd):
    t = ipd
    patient = enrolled_patient(t.trial, t.site_a, t.coordinator_a, planned_start_date=days_ago(20))
    c1d1 = Visit.objects.get(patient=patient, code="C1D1")

    response = client_for(t.coordinator_a).post(
        reverse("visit_record", args=[c1d1.pk]),
        {
            "visit_date": days_ago(40).isoformat(),
            "version": "1",
            "dose_IXA_status": "given",
            "dose_IXA_mg": "4",
            "lab_ANC_value": "-3",
            "lab_ANC_unit": "10^9/L",
        },
    )

    body = response.content.decode()
    form = response.context["form"]
    assert response.status_code == 200
    assert "before the patient's consent" in form.errors["visit_date"][0]
    assert "above what the patient's dose level allows" in form.errors["dose_IXA_mg"][0]
    assert "cannot be negative" in form.errors["lab_ANC_value"][0]
    assert "Nothing was saved: please fix 4 problems" in body  # the date breaks two rules
    assert 'href="#id_dose_IXA_mg"' in body
    assert 'value="-3"' in body  # what was typed is still there
    assert form.fields["visit_date"].widget.attrs.get("autofocus")
    c1d1.refresh_from_db()
    assert c1d1.status == "planned"


def test_a_second_save_of_the_same_visit_shows_a_conflict(ipd):
    t = ipd
    patient = enrolled_patient(t.trial, t.site_a, t.coordinator_a, planned_start_date=days_ago(20))
    c1d1 = Visit.objects.get(patient=patient, code="C1D1")
    body = {"visit_date": days_ago(20).isoformat(), "version": "1", "weight_kg": "70"}
    client_for(t.coordinator_a).post(reverse("visit_record", args=[c1d1.pk]), body)

    second = client_for(t.trial_admin).post(
        reverse("visit_record", args=[c1d1.pk]), {**body, "weight_kg": "90", "reason": "scale"}
    )

    assert second.status_code == 200
    assert "changed by someone else" in second.content.decode()
    c1d1.refresh_from_db()
    assert str(c1d1.weight_kg) == "70.0"


def test_missed_visit_from_the_form(ipd):
    t = ipd
    patient = enrolled_patient(t.trial, t.site_a, t.coordinator_a, planned_start_date=days_ago(20))
    c1d8 = Visit.objects.get(patient=patient, code="C1D8")

    client_for(t.coordinator_a).post(
        reverse("visit_record", args=[c1d8.pk]),
        {"mark_missed": "1", "version": "1", "missed_reason": "admitted to hospital"},
    )

    c1d8.refresh_from_db()
    assert (c1d8.status, c1d8.missed_reason) == ("missed", "admitted to hospital")


def test_read_only_roles_see_but_cannot_record(ipd):
    t = ipd
    patient = enrolled_patient(t.trial, t.site_a, t.coordinator_a, planned_start_date=days_ago(20))
    c1d1 = Visit.objects.get(patient=patient, code="C1D1")
    monitor = client_for(t.monitor_a)

    view = monitor.get(reverse("visit_record", args=[c1d1.pk]))
    post = monitor.post(
        reverse("visit_record", args=[c1d1.pk]),
        {"visit_date": days_ago(20).isoformat(), "version": "1"},
    )
    wizard = monitor.get(reverse("patient_screen", args=["IPD"]))
    other = client_for(t.coordinator_b).get(reverse("visit_record", args=[c1d1.pk]))

    assert view.status_code == 200 and "Save visit" not in view.content.decode()
    assert post.status_code == 403
    assert wizard.status_code == 403
    assert other.status_code == 404


def test_status_page_refuses_an_illegal_step_with_a_form_error(ipd):
    t = ipd
    patient = enrolled_patient(t.trial, t.site_a, t.coordinator_a)
    client = client_for(t.coordinator_a)

    response = client.post(
        reverse("patient_status", args=[patient.pk]),
        {
            "to_status": "off_study",
            "effective_date": days_ago(1).isoformat(),
            "reason_code": "progression",
        },
    )
    ok = client.post(
        reverse("patient_status", args=[patient.pk]),
        {
            "to_status": "off_study",
            "effective_date": days_ago(1).isoformat(),
            "reason_code": "consent_withdrawn",
            "reason": "moved abroad",
        },
    )

    assert "not a reason for this step" in response.context["form"].errors["reason_code"][0]
    assert ok.status_code == 302
    patient.refresh_from_db()
    assert patient.status == "off_study"


def test_trial_admin_amends_the_design_and_changes_status_in_the_app(ipd):
    t = ipd
    client = client_for(t.trial_admin)
    page = client.get(reverse("trial_detail", args=["IPD"])).content.decode()
    assert "Assumed design" in page
    initial = client.get(reverse("trial_design_amend", args=["IPD"])).context["form"].initial

    amended = client.post(
        reverse("trial_design_amend", args=["IPD"]),
        {
            **initial,
            "dlt_window_days": "28",
            "effective_date": "2024-06-01",
            "reason": "Amendment 1",
            "other_changes": '{"escalation": {"allow_deescalate": true}}',
        },
    )
    bad = client.post(
        reverse("trial_design_amend", args=["IPD"]),
        {
            **initial,
            "cycle_1_visit_days": "1, 40",
            "effective_date": "2024-07-01",
            "reason": "bad days",
        },
    )
    moved = client.post(
        reverse("trial_detail", args=["IPD"]), {"to_status": "phase_ii", "reason": "RP2D declared"}
    )

    assert amended.status_code == 302
    assert selectors.trial_design(t.trial).dlt_window_days == 28
    assert selectors.trial_design(t.trial).escalation.allow_deescalate is True
    assert "past the end" in bad.context["form"].errors["visit_days"][0]
    assert moved.status_code == 302
    assert ProtocolVersion.objects.filter(trial=t.trial).count() == 2
    coordinator = client_for(t.coordinator_a)
    assert coordinator.get(reverse("trial_design_amend", args=["IPD"])).status_code == 403


def test_admin_pages_for_trial_set_up(ipd, admin_client):
    t = ipd

    trial_page = admin_client.get(f"/admin/trials/trial/{t.trial.pk}/change/")
    add = admin_client.post(
        "/admin/trials/protocolversion/add/",
        {
            "trial": t.trial.pk,
            "label": "Amendment 1",
            "effective_date": "2024-05-01",
            "reason": "longer window",
            "amendment": '{"dlt_window_days": 35}',
        },
    )
    refused = admin_client.post(
        "/admin/trials/protocolversion/add/",
        {
            "trial": t.trial.pk,
            "label": "x",
            "effective_date": "2024-05-02",
            "reason": "typo",
            "amendment": '{"dlt_windw": 35}',
        },
    )

    assert trial_page.status_code == 200
    assert add.status_code == 302
    assert selectors.trial_design(t.trial).dlt_window_days == 35
    assert refused.status_code == 200 and "unknown setting" in refused.content.decode()
    assert admin_client.get("/admin/trials/visit/").status_code == 200
