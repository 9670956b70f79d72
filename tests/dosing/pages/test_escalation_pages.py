"""The dose-escalation pages: scoped by membership (another trial → 404, a coordinator → 403),
the grid with its recommendation and sign form, signing through the page (password and the
authenticator code), the decision table, the dose paths and the operating characteristics."""

import pytest
from django.urls import reverse

from dosing.models import DecisionStatus, OcSimulationJob, TrialEscalation
from tests.conftest import client_for
from tests.dosing.factories import cohort, enrol, evaluate, reach_rp2d, set_dlt_state
from tests.factories import (
    MembershipFactory,
    TrialFactory,
    UserFactory,
    answer_all_eligible,
    days_ago,
    screen_patient,
)
from tests.security.helpers import confirmed_device, totp_code
from trials import services as trial_services
from trials.models import Role

pytestmark = pytest.mark.django_db


def _verified_client(user, client):
    """A browser session that passed the second sign-in step."""
    device = confirmed_device(user)
    client.force_login(user)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return device


def test_the_grid_shows_levels_patients_and_the_recommendation(ipd):
    patients = cohort(ipd, ["DLT", "NO_DLT", "PENDING"])
    evaluate(ipd.trial)

    response = client_for(ipd.statistician).get(reverse("dosing_escalation", args=["IPD"]))

    html = response.content.decode()
    assert response.status_code == 200
    assert "3p3.P3: cohort full, DLT evaluation pending -&gt; wait" in html
    assert all(p.study_id in html for p in patients)
    assert "day 10 of 21" in html
    assert "Sign decision" not in html  # statisticians read; investigators sign


@pytest.mark.parametrize(
    ("who", "status"), [("coordinator_a", 403), ("investigator", 200), ("monitor_a", 200)]
)
def test_the_grid_is_for_the_trials_reviewers(ipd, who, status):
    response = client_for(getattr(ipd, who)).get(reverse("dosing_escalation", args=["IPD"]))

    assert response.status_code == status


def test_a_member_of_another_trial_gets_404(ipd):
    outsider = UserFactory(email="other@example.org")
    MembershipFactory(user=outsider, trial=TrialFactory(code="OTHER"), role=Role.INVESTIGATOR)

    response = client_for(outsider).get(reverse("dosing_escalation", args=["IPD"]))

    assert response.status_code == 404


def test_an_investigator_signs_on_the_grid_with_password_and_code(ipd, client, password):
    cohort(ipd, ["DLT", "NO_DLT", "NO_DLT"])
    decision = evaluate(ipd.trial)
    device = _verified_client(ipd.investigator, client)
    url = reverse("dosing_decision_sign", args=["IPD", decision.pk])

    wrong = client.post(
        url, {"meaning": "I approve it", "password": "nope", "otp_token": totp_code(device)}
    )
    signed = client.post(
        url,
        {
            "meaning": "I approve it",
            "password": password,
            "otp_token": totp_code(device, steps_ahead=1),
        },
    )

    decision.refresh_from_db()
    assert wrong.status_code == 400
    assert "The password is not correct" in wrong.content.decode()
    assert signed.status_code == 302
    assert decision.status == DecisionStatus.SIGNED
    assert decision.signatures.get().method == "password+otp"
    assert TrialEscalation.objects.get(trial=ipd.trial).cohort_target == 6


def test_signing_a_superseded_decision_is_a_409_with_the_reason(ipd, client, password):
    patients = cohort(ipd, ["NO_DLT", "NO_DLT", "PENDING"])
    old = evaluate(ipd.trial)
    set_dlt_state(patients[2], "NO_DLT")
    evaluate(ipd.trial)
    device = _verified_client(ipd.investigator, client)

    response = client.post(
        reverse("dosing_decision_sign", args=["IPD", old.pk]),
        {"meaning": "I approve it", "password": password, "otp_token": totp_code(device)},
    )

    assert response.status_code == 409
    assert "superseded" in response.content.decode()


