"""The what-if and operating-characteristics commands: one JSON object on stdout.

The commands need no database. Expected values: the escalation.md research note.
"""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError


def run(name: str, *args: str) -> dict:
    out = StringIO()
    call_command(name, *args, stdout=out)
    text = out.getvalue()
    assert text.count("\n") == 1  # exactly one JSON object, one line
    return json.loads(text)


EXAMPLES = [
    ("1NNN", (2, True), (2, True)),
    ("1NNT", (1, True), (1, True)),
    ("1NTT", (None, False), (None, False)),
    ("1NNN 2NTT", (1, False), (1, True)),
    ("1NNN 2NNT 2NNN", (3, True), (3, True)),
    ("1NNN 2NNN 3NNN 4NNN 5NNN", (5, False), (5, False)),
]


@pytest.mark.parametrize(("path", "escalation_only", "deescalation"), EXAMPLES)
def test_three_plus_three_examples(path, escalation_only, deescalation):
    plain = run("three_plus_three", "--doses", "5", "--path", path)
    korn = run("three_plus_three", "--doses", "5", "--path", path, "--deescalate")
    assert (plain["recommended_dose"], plain["continue"]) == escalation_only
    assert (korn["recommended_dose"], korn["continue"]) == deescalation


def test_three_plus_three_reports_rule_and_next_dose():
    data = run("three_plus_three", "--doses", "5", "--path", "1NNN 2NTT", "--deescalate")
    assert data["action"] == "DEESCALATE"
    assert data["rule_id"] == "3p3.X4"
    assert data["next_dose"] == 1
    assert data["rule_version"]


def test_three_plus_three_options():
    six = run(
        "three_plus_three",
        "--doses",
        "2",
        "--path",
        "1NNN 2NNN",
        "--require-six-at-mtd",
    )
    minus_one = run("three_plus_three", "--doses", "3", "--path", "1NTT", "--level-minus-one")
    early = run("three_plus_three", "--doses", "5", "--path", "1NNN 2TT", "--early-determination")
    assert (six["recommended_dose"], six["continue"], six["action"]) == (2, True, "EXPAND")
    assert (minus_one["recommended_dose"], minus_one["continue"]) == (-1, True)
    assert (early["recommended_dose"], early["continue"]) == (1, False)


def test_three_plus_three_what_if():
    data = run("three_plus_three", "--doses", "5", "--path", "1NNN", "--what-if")
    assert [(w["cohort"], w["recommended_dose"], w["continue"]) for w in data["what_if"]] == [
        ("2NNN", 3, True),
        ("2NNT", 2, True),
        ("2NTT", 1, False),
        ("2TTT", 1, False),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--doses", "5", "--path", "1NNN 3NNN"), "level skipped"),
        (("--doses", "5", "--path", "1NNT 1NNN 1N"), "at most 6"),
        (("--doses", "5", "--path", "1NNN 1NNN"), "which had 0 DLTs in 3"),
        (("--doses", "5", "--path", "1NXN"), "only N \\(no DLT\\) and T \\(DLT\\)"),
        (("--doses", "5", "--path", "1NN 2NNN"), "more than one incomplete cohort"),
        (("--doses", "3", "--path", "4NNN"), "out of range"),
        (("--doses", "0", "--path", "1NNN"), "num_levels must be at least 1"),
    ],
)
def test_three_plus_three_invalid_input(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("three_plus_three", *args, stdout=StringIO())


def test_three_plus_three_exits_non_zero_from_the_command_line(capsys):
    # CommandError from the command line becomes exit status 1 (BaseCommand.run_from_argv).
    from django.core.management import ManagementUtility

    with pytest.raises(SystemExit) as exc:
        ManagementUtility(
            ["manage.py", "three_plus_three", "--doses", "5", "--path", "1NNN 3NNN"]
        ).execute()
    assert exc.value.code == 1
    assert "level skipped" in capsys.readouterr().err


def test_oc_reference_scenario():
    data = run("three_plus_three_oc", "--tox", "0.05,0.1,0.2,0.3,0.5")
    assert data["method"] == "exact"
    assert round(data["p_no_dose"], 4) == 0.0266
    assert [round(p, 4) for p in data["p_select"]] == [0.0914, 0.2570, 0.3161, 0.2558, 0.0531]
    assert data["expected_n"] == pytest.approx(14.67, abs=0.005)


def test_oc_deescalation_and_simulation():
    data = run(
        "three_plus_three_oc",
        "--tox",
        "0.05,0.1,0.2,0.3,0.5",
        "--deescalate",
        "--sims",
        "4000",
        "--seed",
        "9",
    )
    assert data["settings"]["allow_deescalate"] is True
    assert round(data["p_no_dose"], 4) == 0.0272
    sim = data["simulation"]
    assert sim["seed"] == 9
    assert sim["n_sims"] == 4000
    assert len(sim["p_select"]) == 5
    assert abs(sim["expected_n"] - data["expected_n"]) <= 4 * sim["se_expected_n"]
    again = run(
        "three_plus_three_oc",
        "--tox",
        "0.05,0.1,0.2,0.3,0.5",
        "--deescalate",
        "--sims",
        "4000",
        "--seed",
        "9",
    )
    assert again == data


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--tox", "0.1,abc"), "comma-separated probabilities"),
        (("--tox", "0.1,,0.2"), "comma-separated probabilities"),
        (("--tox", "0.1,1.5"), "must lie in \\[0, 1\\]"),
        (("--tox", "0.1", "--sims", "0"), "--sims must be between 1"),
        (("--tox", "0.1", "--seed", "3"), "--seed only applies together with --sims"),
        (("--tox", "0.3", "--level-minus-one"), "at least 1"),
    ],
)
def test_oc_invalid_input(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("three_plus_three_oc", *args, stdout=StringIO())
