"""CTCAE v5.0 lab grading at every cut-point (recist-ctcae.md sections 3.1 and 3.2).

Each table walks one term in one unit through its cut-points: just above, at and just below
the normal limit and each grade boundary. Decreases are graded end <= value < start,
increases start < value <= end.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from fractions import Fraction

import pytest

from safety.domain.ctcae import UnknownCtcaeVersionError
from safety.domain.lab_grading import (
    LAB_GRADING_RULES,
    InvalidLabValueError,
    UnknownLabTermError,
    UnknownUnitError,
    grade_lab_value,
    lab_gradable_terms,
)

ANC = "Neutrophil count decreased"
PLT = "Platelet count decreased"
WBC = "White blood cell decreased"
ALC = "Lymphocyte count decreased"
HGB = "Anemia"
CREAT = "Creatinine increased"
CA = "Hypercalcemia"

# (term, value, unit, lln, expected grade)
DECREASE_BOUNDARIES = [
    # ANC, 10^9/L, LLN 2.0: G1 [1.5, LLN), G2 [1.0, 1.5), G3 [0.5, 1.0), G4 < 0.5
    (ANC, "2.01", "10^9/L", "2.0", 0),
    (ANC, "2.0", "10^9/L", "2.0", 0),
    (ANC, "1.99", "10^9/L", "2.0", 1),
    (ANC, "1.51", "10^9/L", "2.0", 1),
    (ANC, "1.5", "10^9/L", "2.0", 1),
    (ANC, "1.49", "10^9/L", "2.0", 2),
    (ANC, "1.01", "10^9/L", "2.0", 2),
    (ANC, "1.0", "10^9/L", "2.0", 2),
    (ANC, "0.99", "10^9/L", "2.0", 3),
    (ANC, "0.51", "10^9/L", "2.0", 3),
    (ANC, "0.5", "10^9/L", "2.0", 3),
    (ANC, "0.49", "10^9/L", "2.0", 4),
    (ANC, "0", "10^9/L", "2.0", 4),
    # ANC, /mm3 (cells/uL): divided by 1000 before comparing
    (ANC, "2001", "/mm3", "2000", 0),
    (ANC, "2000", "/mm3", "2000", 0),
    (ANC, "1999", "/mm3", "2000", 1),
    (ANC, "1501", "/mm3", "2000", 1),
    (ANC, "1500", "/mm3", "2000", 1),
    (ANC, "1499", "/mm3", "2000", 2),
    (ANC, "1001", "/mm3", "2000", 2),
    (ANC, "1000", "/mm3", "2000", 2),
    (ANC, "999", "/mm3", "2000", 3),
    (ANC, "501", "/mm3", "2000", 3),
    (ANC, "500", "/mm3", "2000", 3),
    (ANC, "499", "/mm3", "2000", 4),
    # ANC with a site LLN of 1.4: grades 2-4 ignore the LLN (section 3.2)
    (ANC, "1.5", "10^9/L", "1.4", 0),
    (ANC, "1.45", "10^9/L", "1.4", 2),
    (ANC, "1.4", "10^9/L", "1.4", 2),
    (ANC, "1.39", "10^9/L", "1.4", 2),
    # Platelets, 10^9/L, LLN 150: G1 [75, LLN), G2 [50, 75), G3 [25, 50), G4 < 25
    (PLT, "150.1", "10^9/L", "150", 0),
    (PLT, "150", "10^9/L", "150", 0),
    (PLT, "149.9", "10^9/L", "150", 1),
    (PLT, "75.1", "10^9/L", "150", 1),
    (PLT, "75", "10^9/L", "150", 1),
    (PLT, "74.9", "10^9/L", "150", 2),
    (PLT, "50.1", "10^9/L", "150", 2),
    (PLT, "50", "10^9/L", "150", 2),
    (PLT, "49.9", "10^9/L", "150", 3),
    (PLT, "25.1", "10^9/L", "150", 3),
    (PLT, "25", "10^9/L", "150", 3),
    (PLT, "24.9", "10^9/L", "150", 4),
    # Platelets, /mm3
    (PLT, "150001", "/mm3", "150000", 0),
    (PLT, "150000", "/mm3", "150000", 0),
    (PLT, "149999", "/mm3", "150000", 1),
    (PLT, "75001", "/mm3", "150000", 1),
    (PLT, "75000", "/mm3", "150000", 1),
    (PLT, "74999", "/mm3", "150000", 2),
    (PLT, "50001", "/mm3", "150000", 2),
    (PLT, "50000", "/mm3", "150000", 2),
    (PLT, "49999", "/mm3", "150000", 3),
    (PLT, "25001", "/mm3", "150000", 3),
    (PLT, "25000", "/mm3", "150000", 3),
    (PLT, "24999", "/mm3", "150000", 4),
    # WBC, 10^9/L, LLN 4.0: G1 [3.0, LLN), G2 [2.0, 3.0), G3 [1.0, 2.0), G4 < 1.0
    (WBC, "4.01", "10^9/L", "4.0", 0),
    (WBC, "4.0", "10^9/L", "4.0", 0),
    (WBC, "3.99", "10^9/L", "4.0", 1),
    (WBC, "3.01", "10^9/L", "4.0", 1),
    (WBC, "3.0", "10^9/L", "4.0", 1),
    (WBC, "2.99", "10^9/L", "4.0", 2),
    (WBC, "2.01", "10^9/L", "4.0", 2),
    (WBC, "2.0", "10^9/L", "4.0", 2),
    (WBC, "1.99", "10^9/L", "4.0", 3),
    (WBC, "1.01", "10^9/L", "4.0", 3),
    (WBC, "1.0", "10^9/L", "4.0", 3),
    (WBC, "0.99", "10^9/L", "4.0", 4),
    # WBC, /mm3
    (WBC, "4001", "/mm3", "4000", 0),
    (WBC, "4000", "/mm3", "4000", 0),
    (WBC, "3999", "/mm3", "4000", 1),
    (WBC, "3001", "/mm3", "4000", 1),
    (WBC, "3000", "/mm3", "4000", 1),
    (WBC, "2999", "/mm3", "4000", 2),
    (WBC, "2001", "/mm3", "4000", 2),
    (WBC, "2000", "/mm3", "4000", 2),
    (WBC, "1999", "/mm3", "4000", 3),
    (WBC, "1001", "/mm3", "4000", 3),
    (WBC, "1000", "/mm3", "4000", 3),
    (WBC, "999", "/mm3", "4000", 4),
    # Lymphocytes, 10^9/L, LLN 1.0: G1 [0.8, LLN), G2 [0.5, 0.8), G3 [0.2, 0.5), G4 < 0.2
    (ALC, "1.01", "10^9/L", "1.0", 0),
    (ALC, "1.0", "10^9/L", "1.0", 0),
    (ALC, "0.99", "10^9/L", "1.0", 1),
    (ALC, "0.81", "10^9/L", "1.0", 1),
    (ALC, "0.8", "10^9/L", "1.0", 1),
    (ALC, "0.79", "10^9/L", "1.0", 2),
    (ALC, "0.51", "10^9/L", "1.0", 2),
    (ALC, "0.5", "10^9/L", "1.0", 2),
    (ALC, "0.49", "10^9/L", "1.0", 3),
    (ALC, "0.21", "10^9/L", "1.0", 3),
    (ALC, "0.2", "10^9/L", "1.0", 3),
    (ALC, "0.19", "10^9/L", "1.0", 4),
    # Lymphocytes, /mm3
    (ALC, "1001", "/mm3", "1000", 0),
    (ALC, "1000", "/mm3", "1000", 0),
    (ALC, "999", "/mm3", "1000", 1),
    (ALC, "801", "/mm3", "1000", 1),
    (ALC, "800", "/mm3", "1000", 1),
    (ALC, "799", "/mm3", "1000", 2),
    (ALC, "501", "/mm3", "1000", 2),
    (ALC, "500", "/mm3", "1000", 2),
    (ALC, "499", "/mm3", "1000", 3),
    (ALC, "201", "/mm3", "1000", 3),
    (ALC, "200", "/mm3", "1000", 3),
    (ALC, "199", "/mm3", "1000", 4),
    # Hgb, g/dL, LLN 12.0: G1 [10.0, LLN), G2 [8.0, 10.0), G3 < 8.0; never above 3 from labs
    (HGB, "12.1", "g/dL", "12.0", 0),
    (HGB, "12.0", "g/dL", "12.0", 0),
    (HGB, "11.9", "g/dL", "12.0", 1),
    (HGB, "10.1", "g/dL", "12.0", 1),
    (HGB, "10.0", "g/dL", "12.0", 1),
    (HGB, "9.9", "g/dL", "12.0", 2),
    (HGB, "8.1", "g/dL", "12.0", 2),
    (HGB, "8.0", "g/dL", "12.0", 2),
    (HGB, "7.9", "g/dL", "12.0", 3),
    (HGB, "2.0", "g/dL", "12.0", 3),
    # Hgb, g/L: NCI's 100 / 80 g/L
    (HGB, "121", "g/L", "120", 0),
    (HGB, "120", "g/L", "120", 0),
    (HGB, "119", "g/L", "120", 1),
    (HGB, "101", "g/L", "120", 1),
    (HGB, "100", "g/L", "120", 1),
    (HGB, "99", "g/L", "120", 2),
    (HGB, "81", "g/L", "120", 2),
    (HGB, "80", "g/L", "120", 2),
    (HGB, "79", "g/L", "120", 3),
    # Hgb, mmol/L: NCI's own 6.2 / 4.9 mmol/L cut-points (not converted from g/dL)
    (HGB, "7.5", "mmol/L", "7.4", 0),
    (HGB, "7.4", "mmol/L", "7.4", 0),
    (HGB, "7.39", "mmol/L", "7.4", 1),
    (HGB, "6.21", "mmol/L", "7.4", 1),
    (HGB, "6.2", "mmol/L", "7.4", 1),
    (HGB, "6.19", "mmol/L", "7.4", 2),
    (HGB, "4.91", "mmol/L", "7.4", 2),
    (HGB, "4.9", "mmol/L", "7.4", 2),
    (HGB, "4.89", "mmol/L", "7.4", 3),
]


@pytest.mark.parametrize(("term", "value", "unit", "lln", "expected"), DECREASE_BOUNDARIES)
def test_decrease_cut_points(term, value, unit, lln, expected):
    result = grade_lab_value(term, value, unit, lln=lln)

    assert result.grade == expected


# (term, value, unit, uln, baseline, expected grade)
INCREASE_BOUNDARIES = [
    # Creatinine, mg/dL, ULN 1.0: G1 (ULN, 1.5xULN], G2 (1.5, 3.0]xULN, G3 (3.0, 6.0]xULN, G4 > 6xULN
    (CREAT, "0.99", "mg/dL", "1.0", None, 0),
    (CREAT, "1.0", "mg/dL", "1.0", None, 0),
    (CREAT, "1.01", "mg/dL", "1.0", None, 1),
    (CREAT, "1.49", "mg/dL", "1.0", None, 1),
    (CREAT, "1.5", "mg/dL", "1.0", None, 1),
    (CREAT, "1.51", "mg/dL", "1.0", None, 2),
    (CREAT, "2.99", "mg/dL", "1.0", None, 2),
    (CREAT, "3.0", "mg/dL", "1.0", None, 2),
    (CREAT, "3.01", "mg/dL", "1.0", None, 3),
    (CREAT, "5.99", "mg/dL", "1.0", None, 3),
    (CREAT, "6.0", "mg/dL", "1.0", None, 3),
    (CREAT, "6.01", "mg/dL", "1.0", None, 4),
    # Creatinine, umol/L (/ 88.4 to mg/dL), ULN 106: cut-points 106, 159, 318, 636
    (CREAT, "105", "umol/L", "106", None, 0),
    (CREAT, "106", "umol/L", "106", None, 0),
    (CREAT, "107", "umol/L", "106", None, 1),
    (CREAT, "158", "umol/L", "106", None, 1),
    (CREAT, "159", "umol/L", "106", None, 1),
    (CREAT, "160", "umol/L", "106", None, 2),
    (CREAT, "317", "umol/L", "106", None, 2),
    (CREAT, "318", "umol/L", "106", None, 2),
    (CREAT, "319", "umol/L", "106", None, 3),
    (CREAT, "635", "umol/L", "106", None, 3),
    (CREAT, "636", "umol/L", "106", None, 3),
    (CREAT, "637", "umol/L", "106", None, 4),
    # Creatinine against a baseline of 0.4 mg/dL (ULN 1.2): G2 (1.5, 3.0]x, G3 > 3.0x baseline
    (CREAT, "0.59", "mg/dL", "1.2", "0.4", 0),
    (CREAT, "0.6", "mg/dL", "1.2", "0.4", 0),
    (CREAT, "0.61", "mg/dL", "1.2", "0.4", 2),
    (CREAT, "1.19", "mg/dL", "1.2", "0.4", 2),
    (CREAT, "1.2", "mg/dL", "1.2", "0.4", 2),
    (CREAT, "1.21", "mg/dL", "1.2", "0.4", 3),
    # Creatinine against a baseline of 80 umol/L (ULN 130): 120 and 240 are the cut-points
    (CREAT, "120", "umol/L", "130", "80", 0),
    (CREAT, "121", "umol/L", "130", "80", 2),
    (CREAT, "240", "umol/L", "130", "80", 2),
    (CREAT, "241", "umol/L", "130", "80", 3),
    # The ULN grade wins when it is the higher one: 3.5 = 3.5 x ULN (G3), 1.75 x baseline (G2)
    (CREAT, "3.5", "mg/dL", "1.0", "2.0", 3),
    (CREAT, "6.5", "mg/dL", "1.0", "2.0", 4),
    # Hypercalcemia (corrected), mg/dL, ULN 10.5: G1 (ULN, 11.5], G2 (11.5, 12.5],
    # G3 (12.5, 13.5], G4 > 13.5
    (CA, "10.49", "mg/dL", "10.5", None, 0),
    (CA, "10.5", "mg/dL", "10.5", None, 0),
    (CA, "10.51", "mg/dL", "10.5", None, 1),
    (CA, "11.49", "mg/dL", "10.5", None, 1),
    (CA, "11.5", "mg/dL", "10.5", None, 1),
    (CA, "11.51", "mg/dL", "10.5", None, 2),
    (CA, "12.49", "mg/dL", "10.5", None, 2),
    (CA, "12.5", "mg/dL", "10.5", None, 2),
    (CA, "12.51", "mg/dL", "10.5", None, 3),
    (CA, "13.49", "mg/dL", "10.5", None, 3),
    (CA, "13.5", "mg/dL", "10.5", None, 3),
    (CA, "13.51", "mg/dL", "10.5", None, 4),
    # Hypercalcemia (corrected), mmol/L: NCI's own 2.9 / 3.1 / 3.4 cut-points, ULN 2.6
    (CA, "2.59", "mmol/L", "2.6", None, 0),
    (CA, "2.6", "mmol/L", "2.6", None, 0),
    (CA, "2.61", "mmol/L", "2.6", None, 1),
    (CA, "2.89", "mmol/L", "2.6", None, 1),
    (CA, "2.9", "mmol/L", "2.6", None, 1),
    (CA, "2.91", "mmol/L", "2.6", None, 2),
    (CA, "3.09", "mmol/L", "2.6", None, 2),
    (CA, "3.1", "mmol/L", "2.6", None, 2),
    (CA, "3.11", "mmol/L", "2.6", None, 3),
    (CA, "3.39", "mmol/L", "2.6", None, 3),
    (CA, "3.4", "mmol/L", "2.6", None, 3),
    (CA, "3.41", "mmol/L", "2.6", None, 4),
]


@pytest.mark.parametrize(
    ("term", "value", "unit", "uln", "baseline", "expected"), INCREASE_BOUNDARIES
)
def test_increase_cut_points(term, value, unit, uln, baseline, expected):
    result = grade_lab_value(term, value, unit, uln=uln, baseline=baseline)

    assert result.grade == expected


def test_anc_1_45_with_site_lln_1_4_is_grade_2_and_the_rule_says_why():
    result = grade_lab_value(ANC, 1.45, "10^9/L", lln=1.4)

    assert result.grade == 2
    assert result.value_converted == 1.45
    assert result.lln == 1.4
    assert "1.0 <= 1.45 10^9/L < 1.5" in result.rule_text
    assert "grades 2-4 do not reference the LLN" in result.rule_text
    assert '"<1500 - 1000/mm3; <1.5 - 1.0 x 10e9 /L"' in result.rule_text


def test_result_carries_converted_value_unit_and_limits():
    result = grade_lab_value(ANC, 800, "/mm3", lln=1500)

    assert result == dataclasses.replace(
        result,
        grade=3,
        term=ANC,
        value_converted=0.8,
        unit="10^9/L",
        lln=1.5,
        uln=None,
        ctcae_version="5.0",
        input_value="800",
        input_unit="/mm3",
        defaults_used=(),
    )


def test_result_is_frozen():
    result = grade_lab_value(ANC, "0.8", "10^9/L")

    with pytest.raises(dataclasses.FrozenInstanceError):
        result.grade = 1


@pytest.mark.parametrize(
    ("term", "value", "unit", "default_name", "default_value", "expected"),
    [
        (ANC, "1.99", "10^9/L", "LLN", 2.0, 1),
        (ANC, "2.0", "10^9/L", "LLN", 2.0, 0),
        (PLT, "149", "10^9/L", "LLN", 150.0, 1),
        (WBC, "3.9", "10^9/L", "LLN", 4.0, 1),
        (ALC, "0.9", "10^9/L", "LLN", 1.0, 1),
        (HGB, "11.9", "g/dL", "LLN", 12.0, 1),
        (HGB, "119", "g/L", "LLN", 120.0, 1),
        (HGB, "7.3", "mmol/L", "LLN", 7.4, 1),
        (CREAT, "1.21", "mg/dL", "ULN", 1.2, 1),
        (CA, "10.6", "mg/dL", "ULN", 10.5, 1),
        (CA, "2.61", "mmol/L", "ULN", 2.6, 1),
    ],
)
def test_documented_default_limits_apply_when_the_site_gives_none(
    term, value, unit, default_name, default_value, expected
):
    result = grade_lab_value(term, value, unit)

    assert result.grade == expected
    assert result.defaults_used == (default_name,)
    assert getattr(result, default_name.lower()) == default_value


def test_creatinine_default_uln_is_converted_for_umol_per_litre():
    result = grade_lab_value(CREAT, "107", "umol/L")

    assert result.grade == 1  # 107 umol/L = 1.2104 mg/dL > 1.2 mg/dL
    assert result.unit == "mg/dL"
    assert result.value_converted == pytest.approx(107 / 88.4)


def test_site_limits_are_in_the_unit_of_the_value():
    result = grade_lab_value(PLT, "140000", "/mm3", lln="130000")

    assert result.grade == 0
    assert result.lln == 130.0


@pytest.mark.parametrize(
    ("term", "value", "unit", "expected"),
    [
        (ANC, "0", "10^9/L", 4),
        (PLT, "0", "/mm3", 4),
        (WBC, "0", "10^9/L", 4),
        (ALC, "0", "10^9/L", 4),
        (HGB, "0", "g/dL", 3),
        (CREAT, "100", "mg/dL", 4),
        (CA, "30", "mg/dL", 4),
    ],
)
def test_lab_values_never_give_grade_5_and_anemia_stops_at_3(term, value, unit, expected):
    assert grade_lab_value(term, value, unit).grade == expected


def test_anemia_rule_text_says_grade_4_needs_clinical_input():
    result = grade_lab_value(HGB, "6.0", "g/dL")

    assert result.grade == 3
    assert "grades 4-5 need the investigator's clinical assessment" in result.rule_text


def test_creatinine_baseline_grade_names_the_baseline():
    result = grade_lab_value(CREAT, "1.0", "mg/dL", uln="1.2", baseline="0.3")

    assert result.grade == 3
    assert result.baseline == 0.3
    assert "3.0 x baseline (0.9) < 1 mg/dL" in result.rule_text


def test_grade_0_rule_text_states_the_limit():
    result = grade_lab_value(ANC, "2.5", "10^9/L", lln="2.0")

    assert result.grade == 0
    assert "grade 0" in result.rule_text
    assert "LLN 2" in result.rule_text


@pytest.mark.parametrize(
    ("value", "unit"),
    [
        ("0.8", "10^9/L"),
        ("0.8", "10e9/L"),
        ("0.8", "x10^9/L"),
        ("0.8", " 10^9 / L "),
        ("0.8", "10^3/uL"),
        ("800", "/mm3"),
        ("800", "cells/uL"),
        ("800", "cells/µL"),
        ("800", "/uL"),
    ],
)
def test_count_unit_spellings(value, unit):
    result = grade_lab_value(ANC, value, unit, lln="2.0")

    assert (result.grade, result.value_converted, result.unit) == (3, 0.8, "10^9/L")


@pytest.mark.parametrize("value", [0.8, "0.8", Decimal("0.8"), Fraction(4, 5)])
def test_value_types(value):
    assert grade_lab_value(ANC, value, "10^9/L").grade == 3


def test_float_on_a_cut_point_is_graded_as_on_it():
    # 0.1 + 0.2 style float noise must not move a value across a cut-point
    assert grade_lab_value(PLT, 75.0, "10^9/L").grade == 1
    assert grade_lab_value(HGB, 8.0, "g/dL").grade == 2
    assert grade_lab_value(CREAT, 1.5, "mg/dL", uln=1.0).grade == 1


def test_unknown_unit_error_names_the_accepted_units():
    with pytest.raises(UnknownUnitError) as excinfo:
        grade_lab_value(HGB, "9", "mg/dL")

    message = str(excinfo.value)
    assert "'mg/dL'" in message
    assert "'g/dL', 'g/L', 'mmol/L'" in message


def test_unknown_count_unit_lists_the_count_units():
    with pytest.raises(UnknownUnitError, match=r"'10\^9/L'.*'/mm3'"):
        grade_lab_value(ANC, "0.8", "g/L")


def test_unknown_term_error_lists_the_gradable_terms():
    with pytest.raises(
        UnknownLabTermError, match="unknown CTCAE v5.0 term 'Neutropenia'"
    ) as excinfo:
        grade_lab_value("Neutropenia", "0.8", "10^9/L")

    assert "'Neutrophil count decreased'" in str(excinfo.value)


def test_ctcae_term_without_a_lab_rule_is_a_clear_error():
    with pytest.raises(UnknownLabTermError, match="'Fatigue' is not graded from a lab value"):
        grade_lab_value("Fatigue", "1", "10^9/L")


def test_term_name_is_case_insensitive():
    assert grade_lab_value("neutrophil COUNT decreased", "0.8", "10^9/L").term == ANC


@pytest.mark.parametrize(
    ("value", "limits", "message"),
    [
        ("-0.1", {}, "value cannot be negative"),
        ("abc", {}, "value must be a number"),
        (float("nan"), {}, "value must be a finite number"),
        (float("inf"), {}, "value must be a finite number"),
        (True, {}, "value must be a number"),
        ("1", {"lln": "-1"}, "LLN cannot be negative"),
        ("1", {"lln": "0"}, "LLN must be greater than zero"),
    ],
)
def test_invalid_values_are_errors(value, limits, message):
    with pytest.raises(InvalidLabValueError, match=message):
        grade_lab_value(ANC, value, "10^9/L", **limits)


def test_zero_baseline_is_an_error():
    with pytest.raises(InvalidLabValueError, match="baseline must be greater than zero"):
        grade_lab_value(CREAT, "1", "mg/dL", baseline="0")


def test_unknown_ctcae_version_is_an_error():
    with pytest.raises(UnknownCtcaeVersionError):
        grade_lab_value(ANC, "0.8", "10^9/L", ctcae_version="6.0")


def test_rules_are_keyed_by_version_and_term():
    assert lab_gradable_terms("5.0") == (
        "Anemia",
        "Creatinine increased",
        "Hypercalcemia",
        "Lymphocyte count decreased",
        "Neutrophil count decreased",
        "Platelet count decreased",
        "White blood cell decreased",
    )
    assert all(version == "5.0" for version, _ in LAB_GRADING_RULES)
