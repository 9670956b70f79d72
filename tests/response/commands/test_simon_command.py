"""The simon_design command: the JSON interface statisticians and checks rely on (simon.md)."""

import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

ROOT = Path(__file__).resolve().parents[3]
REQUIRED_KEYS = {"r1", "n1", "r", "n", "en0", "pet0", "alpha", "power", "rule"}


def run(*args: str) -> tuple[dict, str]:
    out, err = StringIO(), StringIO()
    call_command("simon_design", *args, stdout=out, stderr=err)
    return json.loads(out.getvalue()), err.getvalue()


def test_trial_a_assumed_design():
    payload, _ = run("--p0", "0.20", "--p1", "0.45", "--alpha", "0.10", "--beta", "0.10")

    optimal, minimax = payload["optimal"], payload["minimax"]
    assert optimal.keys() >= REQUIRED_KEYS
    assert minimax.keys() >= REQUIRED_KEYS
    assert (optimal["r1"], optimal["n1"], optimal["r"], optimal["n"]) == (3, 14, 7, 25)
    assert optimal["rule"] == (
        "Stop after 14 patients if 3 or fewer respond; "
        "the drug is promising if more than 7 of 25 respond."
    )
    assert optimal["alpha"] <= 0.10
    assert optimal["power"] >= 0.90
    assert (minimax["r1"], minimax["n1"], minimax["r"], minimax["n"]) == (3, 15, 7, 24)


def test_simon_reference_design_to_printed_precision():
    payload, _ = run("--p0", "0.2", "--p1", "0.4", "--alpha", "0.05", "--beta", "0.2")

    optimal = payload["optimal"]
    assert (optimal["r1"], optimal["n1"], optimal["r"], optimal["n"]) == (3, 13, 12, 43)
    assert round(optimal["en0"], 2) == 20.58
    assert round(optimal["pet0"], 3) == 0.747


def test_optimum_near_nmax_is_warned_on_stderr_and_in_the_json():
    payload, err = run(
        "--p0", "0.30", "--p1", "0.45", "--alpha", "0.05", "--beta", "0.20", "--nmax", "90"
    )

    assert payload["optimal"]["n"] == 81
    assert "within 10 of nmax (90)" in err
    assert payload["warnings"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--p0", "0.4", "--p1", "0.3"], "p1 (0.3) must be greater than p0 (0.4)"),
        (["--p0", "0.3", "--p1", "0.3"], "must be greater than p0"),
        (["--p0", "0", "--p1", "0.3"], "p0 must be strictly between 0 and 1"),
        (["--p0", "0.1", "--p1", "1.2"], "p1 must be strictly between 0 and 1"),
        (["--p0", "0.1", "--p1", "0.3", "--alpha", "1"], "alpha must be strictly between"),
        (["--p0", "0.1", "--p1", "0.3", "--beta", "-0.1"], "beta must be strictly between"),
        (["--p0", "abc", "--p1", "0.3"], "expected a number"),
        (["--p0", "nan", "--p1", "0.3"], "expected a finite number"),
        (["--p0", "0.1", "--p1", "0.3", "--nmax", "1"], "nmax must be at least 2"),
    ],
)
def test_bad_arguments_raise_command_error(args, message):
    defaults = {"--alpha": "0.05", "--beta": "0.2"}
    for flag, value in defaults.items():
        if flag not in args:
            args = [*args, flag, value]

    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("simon_design", *args, stdout=StringIO(), stderr=StringIO())


def test_no_feasible_design_is_a_clear_message():
    with pytest.raises(CommandError, match="No Simon two-stage design with n ≤ 40"):
        call_command(
            "simon_design",
            *("--p0", "0.3", "--p1", "0.45", "--alpha", "0.05", "--beta", "0.2", "--nmax", "40"),
            stdout=StringIO(),
            stderr=StringIO(),
        )


def test_command_line_prints_one_json_object_and_exits_non_zero_on_bad_input():
    manage = [sys.executable, str(ROOT / "manage.py"), "simon_design"]
    good = subprocess.run(
        [*manage, "--p0", "0.2", "--p1", "0.45", "--alpha", "0.1", "--beta", "0.1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    bad = subprocess.run(
        [*manage, "--p0", "0.5", "--p1", "0.4", "--alpha", "0.1", "--beta", "0.1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )

    assert good.returncode == 0
    assert json.loads(good.stdout)["optimal"]["n"] == 25
    assert bad.returncode != 0
    assert "must be greater than p0" in bad.stderr
    assert "Traceback" not in bad.stderr
