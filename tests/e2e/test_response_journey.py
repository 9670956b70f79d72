"""A coordinator enters response labs in a real browser, a real Celery worker computes the IMWG
response, and the investigator's different entry raises a discrepancy as a query."""

import time
from datetime import date

import pytest

from tests.e2e.conftest import login
from tests.response.factories import cycles, set_design, treated_patient, visit_on

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

START = date(2025, 1, 6)


def reload_until(page, locator, text: str, *, seconds: float = 40) -> None:
    """The worker computes in the background: reload until ``text`` shows (or fail)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if locator.count() and locator.inner_text().strip() == text:
            return
        time.sleep(0.5)
        page.reload()
    raise AssertionError(f"{text!r} did not appear within {seconds} s")


def enter_labs(page, visit_label: str, *, serum: str, urine: str, ife: str = "positive") -> None:
    page.get_by_label("Visit").select_option(label=visit_label)
    page.get_by_label("Serum M-protein (g/dL)").fill(serum)
    page.get_by_label("24-h urine M-protein (mg/24h)").fill(urine)
    page.get_by_label("Serum immunofixation").select_option(ife)
    page.get_by_role("button", name="Save labs").click()
    assert page.get_by_role("status").get_by_text("result(s) saved").is_visible()


def test_labs_give_a_computed_response_and_a_different_entry_raises_a_query(
    page, browser, live_server, two_site_trial, password, celery_worker_process
):
    t = two_site_trial
    set_design(t.trial, criteria="IMWG2016", nadir_policy="lowest_observed")
    patient = treated_patient(t.trial, t.site_a, start=START)
    c2, c3 = cycles(START, 2)
    visit_on(patient, c2, code="C2D1", cycle=2, day=1)
    visit_on(patient, c3, code="C3D1", cycle=3, day=1)

    # the coordinator enters the baseline and two assessments
    login(page, t.coordinator_a.email, password)
    page.goto(f"/response/patients/{patient.pk}/")
    enter_labs(page, "Cycle 1 day 1 (2025-01-06)", serum="3.0", urine="40")
    enter_labs(page, "Cycle 2 day 1 (2025-02-03)", serum="1.4", urine="30")
    enter_labs(page, "Cycle 3 day 1 (2025-03-03)", serum="1.3", urine="20")

    # the worker computes the response: PR, confirmed on the next assessment
    reload_until(page, page.locator("#computed-bor"), "PR")
    rows = page.locator("#timepoints tbody tr")
    assert "PR" in rows.nth(0).inner_text() and "−53.3%" in rows.nth(0).inner_text()

    # the investigator disagrees at cycle 3: CR entered where PR is computed
    investigator = browser.new_context(base_url=live_server.url).new_page()
    login(investigator, t.investigator.email, password)
    investigator.goto(f"/response/patients/{patient.pk}/")
    investigator.get_by_label("Which assessment").select_option("2025-03-03")
    investigator.get_by_label("Response category").select_option("CR")
    investigator.get_by_role("button", name="Save my response").click()

    queries = investigator.locator("#queries")
    assert queries.get_by_text("OVERCALL").is_visible()
    assert "CR / PR" in queries.inner_text()

    # the site sees the query to answer
    page.goto("/response/queries/")
    assert page.locator("#query-list").get_by_text("OVERCALL").is_visible()
    investigator.context.close()