def test_an_override_without_a_reason_keeps_the_form_with_a_message(ipd, client, password):
    cohort(ipd, ["NO_DLT", "NO_DLT", "NO_DLT"])
    decision = evaluate(ipd.trial)
    device = _verified_client(ipd.investigator, client)

    response = client.post(
        reverse("dosing_decision_override", args=["IPD", decision.pk]),
        {
            "action": "EXPAND",
            "reason": "",
            "meaning": "I decide otherwise",
            "password": password,
            "otp_token": totp_code(device),
        },
    )

    assert response.status_code == 400
    assert response.context["override_form"].errors["reason"]


def test_the_grid_query_count_does_not_grow_with_patients(
    ipd, django_assert_num_queries, django_assert_max_num_queries
):
    client = client_for(ipd.investigator)
    url = reverse("dosing_escalation", args=["IPD"])
    cohort(ipd, ["NO_DLT"])
    evaluate(ipd.trial)
    client.get(url)
    with django_assert_max_num_queries(60) as few:
        client.get(url)
    queries_with_one_patient = len(few.captured_queries)
    cohort(ipd, ["DLT", "PENDING"])
    evaluate(ipd.trial)
    client.get(url)

    with django_assert_num_queries(queries_with_one_patient):
        response = client.get(url)

    assert response.status_code == 200


def test_the_grid_query_count_does_not_grow_with_phase_ii_patients(
    ipd, django_assert_num_queries, django_assert_max_num_queries
):
    """Phase II patients at the RP2D are counted, not read: 5 or 50 of them, same queries, and
    the grid still shows the 12 phase I patients only."""
    phase_one = reach_rp2d(ipd)
    client = client_for(ipd.investigator)
    url = reverse("dosing_escalation", args=["IPD"])
    phase_two = [enrol(ipd, site=ipd.site_b if i % 2 else ipd.site_a) for i in range(5)]
    set_dlt_state(phase_two[0], "NO_DLT")
    client.get(url)
    with django_assert_max_num_queries(60) as few:
        client.get(url)
    queries_with_5 = len(few.captured_queries)
    phase_two += [enrol(ipd, site=ipd.site_b if i % 2 else ipd.site_a) for i in range(45)]
    for patient in phase_two[1:20]:
        set_dlt_state(patient, "NO_DLT")
    client.get(url)

    with django_assert_num_queries(queries_with_5):
        response = client.get(url)

    assert response.status_code == 200
    assert response.context["phase_ii_count"] == 50
    assert "50 phase II patients at the RP2D" in response.content.decode()
    shown = {gp.patient.patient_id for row in response.context["grid"] for gp in row.patients}
    assert shown == {p.pk for p in phase_one}


def test_the_decision_list_query_count_does_not_grow_with_decisions(
    ipd, django_assert_num_queries, django_assert_max_num_queries
):
    client = client_for(ipd.investigator)
    url = reverse("dosing_decisions", args=["IPD"])
    patients = cohort(ipd, ["PENDING", "PENDING", "PENDING"])
    evaluate(ipd.trial)
    with django_assert_max_num_queries(40) as few:
        client.get(url)
    queries_with_one_decision = len(few.captured_queries)
    for patient, status in zip(patients, ["NO_DLT", "NO_DLT", "DLT"], strict=True):
        set_dlt_state(patient, status)
        evaluate(ipd.trial)

    with django_assert_num_queries(queries_with_one_decision):
        response = client.get(url)

    assert len(response.context["page"].object_list) == 4


def test_the_decision_detail_shows_snapshot_rule_output_and_audit(ipd):
    cohort(ipd, ["DLT", "NO_DLT", "NO_DLT"])
    decision = evaluate(ipd.trial)

    response = client_for(ipd.investigator).get(
        reverse("dosing_decision", args=["IPD", decision.pk])
    )

    html = response.content.decode()
    assert "3p3.R2: 3 evaluable, 1 DLT -&gt; expand to 6" in html
    assert "1/3 DLT, 0 pending, 0 not evaluable" in html
    assert "dose escalation evaluated" in html  # the audit trail's reason


