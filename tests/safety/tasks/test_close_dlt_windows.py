"""The daily beat task closes DLT windows past their last day and enqueues the escalation
evaluation for the trial; run again, it changes nothing."""

from decimal import Decimal

import pytest

from safety.models import DltWindow, LabGradeSuggestion
from safety.tasks import close_dlt_windows, grade_lab_results
from tests.factories import days_ago
from tests.safety.factories import FULL_C1_DOSES, POM_DEX, dosed_patient, record_visit
from trials.models import LabResult, Visit

pytestmark = pytest.mark.django_db


def test_the_task_closes_windows_past_their_last_day(
    ipd, escalations, django_capture_on_commit_callbacks
):
    # given a patient whose window ended yesterday, fully dosed, and one still inside it
    entered = days_ago(2)
    done = dosed_patient(ipd, first_dose_days_ago=22, today=entered)
    record_visit(done, "C1D8", days_ago(15), ipd.coordinator_a, FULL_C1_DOSES, today=entered)
    record_visit(done, "C1D15", days_ago(8), ipd.coordinator_a, POM_DEX, today=entered)
    running = dosed_patient(
        ipd, first_dose_days_ago=10, site=ipd.site_b, coordinator=ipd.coordinator_b
    )

    # when beat runs the task
    with django_capture_on_commit_callbacks(execute=True):
        changed = close_dlt_windows()

    # then
    assert changed == 1
    assert DltWindow.objects.get(patient=done).status == "completed_evaluable"
    assert DltWindow.objects.get(patient=running).status == "pending"
    assert escalations == [(ipd.trial.pk,)]
    assert close_dlt_windows() == 0


def test_grading_task_grades_rows_saved_without_the_hook_and_is_idempotent(ipd, in_window):
    # given a result stored without the trials service (a bulk import, say)
    lab = LabResult.objects.create(
        patient=in_window,
        visit=Visit.objects.get(patient=in_window, code="C1D1"),
        analyte="ANC",
        collected_on=days_ago(15),
        value_as_entered="0.2",
        unit_as_entered="10^9/L",
        value=Decimal("0.2"),
        unit="10^9/L",
        lln=Decimal("1.8"),
        uln=Decimal("7.5"),
    )

    assert grade_lab_results(in_window.pk, [lab.pk], ipd.coordinator_a.pk) == 1
    assert grade_lab_results(in_window.pk, [lab.pk], ipd.coordinator_a.pk) == 0
    assert grade_lab_results(999_999, [lab.pk]) == 0
    assert LabGradeSuggestion.objects.get().grade == 4
