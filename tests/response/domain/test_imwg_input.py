"""Lab results → the IMWG engine's input (TrialDesk IMWG note 5.1): baseline, assessments,
hash, and the waterfall figures read from the engine's trace."""

from datetime import date
from decimal import Decimal

import pytest

from response.domain.imwg import ImwgInput, ImwgSettings, evaluate
from response.domain.imwg_input import (
    LabValue,
    best_percent_change,
    build_imwg_input,
    first_response_date,
    input_hash,
    input_to_dict,
    waterfall_parameter,
)

START = date(2025, 1, 6)
SETTINGS = ImwgSettings(criteria="IMWG2016", nadir_policy="lowest_observed")


def lab(analyte, day, value=None, category=""):
    return LabValue(analyte, date(2025, 1, 1).replace(month=day[0], day=day[1]), value, category)


def build(labs, **kw):
    return build_imwg_input(labs=labs, treatment_start=START, settings=SETTINGS, **kw)


def test_baseline_takes_the_latest_value_on_or_before_the_start():
    case = build(
        [
            lab("SPEP_M", (1, 2), Decimal("3.5")),
            lab("SPEP_M", (1, 6), Decimal("3.0")),
            lab("UPEP_M", (1, 2), Decimal("40")),
            lab("SIFE", (1, 6), category="Positive"),
        ]
    )

    b = case.baseline
    assert (b.date, b.serum_m_g_dl, b.urine_m_mg_24h, b.serum_ife) == (START, 3.0, 40.0, "positive")
    assert case.assessments == ()


def test_one_assessment_per_date_after_the_start_and_other_analytes_ignored():
    case = build(
        [
            lab("SPEP_M", (1, 6), 3),
            lab("SPEP_M", (2, 3), Decimal("1.6")),
            lab("ANC", (2, 3), Decimal("1.1")),
            lab("BMPC", (2, 3), Decimal("4")),
            lab("SPEP_M", (3, 3), Decimal("1.4")),
            lab("SPEP_M", (3, 3), Decimal("1.5")),  # a later result of the same analyte wins
        ]
    )

    assert [(a.date, a.serum_m_g_dl, a.bmpc_percent) for a in case.assessments] == [
        (date(2025, 2, 3), 1.6, 4.0),
        (date(2025, 3, 3), 1.5, None),
    ]


@pytest.mark.parametrize(
    ("death", "expected"), [(date(2025, 4, 1), date(2025, 4, 1)), (date(2025, 2, 10), None)]
)
def test_a_death_before_the_last_assessment_is_dropped(death, expected):
    case = build([lab("SPEP_M", (1, 6), 3), lab("SPEP_M", (3, 3), 1)], death_date=death)

    assert case.death_date == expected


def test_the_dict_form_round_trips_and_the_hash_follows_the_content():
    case = build([lab("SPEP_M", (1, 6), 3), lab("SPEP_M", (2, 3), Decimal("1.6"))])
    payload = input_to_dict(case)
    changed = input_to_dict(
        build([lab("SPEP_M", (1, 6), 3), lab("SPEP_M", (2, 3), Decimal("1.7"))])
    )

    assert ImwgInput.from_dict(payload) == case
    assert input_hash(payload) == input_hash(input_to_dict(case))
    assert input_hash(payload) != input_hash(changed)
    assert input_hash(payload) != input_hash(payload, ruleset_version="other/2")


def test_waterfall_and_response_dates_come_from_the_engine():
    case = build(
        [
            lab("SPEP_M", (1, 6), 3),
            lab("UPEP_M", (1, 6), 40),
            lab("SPEP_M", (2, 3), Decimal("1.6")),
            lab("UPEP_M", (2, 3), 30),
            lab("SPEP_M", (3, 3), Decimal("1.4")),
            lab("UPEP_M", (3, 3), 20),
            lab("SPEP_M", (3, 31), Decimal("1.3")),
            lab("UPEP_M", (3, 31), 20),
        ]
    )
    result = evaluate(case)

    assert waterfall_parameter(result) == "serum"
    assert best_percent_change(result) == pytest.approx(-56.667, abs=1e-3)
    assert first_response_date(result) == date(2025, 3, 3)


def test_no_measurable_disease_has_no_waterfall_parameter():
    result = evaluate(
        build([lab("SPEP_M", (1, 6), Decimal("0.3")), lab("SPEP_M", (2, 3), Decimal("0.2"))])
    )

    assert waterfall_parameter(result) is None
    assert best_percent_change(result) is None