def test_the_printable_decision_table_lists_every_rule_row(ipd):
    response = client_for(ipd.statistician).get(reverse("dosing_decision_table", args=["IPD"]))

    html = response.content.decode()
    assert response.status_code == 200
    assert "escalation only (Storer)" in html
    assert "3p3.X2" in html  # >= 2 DLTs at DL1, level -1 untested: de-escalate
    assert "@media print" in html


def test_the_dose_path_view_answers_what_if(ipd):
    cohort(ipd, ["PENDING", "PENDING", "PENDING"])

    response = client_for(ipd.investigator).get(reverse("dosing_dose_paths", args=["IPD"]))

    outcomes = response.context["outcomes"]
    assert [(o.dlts, o.recommendation.rule_id) for o in outcomes] == [
        (0, "3p3.R1"),
        (1, "3p3.R2"),
        (2, "3p3.X2"),
        (3, "3p3.X2"),
    ]


def test_the_oc_page_computes_exactly_and_plots(ipd):
    client = client_for(ipd.statistician)
    params = {"rates": "0.05, 0.10, 0.20"}

    page = client.get(reverse("dosing_oc", args=["IPD"]), params)
    png = client.get(reverse("dosing_oc_plot", args=["IPD", "png"]), params)
    svg = client.get(reverse("dosing_oc_plot", args=["IPD", "svg"]), params)
    bad = client.get(reverse("dosing_oc_plot", args=["IPD", "png"]), {"rates": "0.1"})

    oc = page.context["oc"]
    assert round(oc.p_no_dose + sum(oc.p_select), 10) == 1
    assert png["Content-Type"] == "image/png" and png.content.startswith(b"\x89PNG")
    assert svg["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content
    assert bad.status_code == 400
    assert "Give 3 true DLT rates" in bad.content.decode()


def test_a_simulation_is_started_as_a_job_and_polled(ipd, django_capture_on_commit_callbacks):
    client = client_for(ipd.statistician)

    response = client.post(
        reverse("dosing_simulation_start", args=["IPD"]),
        {"rates": "0.05, 0.1, 0.2", "n_sims": 500, "seed": 7, "require_six_at_mtd": "on"},
    )
    job = OcSimulationJob.objects.get()
    status = client.get(reverse("dosing_simulation_status", args=["IPD", job.pk]))

    assert response.status_code == 302
    assert (job.n_sims, job.seed, job.true_dlt_rates) == (500, 7, [0.05, 0.1, 0.2])
    assert status.json() == {
        "id": job.pk,
        "status": "queued",
        "progress": 0,
        "finished": False,
        "error": "",
        "result": None,
    }


def test_a_monitor_cannot_start_a_simulation(ipd):
    response = client_for(ipd.monitor_a).post(
        reverse("dosing_simulation_start", args=["IPD"]), {"rates": "0.1,0.2,0.3", "n_sims": 500}
    )

    assert response.status_code == 403


def test_the_enrolment_page_says_which_level_is_open_or_why_the_patient_waits(ipd):
    cohort(ipd, ["PENDING", "PENDING", "PENDING"])
    patient = screen_patient(ipd.trial, ipd.site_a, ipd.coordinator_a)
    answer_all_eligible(patient, ipd.coordinator_a)
    trial_services.consent_record(
        patient=patient, version="1", consent_date=days_ago(2), acting_user=ipd.coordinator_a
    )

    response = client_for(ipd.coordinator_a).get(reverse("patient_enrol", args=[patient.pk]))

    help_text = response.context["form"].fields["dose_level"].help_text
    assert help_text.startswith("Dose escalation assigns the open level: Cohort full, awaiting")
