"""The escalation journey in a real browser: an investigator (password and authenticator code)
opens the dose-level grid, reads the recommendation and the rule row that produced it, and
signs it with a stated meaning; the signed decision opens the next step (three more at DL1)."""

import pytest

from dosing.models import DecisionStatus, TrialEscalation
from tests.dosing.factories import cohort, evaluate
from tests.e2e.conftest import login
from tests.security.helpers import confirmed_device, totp_code

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_an_investigator_reads_the_recommendation_on_the_grid_and_signs_it(page, ipd, password):
    # given DL1 with one DLT among three evaluable patients, evaluated ("expand to 6")
    patients = cohort(ipd, ["DLT", "NO_DLT", "NO_DLT"])
    decision = evaluate(ipd.trial)
    device = confirmed_device(ipd.investigator)

    # the investigator signs in with the second factor and opens the grid
    login(page, ipd.investigator.email, password)
    page.get_by_label("Authenticator code").fill(totp_code(device))
    page.get_by_role("button", name="Verify").click()
    page.goto("/dosing/")
    page.get_by_role("link", name="IPD").click()

    # reads the grid and the recommendation with its rule row
    grid = page.locator("#grid")
    for patient in patients:
        assert grid.get_by_text(patient.study_id, exact=True).is_visible()
    assert "1/3 DLT" in page.locator("tr[data-level='1']").inner_text()
    recommendation = page.locator("[data-recommendation]")
    assert "EXPAND" in recommendation.inner_text()
    assert (
        page.locator("[data-rule-row]").first.inner_text()
        == "3p3.R2: 3 evaluable, 1 DLT -> expand to 6"
    )

    # and signs it: the stated meaning, the password and a fresh authenticator code
    form = page.get_by_role("form", name=f"Sign decision #{decision.number}")
    assert (
        "I have reviewed the DLT data"
        in form.get_by_label("Meaning of your signature").input_value()
    )
    form.get_by_label("Your password").fill(password)
    form.get_by_label("Authenticator code").fill(totp_code(device, steps_ahead=1))
    form.get_by_role("button", name=f"Sign decision #{decision.number}").click()

    # then the decision is signed and DL1 opens three more slots
    page.get_by_text(f"Decision #{decision.number} signed.").wait_for()
    assert "3 free" in page.locator("tr[data-level='1']").inner_text()
    decision.refresh_from_db()
    escalation = TrialEscalation.objects.get(trial=ipd.trial)
    assert decision.status == DecisionStatus.SIGNED
    assert decision.signatures.get().signer == ipd.investigator
    assert (escalation.open_level_number, escalation.cohort_target) == (1, 6)
