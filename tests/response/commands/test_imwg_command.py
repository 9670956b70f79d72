"""`manage.py imwg_response`: the JSON interface of IMWG note's command section."""

import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

ROOT = Path(__file__).resolve().parents[3]
CASES = sorted((ROOT / "tests" / "response" / "domain" / "imwg_cases").glob("*.json"))


def run(*args: str, stdin: str | None = None) -> dict:
    out = StringIO()
    extra = {} if stdin is None else {"stdin": StringIO(stdin)}
    call_command("imwg_response", *args, stdout=out, **extra)
    return json.loads(out.getvalue())


def projected(result: dict) -> dict:
    return {
        "assessments": [
            {k: a[k] for k in ("date", "timepoint", "confirmed")} for a in result["assessments"]
        ],
        "best_overall_response": result["best_overall_response"],
        "best_response_date": result["best_response_date"],
        "progression_date": result["progression_date"],
    }


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case_file_input(path):
    case = json.loads(path.read_text(encoding="utf-8"))

    result = run("--input", str(path))

    assert projected(result) == case["expected"]
    assert result["trace"]["criteria"] == "IMWG2016"
    assert result["discrepancies"] is not None


def test_stdin_input_without_the_case_wrapper():
    case = json.loads((CASES[0]).read_text(encoding="utf-8"))

    result = run("--input", "-", stdin=json.dumps(case["input"]))

    assert projected(result) == case["expected"]
    assert {"flags", "trace", "ruleset_version"} <= result.keys()
    assert all({"trace", "flags", "status"} <= a.keys() for a in result["assessments"])


def test_entries_in_the_input_give_discrepancies():
    case = json.loads((ROOT / "tests/response/domain/imwg_cases/TC05.json").read_text())
    case["input"]["assessments"][0]["entered_response"] = "CR"

    result = run("--input", "-", stdin=json.dumps(case))

    assert [(d["flag"], d["date"]) for d in result["discrepancies"]] == [("OVERCALL", "2025-04-28")]


def test_no_trace_option():
    result = run("--input", str(CASES[0]), "--no-trace")

    assert "trace" not in result
    assert all("trace" not in a for a in result["assessments"])


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ('{"baseline": {"date": "2025-01-06", "serum_m_g_dl": -1}}', "baseline.serum_m_g_dl"),
        (
            '{"baseline": {"date": "2025-01-06"}, "assessments": [{"date": "2025-03-01"},'
            ' {"date": "2025-02-01"}]}',
            "assessments[1].date",
        ),
        (
            '{"baseline": {"date": "2025-01-06"}, "assessments": [{"serum_ife": "neg"}]}',
            "assessments[0].date",
        ),
        (
            '{"baseline": {"date": "2025-01-06"}, "assessments": [{"date": "2025-02-03",'
            ' "serum_ife": "neg"}]}',
            "assessments[0].serum_ife",
        ),
        (
            '{"baseline": {"date": "2025-01-06"}, "settings": {"criteria": "X"}}',
            "settings.criteria",
        ),
        ("{not json", "not valid JSON"),
        ("[]", "input"),
    ],
)
def test_bad_input_is_a_command_error(payload, message):
    with pytest.raises(CommandError, match=message.replace("[", "\\[").replace("]", "\\]")):
        run("--input", "-", stdin=payload)


def test_missing_file_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        run("--input", str(tmp_path / "absent.json"))


def test_bad_input_exits_non_zero_from_the_shell():
    completed = subprocess.run(
        [sys.executable, "manage.py", "imwg_response", "--input", "-"],
        input='{"baseline": {"date": "2025-01-06", "urine_ife": "maybe"}}',
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=120,
    )

    assert completed.returncode != 0
    assert "baseline.urine_ife" in completed.stderr
