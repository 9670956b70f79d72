"""IMWG evaluation from stored lab results: stored calls match the engine, recomputation is
idempotent, and the baseline and assessments are the ones the rules name."""

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from response import services
from response.domain.imwg import ImwgInput, evaluate
from response.domain.imwg_rules import RULESET_VERSION
from response.models import PatientResponse, ResponseTimepoint
from tests.response.factories import (
    labs_from_case,
    record_labs,
    serum_course,
    set_design,
    treated_patient,
    visit_on,
)
from trials.models import LabResult

pytestmark = pytest.mark.django_db

CASES = Path(__file__).resolve().parents[1] / "domain" / "imwg_cases"
#: The worked cases whose every input is a lab result (no imaging, clonality or direct ratio).
LAB_ONLY_CASES = ["TC01", "TC02", "TC02b", "TC03", "TC03b", "TC03c"]
START = date(2025, 1, 6)


@pytest.fixture
def imwg(two_site_trial):
    set_design(two_site_trial.trial, criteria="IMWG2016", nadir_policy="lowest_observed")
    return two_site_trial


def response_events(patient) -> int:
    """Audit events written for this patient's computed response rows."""
    return (
        PatientResponse.pgh_event_model.objects.filter(patient_id=patient.pk).count()
        + ResponseTimepoint.pgh_event_model.objects.filter(patient_id=patient.pk).count()
    )


def stored(patient):
    response = PatientResponse.objects.get(patient=patient)
    rows = ResponseTimepoint.objects.filter(patient=patient).order_by("assessment_date")
    return response, list(rows)


@pytest.mark.parametrize("case_id", LAB_ONLY_CASES)
def test_worked_cases_entered_as_labs_give_the_expected_calls(imwg, case_id):
    case = json.loads((CASES / f"{case_id}.json").read_text())
    settings = case["input"]["settings"]
    set_design(
        imwg.trial,
        nadir_policy=settings["nadir_policy"],
        waive_urine_for_vgpr=settings.get("waive_urine_for_vgpr", False),
    )
    patient = treated_patient(
        imwg.trial, imwg.site_a, start=date.fromisoformat(case["input"]["baseline"]["date"])
    )
    labs_from_case(patient, case["input"])

    outcome = services.response_evaluate_patient(patient_id=patient.pk)

    response, rows = stored(patient)
    expected = case["expected"]
    assert outcome.changed is True
    assert [
        {"date": r.assessment_date.isoformat(), "timepoint": r.timepoint, "confirmed": r.confirmed}
        for r in rows
    ] == expected["assessments"]
    assert response.best_overall_response == expected["best_overall_response"]
    assert (response.best_response_date or None) == (
        date.fromisoformat(expected["best_response_date"])
        if expected["best_response_date"]
        else None
    )
    assert (
        response.progression_date is None
        if expected["progression_date"] is None
        else (response.progression_date == date.fromisoformat(expected["progression_date"]))
    )


def test_stored_calls_are_the_engine_output_on_the_stored_input(imwg):
    patient = treated_patient(imwg.trial, imwg.site_a, start=START)
    serum_course(patient, START, [1.6, 1.4, 1.3])

    services.response_evaluate_patient(patient_id=patient.pk)

    response, rows = stored(patient)
    result = evaluate(ImwgInput.from_dict(response.engine_input))
    assert [(r.assessment_date, r.timepoint, r.confirmed, r.status) for r in rows] == [
        (a.date, a.timepoint.value, a.confirmed and a.confirmed.value, a.status and a.status.value)
        for a in result.assessments
    ]
    assert [r.trace for r in rows] == [a.trace_dict() for a in result.assessments]
    assert response.best_overall_response == result.best_overall_response.value == "PR"
    assert response.ruleset_version == RULESET_VERSION
    assert response.first_response_date == START + timedelta(days=56)
    assert response.best_pct_change == pytest.approx(-56.67, abs=0.01)
    assert rows[0].pct_change_from_baseline == pytest.approx(-46.67, abs=0.01)
    assert response.measurable == ["serum"]
    assert response.evaluable is True


def test_the_trace_names_baseline_nadir_changes_and_the_rule(imwg):
    patient = treated_patient(imwg.trial, imwg.site_a, start=START)
    serum_course(patient, START, [1.6, 2.4])

    services.response_evaluate_patient(patient_id=patient.pk)

    _, rows = stored(patient)
    trace = rows[1].trace
    assert trace["rule"] == "PD-SERUM"
    (check,) = [c for c in trace["pd_checks"] if c["parameter"] == "serum"]
    assert (check["nadir"], check["value"], check["met"]) == (1.6, 2.4, True)
    assert check["increase_pct"] == pytest.approx(50.0)
    assert rows[0].trace["levels"][0]["reduction_pct"] == pytest.approx(46.67, abs=0.01)


def test_same_input_writes_nothing_new(imwg):
    patient = treated_patient(imwg.trial, imwg.site_a, start=START)
    serum_course(patient, START, [1.6, 1.4])
    services.response_evaluate_patient(patient_id=patient.pk)
    events_before = response_events(patient)

    outcome = services.response_evaluate_patient(patient_id=patient.pk)

    assert outcome.changed is False
    assert outcome.skipped == "unchanged"
    assert response_events(patient) == events_before
    assert PatientResponse.objects.get(patient=patient).version == 1


