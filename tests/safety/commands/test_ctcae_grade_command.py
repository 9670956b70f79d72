"""`manage.py ctcae_grade`: JSON out, clear CommandErrors, non-zero exit on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

ROOT = Path(__file__).resolve().parents[3]


def grade(*args: str) -> dict:
    out = StringIO()
    call_command("ctcae_grade", *args, stdout=out)
    return json.loads(out.getvalue())


def test_neutrophils_0_8_is_grade_3():
    result = grade("--term", "Neutrophil count decreased", "--value", "0.8", "--unit", "10^9/L")

    assert result["grade"] == 3
    assert result["term"] == "Neutrophil count decreased"
    assert result["value"] == 0.8
    assert result["unit"] == "10^9/L"
    assert result["rule"].startswith("CTCAE v5.0 Neutrophil count decreased: grade 3")
    assert result["ctcae_version"] == "5.0"


def test_site_lln_and_the_1_45_case():
    result = grade(
        "--term",
        "Neutrophil count decreased",
        "--value",
        "1.45",
        "--unit",
        "10^9/L",
        "--lln",
        "1.4",
    )

    assert (result["grade"], result["lln"], result["defaults_used"]) == (2, 1.4, [])
    assert "grades 2-4 do not reference the LLN" in result["rule"]


def test_within_normal_limits_is_grade_0():
    result = grade("--term", "Platelet count decreased", "--value", "250000", "--unit", "/mm3")

    assert result["grade"] == 0
    assert (result["value"], result["unit"]) == (250.0, "10^9/L")
    assert (result["input_value"], result["input_unit"]) == ("250000", "/mm3")


def test_creatinine_with_uln_and_baseline():
    result = grade(
        "--term", "Creatinine increased", "--value", "1.0", "--unit", "mg/dL",
        "--uln", "1.2", "--baseline", "0.3",
    )  # fmt: skip

    assert (result["grade"], result["baseline"], result["uln"]) == (3, 0.3, 1.2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--term", "Neutropenia", "--value", "0.8", "--unit", "10^9/L"),
            "unknown CTCAE v5.0 term 'Neutropenia'",
        ),
        (("--term", "Fatigue", "--value", "1", "--unit", "10^9/L"), "not graded from a lab value"),
        (
            ("--term", "Anemia", "--value", "9", "--unit", "mg/dL"),
            "accepted units: 'g/dL', 'g/L', 'mmol/L'",
        ),
        (("--term", "Anemia", "--value", "-1", "--unit", "g/dL"), "cannot be negative"),
        (("--term", "Anemia", "--value", "nine", "--unit", "g/dL"), "not a number: 'nine'"),
        (
            ("--term", "Anemia", "--value", "9", "--unit", "g/dL", "--ctcae-version", "6.0"),
            "unknown CTCAE version '6.0'",
        ),
    ],
)
def test_bad_input_is_a_command_error(args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace("^", r"\^")):
        call_command("ctcae_grade", *args)


def test_unknown_unit_exits_non_zero_with_the_message_on_stderr():
    completed = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "ctcae_grade",
            "--term",
            "Neutrophil count decreased",
            "--value",
            "0.8",
            "--unit",
            "furlongs",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode != 0
    assert "unit 'furlongs' is not accepted for 'Neutrophil count decreased'" in completed.stderr
    assert "'10^9/L'" in completed.stderr
