"""Entered versus computed IMWG calls: the typed flags of research note 5.5."""

import json
from datetime import date, timedelta
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
from response.domain.imwg_discrepancy import (
    DiscrepancyFlag,
    EnteredResponse,
    classify_discrepancies,
    entries_from_dict,
)

CASES = Path(__file__).parent / "imwg_cases"
D0 = date(2025, 1, 6)
F = DiscrepancyFlag


def day(k: int) -> date:
    return D0 + timedelta(days=28 * k)


def case_file(name: str) -> ImwgInput:
    data = json.loads((CASES / f"{name}.json").read_text(encoding="utf-8"))
    return ImwgInput.from_dict(data["input"])


def serum_case(values: list, *, nadir_policy="lowest_observed", baseline=None, **extra):
    base = {"serum_m_g_dl": 3.0, "urine_m_mg_24h": 0, "serum_ife": "positive"} | (baseline or {})
    visits = tuple(
        Assessment(day(i + 1), **({"urine_m_mg_24h": 0} | v)) for i, v in enumerate(values)
    )
    return ImwgInput(
        Baseline(D0, **base),
        visits,
        ImwgSettings(criteria="IMWG2016", nadir_policy=nadir_policy, **extra),
    )


def classify(case: ImwgInput, **kwargs):
    return classify_discrepancies(case, evaluate(case), **kwargs)


def flags(found) -> list[tuple[str, date | None]]:
    return [(d.flag, d.date) for d in found]


def test_tc05_cr_entered_with_bmpc_8_is_an_overcall():
    case = case_file("TC05")

    found = classify(case, entered=[EnteredResponse(date(2025, 4, 28), "CR")])

    assert flags(found) == [(F.OVERCALL, date(2025, 4, 28))]
    assert (found[0].entered, found[0].computed) == ("CR", "VGPR")


def test_sd_entered_where_mr_is_computed_is_an_undercall():
    case = serum_case([{"serum_m_g_dl": 2.0}, {"serum_m_g_dl": 2.0}])

    found = classify(case, entered=[EnteredResponse(day(1), "SD")])

    assert flags(found) == [(F.UNDERCALL, day(1))]


def test_bor_resting_on_one_assessment_is_unconfirmed_as_confirmed():
    case = serum_case([{"serum_m_g_dl": 2.0}, {"serum_m_g_dl": 1.4}, {"serum_m_g_dl": 1.8}])

    found = classify(case, entered_bor="PR")

    assert evaluate(case).best_overall_response == "MR"
    assert flags(found) == [(F.UNCONFIRMED_AS_CONFIRMED, None)]
    assert found[0].scope == "best_overall_response"


def test_bor_better_than_anything_seen_is_an_overcall():
    case = serum_case([{"serum_m_g_dl": 2.0}, {"serum_m_g_dl": 2.0}])

    assert flags(classify(case, entered_bor="VGPR")) == [(F.OVERCALL, None)]


def test_pd_entered_on_an_flc_rise_with_measurable_serum_is_not_applicable():
    case = serum_case(
        [
            {"serum_m_g_dl": 1.4, "kappa_mg_l": 110, "lambda_mg_l": 10},
            {"serum_m_g_dl": 1.4, "kappa_mg_l": 400, "lambda_mg_l": 10},
        ],
        baseline={"kappa_mg_l": 510, "lambda_mg_l": 10},
    )

    found = classify(case, entered=[EnteredResponse(day(2), "PD")])

    assert flags(found) == [(F.PD_NOT_APPLICABLE, day(2))]


def test_pd_entered_on_a_marker_not_allowed_is_flagged_even_if_pd_is_computed():
    case = serum_case([{"serum_m_g_dl": 1.0}, {"serum_m_g_dl": 1.6}])

    found = classify(
        case, entered=[EnteredResponse(day(2), "PD", pd_basis="dflc")], check_settings=False
    )

    assert flags(found) == [(F.PD_NOT_APPLICABLE, day(2))]


def test_confirmed_pd_entered_as_sd_is_pd_missed():
    case = serum_case([{"serum_m_g_dl": 1.0}, {"serum_m_g_dl": 1.6}, {"serum_m_g_dl": 1.8}])

    found = classify(
        case, entered=[EnteredResponse(day(2), "SD")], entered_bor="PR", check_settings=False
    )

    # the PR at day 1 was followed by PD: it never was a confirmed PR
    assert flags(found) == [(F.PD_MISSED, day(2)), (F.UNCONFIRMED_AS_CONFIRMED, None)]


@pytest.mark.parametrize(
    ("name", "dates"),
    [
        ("TC03b", [date(2025, 3, 31), date(2025, 4, 28)]),
        ("TC06", [date(2025, 4, 28), date(2025, 5, 26)]),
    ],
)
def test_capped_for_missing_data(name, dates):
    found = classify(case_file(name))

    assert [d.date for d in found if d.flag is F.NE_MISSING_DATA] == dates


def test_nadir_policy_dependence_is_a_ruleset_mismatch():
    case = serum_case([{"serum_m_g_dl": 1.0}, {"serum_m_g_dl": 1.6}, {"serum_m_g_dl": 1.7}])

    found = classify(case, entered=[EnteredResponse(day(2), "MR")])

    mismatches = [d for d in found if d.flag is F.RULESET_MISMATCH]
    assert [d.date for d in mismatches] == [day(1), day(2), day(3), None]
    assert all("nadir_policy=lowest_confirmed" in d.detail for d in mismatches)
    assert (F.PD_MISSED, day(2)) in flags(found)


def test_mr_plasmacytoma_setting_dependence_is_a_ruleset_mismatch():
    visit = {"serum_m_g_dl": 2.1, "plasmacytoma_spd_cm2": 7.0}
    case = serum_case([visit, visit], baseline={"plasmacytoma_spd_cm2": 10.0})

    found = classify(case)

    assert {d.detail.split(":")[0] for d in found if d.flag is F.RULESET_MISMATCH} == {
        "under mr_plasmacytoma_min_reduction_pct=25"
    }


def test_agreement_raises_nothing():
    case = case_file("TC01")

    found = classify(
        case,
        entered=[
            EnteredResponse(date(2025, 2, 3), "MR"),
            EnteredResponse(date(2025, 3, 3), "PR"),
            EnteredResponse(date(2025, 3, 31), "PR"),
        ],
        entered_bor="PR",
    )

    assert found == ()


def test_entry_for_an_unknown_date_is_an_input_error():
    with pytest.raises(ImwgInputError, match="matches no assessment"):
        classify(case_file("TC01"), entered=[EnteredResponse(date(2025, 2, 4), "PR")])


def test_unknown_category_is_an_input_error():
    with pytest.raises(ImwgInputError, match="entered_response"):
        EnteredResponse(date(2025, 2, 3), "GOOD")


def test_entries_from_the_command_json():
    data = {
        "assessments": [
            {"date": "2025-02-03", "entered_response": "PD", "entered_pd_basis": "dflc"},
            {"date": "2025-03-03"},
        ],
        "entered_best_overall_response": "PR",
    }

    entries, bor = entries_from_dict(data)

    assert entries == (EnteredResponse(date(2025, 2, 3), "PD", "dflc"),)
    assert bor == "PR"


def test_discrepancy_to_dict_is_json_ready():
    found = classify(case_file("TC05"), entered=[EnteredResponse(date(2025, 4, 28), "CR")])

    assert found[0].to_dict() == {
        "flag": "OVERCALL",
        "scope": "assessment",
        "date": "2025-04-28",
        "entered": "CR",
        "computed": "VGPR",
        "detail": "entered CR, computed VGPR (S-VGPR)",
    }