def test_a_corrected_lab_updates_only_what_changed(imwg):
    patient = treated_patient(imwg.trial, imwg.site_a, start=START)
    serum_course(patient, START, [1.6, 1.4, 1.3])
    services.response_evaluate_patient(patient_id=patient.pk)
    first, rows = stored(patient)
    untouched = rows[0]

    record_labs(patient, START + timedelta(days=84), serum_m_g_dl=0.2)
    services.response_evaluate_patient(patient_id=patient.pk)

    response, rows = stored(patient)
    assert response.input_hash != first.input_hash
    assert response.version == 2
    assert rows[2].timepoint == "VGPR"
    assert rows[0].computed_at == untouched.computed_at  # its call did not change


def test_a_removed_assessment_removes_its_row(imwg):
    patient = treated_patient(imwg.trial, imwg.site_a, start=START)
    serum_course(patient, START, [1.6, 1.4])
    services.response_evaluate_patient(patient_id=patient.pk)

    LabResult.objects.filter(collected_on=START + timedelta(days=56)).delete()
    services.response_evaluate_patient(patient_id=patient.pk)

    _, rows = stored(patient)
    assert [r.assessment_date for r in rows] == [START + timedelta(days=28)]


def test_baseline_is_the_latest_value_on_or_before_the_first_dose(imwg):
    patient = treated_patient(imwg.trial, imwg.site_a, start=START)
    screening = visit_on(patient, START - timedelta(days=10), code="SCR")
    screening.kind = "screening"
    screening.save()
    record_labs(patient, START - timedelta(days=10), serum_m_g_dl=4.0, urine_m_mg_24h=40)
    record_labs(patient, START, serum_m_g_dl=3.0)
    record_labs(patient, START + timedelta(days=28), serum_m_g_dl=1.4, urine_m_mg_24h=30)

    services.response_evaluate_patient(patient_id=patient.pk)

    response, rows = stored(patient)
    baseline = response.engine_input["baseline"]
    assert baseline["date"] == START.isoformat()
    assert (baseline["serum_m_g_dl"], baseline["urine_m_mg_24h"]) == (3.0, 40.0)
    assert [r.assessment_date for r in rows] == [START + timedelta(days=28)]
    assert rows[0].pct_change_from_baseline == pytest.approx(-53.33, abs=0.01)


def test_visits_without_response_labs_are_not_assessments(imwg):
    patient = treated_patient(imwg.trial, imwg.site_a, start=START)
    serum_course(patient, START, [1.6])
    other = visit_on(patient, START + timedelta(days=14))
    LabResult.objects.create(
        patient=patient,
        visit=other,
        analyte="ANC",
        collected_on=other.visit_date,
        value_as_entered="1.2",
        value=1.2,
        unit="10^9/L",
    )

    services.response_evaluate_patient(patient_id=patient.pk)

    _, rows = stored(patient)
    assert [r.assessment_date for r in rows] == [START + timedelta(days=28)]


def test_a_patient_without_treatment_has_no_response(imwg):
    outcome = services.response_evaluate_patient(patient_id=imwg.patient_a.pk)

    assert (outcome.changed, outcome.skipped) == (False, "treatment has not started")
    assert not PatientResponse.objects.exists()


def test_a_missing_patient_is_tolerated(db):
    outcome = services.response_evaluate_patient(patient_id=987654)

    assert (outcome.changed, outcome.skipped) == (False, "no such patient")


def test_no_measurable_disease_is_stored_as_not_evaluable(imwg):
    patient = treated_patient(imwg.trial, imwg.site_a, start=START)
    record_labs(patient, START, serum_m_g_dl=0.4, urine_m_mg_24h=50)
    record_labs(patient, START + timedelta(days=28), serum_m_g_dl=0.3)

    services.response_evaluate_patient(patient_id=patient.pk)

    response, _ = stored(patient)
    assert response.evaluable is False
    assert response.measurable == []
    assert "NO_MEASURABLE_DISEASE" in response.flags


def test_design_settings_reach_the_engine(imwg):
    """TC03b: without a 24-h urine the serum-only VGPR is capped at PR, unless the design
    waives the urine."""
    patient = treated_patient(imwg.trial, imwg.site_a, start=START)
    record_labs(
        patient,
        START,
        serum_m_g_dl=2.5,
        urine_m_mg_24h=0,
        serum_ife="positive",
        urine_ife="negative",
    )
    for day in (28, 56, 84):
        record_labs(
            patient,
            START + timedelta(days=day),
            serum_m_g_dl=0.0 if day > 28 else 0.9,
            serum_ife="positive",
        )
    services.response_evaluate_patient(patient_id=patient.pk)
    capped, _ = stored(patient)

    set_design(imwg.trial, nadir_policy="lowest_observed", waive_urine_for_vgpr=True)
    services.response_evaluate_patient(patient_id=patient.pk)

    waived, _ = stored(patient)
    assert capped.best_overall_response == "PR"
    assert waived.best_overall_response == "VGPR"
