"""The vectorised derivation equals the reference one (``derive_all_endpoints`` +
``build_adtte``) on generated trials: same rows, order, values, types and error messages."""

import datetime as dt

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from survival.domain.adam import build_adtte
from survival.domain.columns import derive_adtte
from survival.domain.endpoints import (
    RESPONSE_CATEGORIES,
    ResponseAssessment,
    SourcedDate,
    derive_all_endpoints,
)
from survival.domain.inputs import PatientRecord, PatientResponse, TrialInputs

BASE = dt.date(2024, 1, 1)
days = st.integers(min_value=0, max_value=400)
maybe_days = st.none() | days


def day(offset: int) -> dt.date:
    return BASE + dt.timedelta(days=offset)


@st.composite
def patient(draw, number: int) -> PatientRecord:
    ids = iter(range(number * 100, number * 100 + 100))

    def sourced(offset, domain):
        return None if offset is None else SourcedDate(day(offset), domain, str(next(ids)))

    first = draw(maybe_days)
    assessments = tuple(
        ResponseAssessment(
            day(draw(days)),
            draw(st.sampled_from(sorted(RESPONSE_CATEGORIES))),
            adequate=draw(st.booleans()),
            confirmed_progression=draw(st.booleans()),
            srcid=str(next(ids)),
        )
        for _ in range(draw(st.integers(0, 5)))
    )
    # Mostly consistent dates (so that most examples derive), sometimes not (errors).
    later = st.integers(min_value=first or 0, max_value=420)
    response = PatientResponse(
        assessments=assessments,
        progression=sourced(draw(st.none() | later), "RS"),
        first_response=sourced(draw(st.none() | later), "RS"),
    )
    return PatientRecord(
        patient_id=number,
        usubjid=f"T-01-{number:03d}",
        siteid="A",
        dose_level="DL1",
        dose_level_number=1,
        consent_date=BASE,
        enrolment_date=BASE,
        first_dose=sourced(first, "EX"),
        last_dose=None,
        death=sourced(draw(st.none() | later | days), "DS"),
        known_alive=tuple(
            sourced(draw(days), draw(st.sampled_from(["SS", "SV", "EX", "LB"])))
            for _ in range(draw(st.integers(0, 4)))
        ),
        response=response,
    )


@st.composite
def trials(draw):
    n = draw(st.integers(1, 8))
    return [draw(patient(i + 1)) for i in range(n)], day(draw(st.integers(0, 450)))


def reference(records, cut):
    values = derive_all_endpoints([r.endpoint_input() for r in records], data_cut=cut)
    return build_adtte(values, studyid="T")


def vectorised(records, cut):
    inputs = TrialInputs.from_records(studyid="T", data_cut=cut, patients=records)
    return derive_adtte(
        inputs.patients, inputs.known_alive, inputs.assessments, data_cut=cut, studyid="T"
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trials())
def test_vectorised_derivation_equals_the_reference(trial):
    records, cut = trial
    try:
        expected = reference(records, cut)
    except ValueError as exc:
        with pytest.raises(ValueError) as raised:
            vectorised(records, cut)
        assert str(raised.value) == str(exc)
        return

    result = vectorised(records, cut)

    pd.testing.assert_frame_equal(result, expected, check_exact=True)


def test_no_patients_gives_an_empty_typed_frame():
    result = vectorised([], BASE)

    pd.testing.assert_frame_equal(result, reference([], BASE))


def test_ties_cite_the_first_listed_record():
    # contact and visit on the same day: the contact (listed first) is cited, as in the reference
    record = PatientRecord(
        patient_id=1,
        usubjid="T-01-001",
        siteid="A",
        dose_level=None,
        dose_level_number=None,
        consent_date=BASE,
        enrolment_date=BASE,
        first_dose=SourcedDate(BASE, "EX", "1"),
        last_dose=None,
        death=None,
        known_alive=(SourcedDate(day(30), "SS", "7"), SourcedDate(day(30), "SV", "8")),
    )

    result = vectorised([record], day(100))

    os_row = result[result["PARAMCD"] == "OS"].iloc[0]
    assert (os_row["SRCDOM"], os_row["SRCID"], os_row["AVAL"]) == ("SS", "7", 30)
    pd.testing.assert_frame_equal(result, reference([record], day(100)))
