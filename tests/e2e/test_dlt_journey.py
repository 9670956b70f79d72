"""The DLT journey in a real browser: a coordinator enters a grade 4 neutropenia inside the
DLT window with the CTCAE picker, it is flagged as a potential DLT, an investigator (password
and authenticator code) confirms it with an e-signature, and the dose-escalation evaluation is
sent for the trial."""

import pytest

from safety.models import CtcaeTerm, DltWindow, PotentialDlt
from safety.services import ctcae_dictionary_install
from tests.e2e.conftest import login
from tests.factories import days_ago
from tests.safety.factories import dosed_patient
from tests.security.helpers import confirmed_device, totp_code

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def escalations(monkeypatch):
    """``dosing.evaluate_escalation`` messages sent (recorded where the broker send happens;
    the escalation decision itself belongs to the dosing app)."""
    from dosing.tasks import evaluate_escalation

    sent: list[tuple] = []
    monkeypatch.setattr(
        evaluate_escalation, "apply_async", lambda args=(), kwargs=None, **o: sent.append(args)
    )
    return sent


def test_grade_4_neutropenia_is_flagged_and_confirmed_as_a_dlt(page, ipd, password, escalations):
    # given a DL1 patient on study day 16 of the 21-day window, and an investigator with an
    # authenticator app
    if not CtcaeTerm.objects.filter(version="5.0").exists():  # flushed by transactional tests
        ctcae_dictionary_install(version="5.0", acting_user=None)
    patient = dosed_patient(ipd, first_dose_days_ago=15)
    device = confirmed_device(ipd.investigator)

    # the coordinator picks the term, sees grade 5 is not a neutropenia grade, and saves
    login(page, ipd.coordinator_a.email, password)
    page.goto(f"/safety/patients/{patient.pk}/adverse-events/new/")
    page.get_by_role("combobox", name="CTCAE term").fill("neutrophil")
    page.get_by_role("option", name="Neutrophil count decreased").click()
    assert page.locator("#id_grade option[value='5']").is_disabled()
    assert "<0.5 x 10e9 /L" in page.locator("#id_grade option[value='4']").inner_text()
    page.get_by_label("Grade at onset").select_option("4")
    page.get_by_label("Onset date").fill(days_ago(12).isoformat())
    page.get_by_label("Ixazomib: attribution").select_option("possible")
    page.get_by_label("Ixazomib: action taken").select_option("held")
    page.get_by_role("button", name="Save adverse event").click()

    # then it is flagged as a potential DLT
    page.get_by_text("flagged as a potential DLT").wait_for()
    assert "To adjudicate" in page.locator("[data-potential-dlt]").inner_text()
    page.get_by_role("button", name="Sign out").click()

    # the investigator signs in with the second factor and opens the DLT queue
    login(page, ipd.investigator.email, password)
    page.get_by_label("Authenticator code").fill(totp_code(device))
    page.get_by_role("button", name="Verify").click()
    page.goto("/safety/IPD/dlt/")
    page.get_by_role("link", name="Adjudicate").click()

    # and confirms the DLT with a reason, the meaning, the password and a fresh code
    page.get_by_label("Confirm: this is a DLT").check()
    page.get_by_label("Reason", exact=True).fill("Grade 4 neutropenia for 12 days in the window")
    page.get_by_label("Your password").fill(password)
    page.get_by_label("Authenticator code").fill(totp_code(device, steps_ahead=1))
    page.get_by_role("button", name="Sign decision").click()

    # then the decision is signed, the window holds a DLT, and the escalation is re-evaluated
    page.get_by_text("DLT confirmed and signed").wait_for()
    assert "Confirmed DLT" in page.locator("[data-status]").inner_text()
    potential = PotentialDlt.objects.get(adverse_event__patient=patient)
    assert potential.status == "confirmed"
    assert potential.adjudications.get().signature.signer == ipd.investigator
    assert DltWindow.objects.get(patient=patient).status == "dlt"
    assert escalations == [(ipd.trial.pk,)]
