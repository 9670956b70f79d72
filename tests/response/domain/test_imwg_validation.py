"""Bad IMWG engine input raises ImwgInputError (a ValueError) naming the field."""

import copy
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from response.domain.imwg import (
    Assessment,
    Baseline,
    ImwgInput,
    ImwgInputError,
    ImwgSettings,
    evaluate,
)

CASE = json.loads((Path(__file__).parent / "imwg_cases" / "TC01.json").read_text(encoding="utf-8"))[
    "input"
]


def broken(path: tuple, value) -> dict:
    data = copy.deepcopy(CASE)
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "field", "words"),
    [
        (("assessments", 1, "serum_ife"), "pos", "assessments[1].serum_ife", "one of"),
        (("assessments", 0, "clonal_pc"), "yes", "assessments[0].clonal_pc", "one of"),
        (("baseline", "urine_ife"), "weak", "baseline.urine_ife", "one of"),
        (("assessments", 2, "serum_m_g_dl"), -0.1, "assessments[2].serum_m_g_dl", "non-negative"),
        (("baseline", "bmpc_percent"), -5, "baseline.bmpc_percent", "non-negative"),
        (("assessments", 0, "kappa_mg_l"), "12", "assessments[0].kappa_mg_l", "number"),
        (("assessments", 0, "urine_m_mg_24h"), True, "assessments[0].urine_m_mg_24h", "number"),
        (("assessments", 0, "new_lesion"), "no", "assessments[0].new_lesion", "true or false"),
        (("assessments", 1, "date"), KeyError, "assessments[1].date", "required"),
        (("baseline", "date"), None, "baseline.date", "required"),
        (("assessments", 1, "date"), "2025-02-30", "assessments[1].date", "ISO date"),
        (("assessments", 1, "date"), "2025-01-20", "assessments[1].date", "increasing date"),
        (("assessments", 1, "date"), "2025-02-03", "assessments[1].date", "increasing date"),
        (("assessments", 0, "date"), "2025-01-06", "assessments[0].date", "after baseline"),
        (("assessments", 0, "serum_m_gdl"), 1.0, "assessments[0].serum_m_gdl", "unknown field"),
        (("settings", "nadir_policy"), "lowest", "settings.nadir_policy", "lowest_observed"),
        (("settings", "criteria"), "IMWG2026", "settings.criteria", "IMWG2016"),
        (
            ("settings", "mr_plasmacytoma_min_reduction_pct"),
            0,
            "settings.mr_plasmacytoma_min_reduction_pct",
            "(0, 100]",
        ),
        (
            ("settings", "waive_urine_for_vgpr"),
            "yes",
            "settings.waive_urine_for_vgpr",
            "true or false",
        ),
        (("settings", "nadir"), "x", "settings.nadir", "unknown field"),
        (("death_date",), "2025-03-01", "death_date", "before the last assessment"),
        (("new_therapy_date",), "2024-12-01", "new_therapy_date", "before the baseline"),
        (("assessments",), {"a": 1}, "assessments", "list"),
    ],
)
def test_bad_input_names_the_field(path, value, field, words):
    with pytest.raises(ImwgInputError) as excinfo:
        ImwgInput.from_dict(broken(path, value))

    assert excinfo.value.field == field
    assert words in str(excinfo.value)
    assert str(excinfo.value).startswith(field)


def test_input_error_is_a_value_error():
    assert issubclass(ImwgInputError, ValueError)


def test_nan_and_infinity_are_rejected():
    with pytest.raises(ImwgInputError, match="serum_m_g_dl"):
        Assessment(date(2025, 2, 3), serum_m_g_dl=float("nan"))
    with pytest.raises(ImwgInputError, match="urine_m_mg_24h"):
        Assessment(date(2025, 2, 3), urine_m_mg_24h=float("inf"))


def test_dataclasses_validate_without_from_dict():
    with pytest.raises(ImwgInputError, match="assessments\\[1\\].date"):
        ImwgInput(
            Baseline(date(2025, 1, 6), serum_m_g_dl=3.0),
            (Assessment(date(2025, 3, 3)), Assessment(date(2025, 2, 3))),
        )
    with pytest.raises(ImwgInputError, match="nadir_policy"):
        ImwgSettings(nadir_policy="nadir")
    with pytest.raises(ImwgInputError, match="date"):
        Assessment("2025-02-03")  # type: ignore[arg-type]


def test_decimals_from_the_orm_become_floats():
    a = Assessment(date(2025, 2, 3), serum_m_g_dl=Decimal("1.60"))

    assert a.serum_m_g_dl == 1.6
    assert type(a.serum_m_g_dl) is float


def test_omitted_fields_are_null_and_a_case_file_wrapper_is_not_required():
    data = {
        "baseline": {"date": "2025-01-06", "serum_m_g_dl": 3.0},
        "assessments": [{"date": "2025-02-03", "serum_m_g_dl": 1.4}],
    }

    result = evaluate(ImwgInput.from_dict(data))

    assert result.assessments[0].timepoint == "PR"
    assert "VGPR_PENDING_URINE" not in result.assessments[0].flags
