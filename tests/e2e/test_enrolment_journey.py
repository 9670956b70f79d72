"""A coordinator screens, checks eligibility, consents, enrols and records cycle 1 in a browser.

Cycle 1 day 1 is recorded with the keyboard alone: the date field has the focus, Tab moves
through the doses and labs in reading order, and Enter saves.
"""

import re

import pytest

from tests.e2e.conftest import login
from tests.factories import days_ago
from trials import selectors
from trials.models import DoseAdministration, LabResult, Patient, Visit

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def type_date(page, day) -> None:
    """Type a date into the focused <input type=date> in the browser's own field order."""
    order = page.evaluate(
        "new Intl.DateTimeFormat(navigator.language).formatToParts(new Date(2001, 1, 3))"
        ".filter(p => p.type !== 'literal').map(p => p.type).join(',')"
    )
    parts = {"day": f"{day.day:02d}", "month": f"{day.month:02d}", "year": f"{day.year}"}
    for part in order.split(","):
        page.keyboard.type(parts[part])


def focused_id(page) -> str:
    return page.evaluate("document.activeElement.id")


def tab_out_of(page, field_id: str) -> None:
    """Tab past a field (Chromium's date input has its own stop on the calendar button)."""
    for _ in range(3):
        page.keyboard.press("Tab")
        if focused_id(page) != field_id:
            return


def test_screen_consent_enrol_and_record_cycle_1(page, ipd, password):
    t = ipd
    login(page, t.coordinator_a.email, password)

    # 1. screening
    page.get_by_role("link", name="Patients", exact=True).click()
    page.get_by_role("link", name="Screen a patient for IPD").click()
    page.get_by_label("Site").select_option(label=str(t.site_a))
    page.get_by_label("Given name").fill("Grace")
    page.get_by_label("Family name").fill("Hopper")
    page.get_by_label("Height (cm)").fill("168")
    page.get_by_label("Weight (kg)").fill("64")
    page.get_by_role("button", name="Register and continue").click()

    # 2. eligibility: every inclusion met, no exclusion applies
    page.get_by_role("heading", name=re.compile("Eligibility of")).wait_for()
    assert page.locator("[aria-current=step]").inner_text().endswith("Eligibility")
    for criterion in selectors.eligibility_criteria(t.trial):
        answer = "Yes" if criterion.kind == "inclusion" else "No"
        page.locator("fieldset", has_text=f"{criterion.code}:").get_by_label(
            answer, exact=True
        ).check()
    page.get_by_role("button", name="Save answers").click()

    # 3. consent
    page.get_by_role("heading", name=re.compile("Informed consent")).wait_for()
    page.get_by_label("Consent form version").fill("1.0")
    page.get_by_label("Date signed").fill(days_ago(10).isoformat())
    page.get_by_role("button", name="Record consent").click()

    # 4. enrolment at dose level 1
    page.get_by_role("heading", name=re.compile("^Enrol")).wait_for()
    page.get_by_label("Enrolment date").fill(days_ago(9).isoformat())
    page.get_by_label("Planned cycle 1 day 1").fill(days_ago(8).isoformat())
    page.get_by_label("Dose level").select_option(value="1")
    page.get_by_role("button", name="Enrol").click()

    assert page.get_by_text("Enrolled as IPD-01-001 at DL1").is_visible()
    patient = Patient.objects.get(study_id="IPD-01-001")
    assert patient.status == "enrolled"

    # 5. cycle 1 day 1, keyboard only
    page.get_by_role("link", name="Record Cycle 1 day 1", exact=True).click()
    page.get_by_role("heading", name=re.compile("Cycle 1 day 1")).wait_for()
    assert focused_id(page) == "id_visit_date"
    type_date(page, days_ago(8))
    tab_out_of(page, "id_visit_date")
    assert focused_id(page) == "id_weight_kg"
    page.keyboard.type("64")
    page.keyboard.press("Tab")  # height: already known from screening
    for dose in ("3", "4", "40"):  # ixazomib, pomalidomide, dexamethasone: status, dose, reason
        page.keyboard.press("Tab")
        page.keyboard.type("G")  # "Given as planned"
        page.keyboard.press("Tab")
        page.keyboard.type(dose)
        page.keyboard.press("Tab")
    for value in ("2.1", "180", "11.2"):  # ANC, platelets, haemoglobin in their default units
        page.keyboard.press("Tab")
        page.keyboard.type(value)
        page.keyboard.press("Tab")
    assert focused_id(page) == "id_lab_HGB_unit"
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")  # Enter in a field submits the form

    page.get_by_text("Cycle 1 day 1 saved.").wait_for()
    c1d1 = Visit.objects.get(patient=patient, code="C1D1")
    assert c1d1.status == "done" and c1d1.visit_date == days_ago(8)
    doses = {
        d.agent.code: (d.status, d.dose_mg)
        for d in DoseAdministration.objects.filter(visit=c1d1).select_related("agent")
    }
    assert {k: (s, str(v)) for k, (s, v) in doses.items()} == {
        "IXA": ("given", "3.00"),
        "POM": ("given", "4.00"),
        "DEX": ("given", "40.00"),
    }
    assert {r.analyte: str(r.value) for r in LabResult.objects.filter(visit=c1d1)} == {
        "ANC": "2.1000",
        "PLT": "180.0000",
        "HGB": "11.2000",
    }
    patient.refresh_from_db()
    assert patient.status == "on_treatment"
    assert page.get_by_role("heading", name=re.compile("On treatment")).is_visible()

    # 6. cycle 1 day 8: a dose above the level is refused with a message, then corrected
    page.get_by_role("link", name="Record Cycle 1 day 8", exact=True).click()
    page.get_by_label("Visit date").fill(days_ago(1).isoformat())
    page.get_by_label("Ixazomib: status").select_option("given")
    page.get_by_label("Ixazomib: dose given (mg)").fill("4")
    page.get_by_label("Pomalidomide: status").select_option("held")
    page.get_by_label("Pomalidomide: reason (reduced, held, missed)").fill("platelets 45")
    page.get_by_label("Dexamethasone: dose given (mg)").fill("40")
    page.get_by_role("button", name="Save visit").click()

    summary = page.get_by_role("alert").filter(has_text="Nothing was saved")
    assert summary.is_visible()
    assert "above what the patient's dose level allows" in summary.inner_text()
    assert page.get_by_label("Pomalidomide: reason (reduced, held, missed)").input_value() == (
        "platelets 45"
    )
    summary.get_by_role("link").first.click()
    assert focused_id(page) == "id_dose_IXA_mg"
    page.get_by_label("Ixazomib: dose given (mg)").fill("3")
    page.get_by_role("button", name="Save visit").click()
    page.get_by_text("Cycle 1 day 8 saved.").wait_for()

    # 7. the patient page shows the timeline and the coordinator's list the next visit
    timeline = page.locator("table.timeline")
    assert "IXA 3 mg" in timeline.inner_text()
    assert "POM (held: platelets 45)" in timeline.inner_text()
    assert "PLT 180 10^9/L" in timeline.inner_text()
    page.get_by_role("link", name="Patients", exact=True).click()
    row = page.get_by_role("row", name=re.compile("IPD-01-001"))
    assert "C1D15" in row.inner_text()
