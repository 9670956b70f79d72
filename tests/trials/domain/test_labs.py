"""Units are explicit and converted once; bad values and units get a clear message."""

from decimal import Decimal

import pytest

from trials.domain.labs import ANALYTES, LabInputError, check_limits, convert, flag


@pytest.mark.parametrize(
    ("code", "value", "unit", "canonical", "canonical_unit"),
    [
        ("ANC", "1500", "/mm3", Decimal("1.5"), "10^9/L"),
        ("ANC", "1500", "cells/µL", Decimal("1.5"), "10^9/L"),
        ("ANC", "1.5", "10^3/uL", Decimal("1.5"), "10^9/L"),
        ("ANC", "1.5", "x10^9/L", Decimal("1.5"), "10^9/L"),
        ("PLT", "75000", "/mm³", Decimal("75"), "10^9/L"),
        ("WBC", "3.2", "10e9/L", Decimal("3.2"), "10^9/L"),
        ("LYMPH", "800", "/uL", Decimal("0.8"), "10^9/L"),
        ("HGB", "100", "g/L", Decimal("10"), "g/dL"),
        ("HGB", "6.2", "mmol/L", Decimal("9.9882"), "g/dL"),
        ("CREAT", "88.4", "µmol/L", Decimal("1"), "mg/dL"),
        ("CA", "2.9", "mmol/L", Decimal("11.6232"), "mg/dL"),
        ("SPEP_M", "30", "g/L", Decimal("3"), "g/dL"),
        ("UPEP_M", "0.2", "g/24h", Decimal("200"), "mg/24h"),
        ("FLC_KAPPA", "10", "mg/dL", Decimal("100"), "mg/L"),
        ("BMPC", "45", "%", Decimal("45"), "%"),
        ("SPEP_M", "0", "g/dL", Decimal("0"), "g/dL"),
    ],
)
def test_conversions(code, value, unit, canonical, canonical_unit):
    result = convert(code, value, unit)

    assert result.value == canonical
    assert result.unit == canonical_unit
    assert result.value_as_entered == value


def test_immunofixation_is_categorical():
    result = convert("SIFE", "Negative", "")

    assert result.category == "negative"
    assert result.value is None


@pytest.mark.parametrize(
    ("code", "value", "unit", "field", "fragment"),
    [
        ("ANC", "-1", "10^9/L", "value", "cannot be negative"),
        ("ANC", "1.5", "g/dL", "unit", "Accepted: 10^9/L, 10^3/uL, /mm3, cells/uL"),
        ("ANC", "1.5", "", "unit", "Give the unit"),
        ("ANC", "abc", "10^9/L", "value", "not a number"),
        ("PLT", "150000", "10^9/L", "value", "above the plausible range"),
        ("HGB", "100", "g/dL", "value", "above the plausible range"),
        ("BMPC", "120", "%", "value", "above the plausible range"),
        ("CREAT", "1", "mmol/L", "unit", "Accepted: mg/dL, umol/L"),
        ("SIFE", "maybe", "", "value", "positive or negative"),
        ("XYZ", "1", "", "analyte", "Unknown lab test"),
        ("ANC", "", "10^9/L", "value", "Enter a value"),
        ("ANC", "NaN", "10^9/L", "value", "not a number"),
    ],
)
def test_bad_input_is_refused_with_a_message(code, value, unit, field, fragment):
    with pytest.raises(LabInputError) as caught:
        convert(code, value, unit)

    assert caught.value.field == field
    assert fragment in caught.value.message


def test_every_numeric_analyte_accepts_its_canonical_unit():
    for code, analyte in ANALYTES.items():
        if not analyte.is_categorical:
            assert analyte.canonical_unit in analyte.units, code


def test_flags_and_limits():
    assert flag(Decimal("1.0"), Decimal("1.8"), Decimal("7.5")) == "L"
    assert flag(Decimal("8"), Decimal("1.8"), Decimal("7.5")) == "H"
    assert flag(Decimal("3"), Decimal("1.8"), Decimal("7.5")) == ""
    with pytest.raises(LabInputError):
        check_limits(Decimal(5), Decimal(4))
