"""The safety pages: AE entry with the CTCAE picker, grade changes and attribution, lab
suggestions, the DLT queue and adjudication with an e-signature, SAE clocks and signing, the
tables; site isolation (404), roles (403) and constant query counts on list pages."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from safety import services
from safety.models import AdverseEvent, LabGradeSuggestion, PotentialDlt, SaeReport
from tests.conftest import client_for
from tests.factories import days_ago
from tests.safety.factories import dosed_patient, neutropenia
from tests.security.helpers import totp_code
from tests.security.test_two_factor import verified_client
from trials import services as trial_services
from trials.models import Visit

pytestmark = pytest.mark.django_db


def new_ae_form(patient, **fields):
    return {
        "term": "Neutrophil count decreased",
        "onset_date": days_ago(12).isoformat(),
        "grade": "4",
        "outcome": "not_recovered",
        "expectedness": "expected",
        "attribution_IXA": "possible",
        "action_IXA": "held",
        "action_POM": "none",
        "action_DEX": "none",
        **fields,
    }


def test_the_entry_page_has_the_term_picker(ipd, in_window):
    response = client_for(ipd.coordinator_a).get(
        f"/safety/patients/{in_window.pk}/adverse-events/new/"
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "data-ctcae-picker" in html
    assert "/api/safety/ctcae-terms/?trial=IPD" in html
    assert "js/ctcae-picker.js" in html


def test_a_coordinator_records_a_grade_4_neutropenia_and_sees_it_flagged(ipd, in_window):
    client = client_for(ipd.coordinator_a)

    response = client.post(
        f"/safety/patients/{in_window.pk}/adverse-events/new/", new_ae_form(in_window), follow=True
    )

    ae = AdverseEvent.objects.get()
    html = response.content.decode()
    assert response.redirect_chain[-1][0] == f"/safety/adverse-events/{ae.pk}/"
    assert "flagged as a potential DLT" in html
    assert "data-potential-dlt" in html
    # grade 5 is not a neutropenia grade: the change form cannot offer it
    assert '<option value="5" disabled>Grade 5: not defined for this term</option>' in html


def test_a_disallowed_grade_comes_back_with_the_message_and_the_input_kept(ipd, in_window):
    response = client_for(ipd.coordinator_a).post(
        f"/safety/patients/{in_window.pk}/adverse-events/new/", new_ae_form(in_window, grade="5")
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "Grade 5 is not defined for Neutrophil count decreased" in html
    assert 'value="Neutrophil count decreased"' in html
    assert not AdverseEvent.objects.exists()


def test_grade_change_and_attribution_forms(ipd, in_window):
    ae = neutropenia(in_window, ipd.coordinator_a, onset=days_ago(5), grade=3)
    client = client_for(ipd.coordinator_a)

    missing_reason = client.post(
        f"/safety/adverse-events/{ae.pk}/grade/",
        {"on_date": days_ago(3).isoformat(), "grade": "4", "version": ae.version},
    )
    changed = client.post(
        f"/safety/adverse-events/{ae.pk}/grade/",
        {
            "on_date": days_ago(3).isoformat(),
            "grade": "4",
            "version": ae.version,
            "reason": "worse",
        },
    )
    attributed = client.post(
        f"/safety/adverse-events/{ae.pk}/attribution/",
        {
            "attribution_IXA": "possible",
            "action_IXA": "held",
            "attribution_POM": "probable",
            "action_POM": "reduced",
            "action_DEX": "none",
            "version": ae.version + 1,
            "reason": "investigator's assessment",
        },
    )

    ae.refresh_from_db()
    assert missing_reason.status_code == 400
    assert changed.status_code == 302 and ae.max_grade == 4
    assert attributed.status_code == 302
    assert ae.attributions.get(agent__code="POM").attribution == "probable"


def test_site_isolation_and_roles(ipd, in_window):
    other = dosed_patient(ipd, site=ipd.site_b, coordinator=ipd.coordinator_b)
    ae = neutropenia(other, ipd.coordinator_b, onset=days_ago(5))
    coordinator_a = client_for(ipd.coordinator_a)

    assert coordinator_a.get(f"/safety/patients/{other.pk}/adverse-events/new/").status_code == 404
    assert coordinator_a.get(f"/safety/adverse-events/{ae.pk}/").status_code == 404
    assert ae.term not in coordinator_a.get("/safety/IPD/adverse-events/").content.decode()
    for reader in (ipd.statistician, ipd.monitor_a, ipd.investigator):
        response = client_for(reader).get(f"/safety/patients/{in_window.pk}/adverse-events/new/")
        assert response.status_code == 403
    statistician_page = client_for(ipd.statistician).get(f"/safety/adverse-events/{ae.pk}/")
    assert statistician_page.status_code == 200
    assert other.family_name not in statistician_page.content.decode()
    assert (
        client_for(ipd.monitor_a).post(f"/safety/adverse-events/{ae.pk}/grade/").status_code == 404
    )


def lab_suggestion(t, patient, analyte="ANC", value="0.3"):
    lab = trial_services.lab_result_record(
        visit=Visit.objects.get(patient=patient, code="C1D1"),
        analyte=analyte,
        value=value,
        unit="10^9/L",
        acting_user=t.coordinator_a,
    )
    return LabGradeSuggestion.objects.get(lab_result=lab)  # graded when saved


def test_lab_suggestions_are_confirmed_or_dismissed_from_the_page(ipd, in_window):
    suggestion = lab_suggestion(ipd, in_window)
    client = client_for(ipd.coordinator_a)

    page = client.get("/safety/IPD/lab-suggestions/")
    dismissed = client.post(
        f"/safety/lab-suggestions/{suggestion.pk}/dismiss/",
        {f"s{suggestion.pk}-version": suggestion.version, f"s{suggestion.pk}-reason": "clotted"},
    )

    assert "Neutrophil count decreased" in page.content.decode()
    assert dismissed.status_code == 302
    assert LabGradeSuggestion.objects.get().status == "dismissed"
    other = lab_suggestion(ipd, in_window, analyte="PLT", value="20")
    confirmed = client.post(
        f"/safety/lab-suggestions/{other.pk}/confirm/", {"version": other.version}
    )
    ae = AdverseEvent.objects.get()
    assert confirmed.url == f"/safety/adverse-events/{ae.pk}/"
    assert (
        client_for(ipd.monitor_a)
        .post(f"/safety/lab-suggestions/{other.pk}/dismiss/", {})
        .status_code
        == 403
    )


def test_an_investigator_confirms_a_dlt_on_the_page_with_password_and_code(
    ipd, in_window, password, escalations, django_capture_on_commit_callbacks
):
    potential = PotentialDlt.objects.get(
        adverse_event=neutropenia(in_window, ipd.coordinator_a, onset=days_ago(12))
    )
    client, device = verified_client(ipd.investigator, password)

    queue = client.get("/safety/IPD/dlt/")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/safety/potential-dlts/{potential.pk}/adjudicate/",
            {
                "decision": "confirmed",
                "reason": "grade 4 for 12 days",
                "meaning": "I confirm this DLT",
                "password": password,
                "otp_token": totp_code(device, steps_ahead=1),
                "version": potential.version,
            },
            follow=True,
        )

    assert f"/safety/potential-dlts/{potential.pk}/" in queue.content.decode()
    assert response.status_code == 200
    assert "Confirmed DLT" in response.content.decode()
    assert escalations == [(ipd.trial.pk,)]


def test_a_wrong_password_signs_nothing(ipd, in_window, password):
    potential = PotentialDlt.objects.get(
        adverse_event=neutropenia(in_window, ipd.coordinator_a, onset=days_ago(12))
    )
    client, device = verified_client(ipd.investigator, password)

    response = client.post(
        f"/safety/potential-dlts/{potential.pk}/adjudicate/",
        {
            "decision": "confirmed",
            "reason": "DLT",
            "meaning": "I confirm",
            "password": "not-my-password",
            "otp_token": totp_code(device, steps_ahead=1),
            "version": potential.version,
        },
    )

    assert response.status_code == 400
    assert "The password is not correct" in response.content.decode()
    potential.refresh_from_db()
    assert potential.status == "pending"


def test_coordinators_cannot_adjudicate(ipd, in_window):
    potential = PotentialDlt.objects.get(
        adverse_event=neutropenia(in_window, ipd.coordinator_a, onset=days_ago(12))
    )
    response = client_for(ipd.coordinator_a).post(
        f"/safety/potential-dlts/{potential.pk}/adjudicate/", {"decision": "confirmed"}
    )
    assert response.status_code == 403


def test_sae_pages_show_the_clock_and_take_submission_and_signature(ipd, in_window, password):
    ae = neutropenia(
        in_window, ipd.coordinator_a, onset=days_ago(3), seriousness=["serious_hospitalisation"]
    )
    report = SaeReport.objects.get(adverse_event=ae)
    coordinator = client_for(ipd.coordinator_a)

    listing = coordinator.get("/safety/IPD/sae/").content.decode()
    coordinator.post(
        f"/safety/sae/{report.pk}/submit/", {"report": "full", "version": report.version}
    )
    report.refresh_from_db()
    client, device = verified_client(ipd.investigator, password)
    signed = client.post(
        f"/safety/sae/{report.pk}/sign/",
        {
            "meaning": "I approve",
            "password": password,
            "otp_token": totp_code(device, steps_ahead=1),
            "version": report.version,
        },
    )

    assert "due" in listing
    assert signed.status_code == 302
    report.refresh_from_db()
    assert report.status == "signed"


def test_tables_page_shows_the_dlt_listing(ipd, in_window):
    potential = PotentialDlt.objects.get(
        adverse_event=neutropenia(in_window, ipd.coordinator_a, onset=days_ago(12))
    )
    services.potential_dlt_adjudicate(
        potential_dlt=potential,
        decision="confirmed",
        reason="DLT",
        signer=ipd.investigator,
        meaning="I confirm",
        acting_user=ipd.investigator,
        expected_version=potential.version,
    )

    html = client_for(ipd.statistician).get("/safety/IPD/tables/").content.decode()

    assert "DL1: 1/1 (grade 4 neutropenia)" in html
    assert "Neutrophil count decreased" in html


LIST_PAGES = [
    "/safety/IPD/adverse-events/",
    "/safety/IPD/dlt/",
    "/safety/IPD/sae/",
    "/safety/IPD/lab-suggestions/",
    "/safety/IPD/tables/",
]


def test_list_pages_take_a_constant_number_of_queries(ipd, django_assert_num_queries):
    client = client_for(ipd.investigator)

    def add_patient_with_events(days):
        patient = dosed_patient(ipd, first_dose_days_ago=days)
        neutropenia(
            patient,
            ipd.coordinator_a,
            onset=days_ago(days - 2),
            seriousness=["serious_hospitalisation"],
        )
        lab_suggestion(ipd, patient)

    add_patient_with_events(14)
    client.get(LIST_PAGES[0])  # the session's first request loads it
    with_one = {}
    for url in LIST_PAGES:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        with_one[url] = len(captured.captured_queries)
    add_patient_with_events(13)
    add_patient_with_events(12)

    for url in LIST_PAGES:
        with django_assert_num_queries(with_one[url]):
            assert client.get(url).status_code == 200
