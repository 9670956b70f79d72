"""The bulk IMWG read (``imwg_inputs_bulk``, the benchmark's whole-platform recomputation) gives
each patient exactly the engine input the per-patient evaluation builds, and so the same calls:
baseline from several pre-treatment visits, two visits on one date, immunofixation categories
as entered, labs of visits that are not done, other analytes, a first dose before C1D1, deaths
kept and dropped, patients not started, another trial left out."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from dosing.models import DoseLevel
from response import services
from response.domain import imwg
from response.domain.imwg import Assessment, ImwgInputError, evaluate
from response.selectors import PY_WHITESPACE, imwg_inputs_bulk, imwg_lab_columns
from response.services import evaluation
from tests.factories import TrialFactory
from tests.response.factories import (
    ANALYTE_FOR_FIELD,
    cycles,
    record_labs,
    serum_course,
    treated_patient,
    visit_on,
)
from trials.models import DoseAdministration, LabResult, LastContact, TrialAgent, Visit

pytestmark = pytest.mark.django_db

START = date(2025, 1, 6)


def lab(visit: Visit, analyte: str, *, value: str | None = None, category: str = "") -> None:
    """A lab result written as stored, whatever its text (the bulk read's edge cases)."""
    LabResult.objects.create(
        patient=visit.patient,
        visit=visit,
        analyte=analyte,
        collected_on=visit.visit_date or visit.planned_date,
        value_as_entered=value or category or "",
        unit_as_entered="",
        value=None if value is None else Decimal(value),
        unit="",
        category=category,
    )


def visit(patient, when: date | None, *, code: str, status: str = "done", planned=None) -> Visit:
    return Visit.objects.create(
        patient=patient,
        code=code,
        kind="treatment",
        status=status,
        visit_date=when,
        planned_date=planned or when,
    )


def died(patient, day: date) -> None:
    LastContact.objects.create(
        patient=patient, contact_date=day, vital_status="dead", death_date=day, source="clinic"
    )


def first_dose(patient, day: date) -> None:
    agent = TrialAgent.objects.filter(trial=patient.trial).order_by("position").first()
    level = DoseLevel.objects.filter(trial=patient.trial).order_by("number").first()
    DoseAdministration.objects.create(
        visit=visit(patient, day, code=f"D{day:%Y%m%d}"),
        agent=agent,
        dose_level=level,
        status="given",
        dose_mg=Decimal("3"),
        allowed_mg=Decimal("3"),
        level_dose=Decimal("3"),
        level_unit="mg",
    )


@pytest.fixture
def patients(ipd):
    """A dozen patients of trial A (IMWG 2016) whose labs cover the builder's rules."""
    t = ipd
    made = {}

    def new(name, **kwargs):
        made[name] = treated_patient(t.trial, t.site_a, **kwargs)
        return made[name]

    serum_course(new("serum"), START, [2.1, 1.4, 0.9, 1.5, 2.4])

    # Baseline from screening and C1D1: the latest value of each analyte wins; FLC and marrow.
    p = new("screening")
    record_labs(
        p, START - timedelta(days=20), serum_m_g_dl=2.5, kappa_mg_l=410.1234, bmpc_percent=40
    )
    record_labs(p, START, serum_m_g_dl=2.7, lambda_mg_l=12.5, serum_ife="positive")
    for k, when in enumerate(cycles(START, 6)):
        record_labs(
            p,
            when,
            serum_m_g_dl=[1.9, 1.1, 0.4, 0.0, 0.0, 0.3][k],
            kappa_mg_l=[300, 120.5, 40.75, 18, 17, 60][k],
            lambda_mg_l=12.0,
            serum_ife="negative" if 3 <= k <= 4 else "positive",
            urine_ife="negative" if k == 4 else None,
            bmpc_percent=3 if k == 4 else None,
        )

    # Two done visits on one date (the later visit wins per analyte), plus a third visit that
    # date whose only result is unusable; one of them before the treatment start too.
    p = new("same_day")
    record_labs(p, START, serum_m_g_dl=3.0, urine_m_mg_24h=250)
    extra = visit(p, START - timedelta(days=3), code="SCR2")
    lab(extra, "SPEP_M", value="3.3")
    when = cycles(START, 2)[0]
    first = visit(p, when, code="X1", planned=when - timedelta(days=1))
    lab(first, "SPEP_M", value="1.2")
    lab(first, "UPEP_M", value="150")
    second = visit(p, when, code="X2", planned=when - timedelta(days=5))
    lab(second, "SPEP_M", value="1.4")
    lab(second, "SIFE", category="Positive")
    third = visit(p, when, code="X3")
    lab(third, "UPEP_M")
    record_labs(p, cycles(START, 2)[1], serum_m_g_dl=0.8, urine_m_mg_24h=90)

    # Categories as entered: case, whitespace (Python's, not only spaces), unusable ones.
    p = new("categories")
    record_labs(p, START, serum_m_g_dl=1.8)
    dates = cycles(START, 5)
    for when, sife, uife in zip(
        dates,
        [" POSITIVE ", "\u00a0negative\t", "equivocal", "", "Negative\u3000"],
        ["negative", "NEG", "positive\n", "Positive", " "],
        strict=True,
    ):
        v = visit_on(p, when)
        lab(v, "SPEP_M", value="1.0")
        lab(v, "SIFE", category=sife)
        lab(v, "UIFE", category=uife)

    # Labs the builder ignores: of visits not done or undated, other analytes, null values.
    p = new("ignored")
    record_labs(p, START, serum_m_g_dl=2.0, urine_m_mg_24h=300)
    dates = cycles(START, 4)
    record_labs(p, dates[0], serum_m_g_dl=1.5, urine_m_mg_24h=200)
    lab(visit(p, dates[1], code="MISSED", status="missed"), "SPEP_M", value="9.0")
    lab(visit(p, None, code="UNDATED", status="planned", planned=dates[1]), "SPEP_M", value="8.0")
    v = visit_on(p, dates[2])
    lab(v, "HGB", value="101")
    lab(v, "SPEP_M")
    lab(v, "UPEP_M", value="120")
    hgb_only = visit_on(p, dates[3])
    lab(hgb_only, "HGB", value="99")

    # The first dose (before C1D1) is the treatment start.
    p = new("dosed", dose_level=DoseLevel.objects.filter(trial=t.trial).first())
    first_dose(p, START - timedelta(days=2))
    record_labs(p, START - timedelta(days=4), serum_m_g_dl=2.2)
    record_labs(p, START, serum_m_g_dl=2.0)
    record_labs(p, cycles(START, 1)[0], serum_m_g_dl=0.9)

    # Deaths: after the last assessment (kept), before it (dropped), a later 'alive' contact.
    p = new("died")
    serum_course(p, START, [1.4, 0.9])
    died(p, cycles(START, 2)[1] + timedelta(days=10))
    LastContact.objects.create(
        patient=p, contact_date=cycles(START, 3)[2], vital_status="alive", source="clinic"
    )
    p = new("died_early")
    serum_course(p, START, [1.4, 0.9, 0.7])
    died(p, cycles(START, 3)[0] + timedelta(days=3))

    # Baseline only; no labs at all; no labs after the start.
    record_labs(new("baseline_only"), START, serum_m_g_dl=2.4)
    new("no_labs")

    # Not started (C1D1 planned, not done): in neither read.
    p = new("not_started")
    Visit.objects.filter(patient=p, code="C1D1").update(status="planned", visit_date=None)
    record_labs(p, START + timedelta(days=30), serum_m_g_dl=1.0)
    return made


def per_patient_inputs(monkeypatch, patient_ids):
    """The engine input ``response_evaluate_patient`` builds for each patient (its builder's
    return value, spied on)."""
    built = {}
    real = evaluation.build_imwg_input
    current = {}

    def spy(**kwargs):
        case = real(**kwargs)
        built[current["id"]] = case
        return case

    monkeypatch.setattr(evaluation, "build_imwg_input", spy)
    for patient_id in patient_ids:
        current["id"] = patient_id
        services.response_evaluate_patient(patient_id=patient_id)
    return built


def test_bulk_inputs_and_calls_equal_the_per_patient_ones(patients, monkeypatch):
    ids = {name: p.pk for name, p in patients.items()}
    expected = per_patient_inputs(monkeypatch, ids.values())

    bulk = imwg_inputs_bulk()

    assert set(expected) == set(ids.values()) - {ids["not_started"]}
    assert set(bulk) == set(expected)
    for name, patient_id in ids.items():
        if patient_id not in expected:
            continue
        assert bulk[patient_id] == expected[patient_id], name
        assert evaluate(bulk[patient_id]) == evaluate(expected[patient_id]), name
    # The cases above are the ones they claim to be.
    assert bulk[ids["dosed"]].baseline.date == START - timedelta(days=2)
    assert bulk[ids["died"]].death_date is not None
    assert bulk[ids["died_early"]].death_date is None
    screening = bulk[ids["screening"]].baseline
    assert (screening.serum_m_g_dl, screening.kappa_mg_l, screening.bmpc_percent) == (
        2.7,
        410.1234,
        40.0,
    )
    same_day = bulk[ids["same_day"]]
    assert same_day.baseline.serum_m_g_dl == 3.0
    assert (
        same_day.assessments[0].serum_m_g_dl,
        same_day.assessments[0].urine_m_mg_24h,
        same_day.assessments[0].serum_ife,
    ) == (1.4, 150.0, "positive")
    assert [a.serum_ife for a in bulk[ids["categories"]].assessments] == [
        "positive",
        "negative",
        None,
        None,
        "negative",
    ]
    assert [a.serum_m_g_dl for a in bulk[ids["ignored"]].assessments] == [1.5, None]
    assert bulk[ids["no_labs"]].assessments == ()


def test_bulk_read_is_per_trial_and_skips_recist_trials(patients, ipd):
    other = TrialFactory(code="RECIST01")
    from tests.response.factories import set_design

    set_design(other, criteria="RECIST1.1")
    assert imwg_inputs_bulk(trial_codes=[other.code]) == {}
    assert set(imwg_inputs_bulk(trial_codes=[ipd.trial.code])) == set(imwg_inputs_bulk())


def test_values_are_the_builders_floats(ipd):
    """Every stored decimal (14 digits, 4 after the point) reads as ``float(Decimal)``."""
    p = treated_patient(ipd.trial, ipd.site_a, start=START)
    values = ["0.0001", "0.1", "0.3", "1.2345", "2.675", "1234567890.1234", "9999999999.9999"]
    record_labs(p, START, serum_m_g_dl=1)
    for k, (when, value) in enumerate(zip(cycles(START, len(values)), values, strict=True)):
        lab(visit_on(p, when), "SPEP_M", value=value)
        lab(visit_on(p, when), "FLC_KAPPA", value=values[-1 - k])

    case = imwg_inputs_bulk()[p.pk]

    assert [a.serum_m_g_dl for a in case.assessments] == [float(Decimal(v)) for v in values]
    assert [a.kappa_mg_l for a in case.assessments] == [float(Decimal(v)) for v in values[::-1]]


def test_constants_match_python_and_the_engine():
    assert set(PY_WHITESPACE) == {chr(c) for c in range(0x110000) if chr(c).isspace()}
    columns = imwg_lab_columns()
    assert [name for name, _ in columns] == list(Assessment.__dataclass_fields__)[
        1 : len(columns) + 1
    ]
    assert {code for _, code in columns if code} == set(ANALYTE_FOR_FIELD.values())


def test_assessment_checks_every_number_in_order():
    """The fast path of ``Assessment`` checks the numbers ``_ASSESSMENT_NUMBERS`` names."""
    numbers = imwg._ASSESSMENT_NUMBERS
    assert len(numbers) == 7
    for name in numbers:
        with pytest.raises(ImwgInputError) as raised:
            Assessment(date=START, **{name: -1.0})
        assert raised.value.field == name
        converted = Assessment(date=START, **{name: Decimal("1.5")})
        assert getattr(converted, name) == 1.5 and type(getattr(converted, name)) is float
    with pytest.raises(ImwgInputError) as raised:
        Assessment(date=START, serum_m_g_dl=Decimal("2"), kappa_mg_l=float("nan"))
    assert raised.value.field == "kappa_mg_l"
