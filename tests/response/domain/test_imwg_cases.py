"""IMWG engine against every worked case file (IMWG research note, section 6): the
``expected`` block must match field for field, and the flags the case text names must be
raised."""

import json
from pathlib import Path

import pytest

from response.domain.imwg import RULESET_VERSION, ImwgInput, evaluate

CASES = sorted((Path(__file__).parent / "imwg_cases").glob("*.json"))
EXPECTED_FLAGS = {
    "TC03b": {"VGPR_PENDING_URINE"},
    "TC06": {"CR_PENDING_MARROW"},
}


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def projected(result: dict) -> dict:
    """The fields other tools read (command section of the note)."""
    return {
        "assessments": [
            {"date": a["date"], "timepoint": a["timepoint"], "confirmed": a["confirmed"]}
            for a in result["assessments"]
        ],
        "best_overall_response": result["best_overall_response"],
        "best_response_date": result["best_response_date"],
        "progression_date": result["progression_date"],
    }


def test_every_case_file_is_here():
    assert len(CASES) >= 10


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case_file(path):
    case = load(path)

    result = evaluate(ImwgInput.from_dict(case["input"])).to_dict()

    assert projected(result) == case["expected"]
    assert result["ruleset_version"] == RULESET_VERSION
    assert set(result["flags"]) >= EXPECTED_FLAGS.get(case["id"], set())


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case_output_is_json_and_has_a_trace_for_every_call(path):
    case = load(path)

    result = evaluate(ImwgInput.from_dict(case["input"])).to_dict()

    assert json.loads(json.dumps(result)) == result
    assert result["trace"]["baseline"]["date"] == case["input"]["baseline"]["date"]
    assert all(a["trace"]["rule"] for a in result["assessments"])
    assert all(a["trace"]["pd_checks"] or a["trace"]["levels"] for a in result["assessments"])
