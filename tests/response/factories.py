"""Rows the response tests build on: a trial design, treated patients, visits and lab results.

The trials app's visit and lab services are still being finished, so these helpers create the
rows through the models, with the canonical units of the lab catalogue (what the lab service
stores after conversion).
"""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from response.domain.imwg_input import RESPONSE_ANALYTES
from tests.factories import PatientFactory
from trials.domain.design import ResponseSettings, SimonParameters, TrialDesign
from trials.domain.labs import ANALYTES
from trials.models import (
    Consent,
    LabResult,
    Patient,
    PatientStatusChange,
    ProtocolVersion,
    Site,
    Trial,
    Visit,
)

#: Engine field → lab catalogue code (the inverse of the builder's map).
ANALYTE_FOR_FIELD = {field: code for code, field in RESPONSE_ANALYTES.items()}
#: Trial A's Simon design as the design document stores it (an assumption of the demo).
TRIAL_A_SIMON = SimonParameters(
    p0=0.20,
    p1=0.45,
    alpha=0.10,
    beta=0.10,
    r1=3,
    n1=14,
    r=7,
    n=25,
    assumed=True,
    label="Assumed design: the publication does not state the Simon parameters.",
)
_study_numbers = itertools.count(1)
_visit_numbers = itertools.count(1)


def set_design(
    trial: Trial,
    *,
    criteria: str = "IMWG2016",
    simon: SimonParameters | None = None,
    **response: Any,
) -> TrialDesign:
    """Give ``trial`` a protocol version with this response design (replacing any other)."""
    design = TrialDesign(simon=simon, response=ResponseSettings(criteria=criteria, **response))
    number = ProtocolVersion.objects.filter(trial=trial).count() + 1
    ProtocolVersion.objects.create(
        trial=trial,
        number=number,
        label=f"v{number}",
        effective_date=date(2024, 1, 1),
        reason="test design",
        design=design.to_dict(),
    )
    return design


def treated_patient(
    trial: Trial,
    site: Site,
    *,
    start: date = date(2025, 1, 6),
    status: str = "on_treatment",
    dose_level: Any = None,
    **fields: Any,
) -> Patient:
    """An enrolled patient whose cycle 1 day 1 (the treatment start) is done on ``start``."""
    number = next(_study_numbers)
    patient = PatientFactory(
        trial=trial,
        site=site,
        study_id=f"{trial.code}-{number:04d}",
        enrolment_date=start,
        status=status,
        dose_level=dose_level,
        **fields,
    )
    Consent.objects.create(patient=patient, version="1.0", consent_date=start - timedelta(days=14))
    PatientStatusChange.objects.create(
        patient=patient, from_status="screening", to_status="enrolled", effective_date=start
    )
    Visit.objects.create(
        patient=patient,
        code="C1D1",
        kind="treatment",
        cycle=1,
        day=1,
        status="done",
        visit_date=start,
        planned_date=start,
    )
    return patient


def visit_on(
    patient: Patient,
    when: date,
    *,
    code: str | None = None,
    cycle: int | None = None,
    day: int | None = None,
) -> Visit:
    """The patient's done visit on ``when`` (a response-assessment visit, made if missing)."""
    visit = Visit.objects.filter(patient=patient, visit_date=when).first()
    if visit is not None:
        return visit
    return Visit.objects.create(
        patient=patient,
        code=code or f"A{next(_visit_numbers)}",
        kind="treatment",
        cycle=cycle,
        day=day,
        status="done",
        visit_date=when,
        planned_date=when,
        response_assessment=True,
    )


def record_labs(patient: Patient, when: date, **values: Any) -> Visit:
    """Lab results at the visit on ``when``, keyed by the engine's field names
    (``serum_m_g_dl=1.6``, ``serum_ife="positive"``); ``None`` values are skipped. An existing
    result of the same analyte at that visit is replaced."""
    visit = visit_on(patient, when)
    for field, value in values.items():
        if value is None:
            continue
        code = ANALYTE_FOR_FIELD[field]
        analyte = ANALYTES[code]
        numeric = not analyte.is_categorical
        LabResult.objects.update_or_create(
            visit=visit,
            analyte=code,
            defaults={
                "patient": patient,
                "collected_on": when,
                "value_as_entered": str(value),
                "unit_as_entered": analyte.canonical_unit,
                "value": Decimal(str(value)) if numeric else None,
                "unit": analyte.canonical_unit,
                "category": "" if numeric else str(value),
            },
        )
    return visit


def labs_from_case(patient: Patient, case_input: dict[str, Any]) -> None:
    """Store an ``imwg_response`` case's baseline and assessments as lab results."""
    lab_fields = set(ANALYTE_FOR_FIELD)
    baseline = case_input["baseline"]
    record_labs(
        patient,
        date.fromisoformat(baseline["date"]),
        **{k: v for k, v in baseline.items() if k in lab_fields},
    )
    for a in case_input["assessments"]:
        record_labs(
            patient,
            date.fromisoformat(a["date"]),
            **{k: v for k, v in a.items() if k in lab_fields},
        )


def cycles(start: date, n: int) -> list[date]:
    """Day 1 of cycles 2..n+1 (28-day cycles)."""
    return [start + timedelta(days=28 * k) for k in range(1, n + 1)]


def serum_course(
    patient: Patient, start: date, values: list[float], *, baseline: float = 3.0
) -> None:
    """A serum-only measurable patient: baseline serum M ``baseline`` g/dL (urine 40 mg/24 h,
    not measurable), then ``values`` at each following cycle."""
    record_labs(patient, start, serum_m_g_dl=baseline, urine_m_mg_24h=40, serum_ife="positive")
    for when, value in zip(cycles(start, len(values)), values, strict=True):
        record_labs(patient, when, serum_m_g_dl=value, urine_m_mg_24h=30, serum_ife="positive")


def computed_response(
    patient: Patient,
    bor: str,
    *,
    progression_date: date | None = None,
    measurable: tuple[str, ...] = ("serum",),
    evaluable: bool = True,
    best_pct_change: float | None = None,
) -> Any:
    """A stored computed response (what the monitor and the summaries read), without labs."""
    from django.utils import timezone

    from response.models import PatientResponse

    return PatientResponse.objects.create(
        patient=patient,
        criteria="IMWG2016",
        best_overall_response=bor,
        progression_date=progression_date,
        baseline_date=patient.enrolment_date,
        evaluable=evaluable,
        measurable=list(measurable),
        best_pct_change=best_pct_change,
        ruleset_version="test",
        input_hash=f"test-{patient.pk}",
        evaluated_at=timezone.now(),
    )
