"""Outcome-path notation and its replay: the R ``escalation`` semantics of escalation.md.

Expected values: the examples table of the escalation.md research note (both variants) and the
path vectors of reference/dose-finding.md section 1.5.
"""

from __future__ import annotations

import pytest

from dosing.domain.paths import PathCohort, PathError, parse_path, replay, replay_path

ALL_ZERO = "1NNN 2NNN 3NNN 4NNN 5NNN"

# path, (dose, continue) escalation only, (dose, continue) with de-escalation; 5 levels
EXAMPLES = [
    ("1NNN", (2, True), (2, True)),
    ("1NNT", (1, True), (1, True)),
    ("1NTT", (None, False), (None, False)),
    ("1NNN 2NTT", (1, False), (1, True)),
    ("1NNN 2NNT 2NNN", (3, True), (3, True)),
    (ALL_ZERO, (5, False), (5, False)),
]


@pytest.mark.parametrize(("path", "expected", "_"), EXAMPLES)
def test_escalation_md_examples_escalation_only(path, expected, _):
    result = replay_path(path, 5)
    assert (result["recommended_dose"], result["continue"]) == expected


@pytest.mark.parametrize(("path", "_", "expected"), EXAMPLES)
def test_escalation_md_examples_with_deescalation(path, _, expected):
    result = replay_path(path, 5, allow_deescalate=True)
    assert (result["recommended_dose"], result["continue"]) == expected


@pytest.mark.parametrize(
    ("path", "doses", "deescalate", "expected"),
    [
        # reference/dose-finding.md 1.5 (escalation default of the R package)
        ("1NNN 2NNT 2NNT", 5, False, (1, False)),
        ("1NNN 2NNN 3NNN 4NNN 5NNT 5NNN", 5, False, (5, False)),
        ("1NNN 2NNN 3NNN 4NNN 5NNT 5NNT", 5, False, (4, False)),
        # the same under Korn: the level below has only 3, so treat 3 more there
        ("1NNN 2NNT 2NNT", 5, True, (1, True)),
        ("1NNN 2NNN 3NNN 4NNN 5NNT 5NNT", 5, True, (4, True)),
        ("1NNN 2NNN 3NNN 4NNN 5NNT 5NNT 4NNN", 5, True, (4, False)),
        ("1NNN 2NNN 3NNN 4NNN 5NNT 5NNT 4NTT", 5, True, (3, True)),
        # Korn cascade and its end points
        ("1NNN 2NNN 3NTT 2NNN", 5, True, (2, False)),
        ("1NNN 2NNN 3NTT 2NTT", 5, True, (1, True)),
        ("1NNN 2NNN 3NTT 2NTT 1NNT", 5, True, (1, False)),
        ("1NNN 2NTT 1NTT", 5, True, (None, False)),
        ("1NNN 2NNT 2NNN 3NTT", 5, True, (2, False)),
        # the R package's own example starts above level 1
        ("2NNN 3NNT", 7, False, (3, True)),
        # incomplete last cohort: R continues at that level until the cohort is complete
        ("", 5, False, (1, True)),
        ("1NNN 2N", 5, False, (2, True)),
        ("1NNN 2TT", 5, False, (2, True)),
        ("1NNN 2NN 2N", 5, False, (3, True)),
        ("1NNT 1NN", 5, True, (1, True)),
        # a six-letter cohort is counted as 3 then 3, as R counts patients
        ("1NNTNNN", 5, False, (2, True)),
        # one level only
        ("1NNN", 1, False, (1, False)),
        ("1NNT 1NNN", 1, True, (1, False)),
    ],
)
def test_path_vectors(path, doses, deescalate, expected):
    result = replay_path(path, doses, allow_deescalate=deescalate)
    assert (result["recommended_dose"], result["continue"]) == expected


def test_early_determination_option_decides_incomplete_cohort():
    assert replay_path("1NNN 2TT", 5, early_determination=True)["recommended_dose"] == 1
    assert replay_path("1NNN 2TT", 5, early_determination=True)["continue"] is False


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (ALL_ZERO, (5, True, "EXPAND", "3p3.R6")),
        (ALL_ZERO + " 5NNT", (5, False, "STOP_MTD", "3p3.R4")),
        ("1NNN 2NTT", (1, True, "DEESCALATE", "3p3.X7")),
        ("1NNN 2NTT 1NNN", (1, False, "STOP_MTD", "3p3.R5")),
    ],
)
def test_require_six_at_mtd(path, expected):
    result = replay_path(path, 5, require_six_at_mtd=True)
    assert (
        result["recommended_dose"],
        result["continue"],
        result["action"],
        result["rule_id"],
    ) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("1NTT", (-1, True, "DEESCALATE")),
        ("1NTT -1NNN", (-1, False, "STOP_MTD")),
        ("1NTT -1NNT", (-1, True, "EXPAND")),
        ("1NTT -1NNT -1TNN", (None, False, "STOP_NO_TOLERABLE_DOSE")),
        ("1NNN 2NTT", (1, False, "STOP_MTD")),
    ],
)
def test_level_minus_one(path, expected):
    result = replay_path(path, 3, lowest_level=-1)
    assert (result["recommended_dose"], result["continue"], result["action"]) == expected
    assert result["levels"] == [-1, 1, 2, 3]


def test_result_fields():
    result = replay_path("1NNN 2NNT 2NTN", 4)
    assert result["recommended_dose"] == 1
    assert result["continue"] is False
    assert result["next_dose"] is None
    assert result["mtd"] == 1
    assert result["no_tolerable_dose"] is False
    assert result["action"] == "STOP_MTD"
    assert result["rule_id"] == "3p3.X3"
    assert result["n_at_dose"] == [3, 6, 0, 0]
    assert result["tox_at_dose"] == [0, 2, 0, 0]
    assert result["num_patients"] == 9
    assert result["path"] == "1NNN 2NNT 2NTN"


def test_replay_exposes_state_for_the_service():
    result = replay("1NNN 2NNT", 3)
    assert result.state.current_level == 2
    assert result.recommendation.slots_open == 3
    assert result.settings.start_level == 1


def test_parse_path():
    assert parse_path("  1NNN   2NTT ") == (PathCohort(1, "NNN"), PathCohort(2, "NTT"))
    assert parse_path("-1NT")[0] == PathCohort(-1, "NT")
    assert parse_path("2NTT")[0].dlts == 2
    assert parse_path("") == ()


@pytest.mark.parametrize(
    ("path", "doses", "options", "message"),
    [
        ("1NNN 3NNN", 5, {}, "level skipped"),
        ("1NNN 2NNN 3NNN 1NNN", 5, {}, "level skipped"),
        ("1NNT 1NNN 1N", 5, {}, "7 patients at level 1; at most 6"),
        ("1NNTNNNN", 5, {}, "7 patients at level 1; at most 6"),
        ("1NNN 1NNN", 5, {}, "more than 3 patients at level 1, which had 0 DLTs in 3"),
        ("1NNN 2NNN 2N", 5, {}, "more than 3 patients at level 2, which had 0 DLTs in 3"),
        (ALL_ZERO + " 5NNN", 5, {}, "more than 3 patients at level 5, which had 0 DLTs in 3"),
        ("1NNN 2NTT 1NNN", 5, {}, "more than 3 patients at level 1, which had 0 DLTs in 3"),
        ("1NXN", 5, {}, "contains 'X': only N \\(no DLT\\) and T \\(DLT\\)"),
        ("1nnn", 5, {}, "contains 'n'"),
        ("1NN 2NNN", 5, {}, "more than one incomplete cohort"),
        ("1NNN 2N 3NNN", 5, {}, "more than one incomplete cohort"),
        ("6NNN", 5, {}, "level 6 is out of range; the levels are 1..5"),
        ("1NNN 2NNN 3NNN 4NNN 5NNN 6NNN", 5, {}, "level 6 is out of range"),
        ("0NNN", 5, {}, "level 0 is out of range"),
        ("-1NNN", 5, {}, "level -1 is out of range"),
        ("NNN", 5, {}, "must start with a dose-level number"),
        ("2", 5, {}, "has a level but no patient outcomes"),
        ("1NTT 1NNN", 5, {}, "continues after the trial stopped"),
        ("1NNN 2NTT 2NNN", 5, {}, "continues after the trial stopped"),
        ("1NNN 2NNT 3NNN", 5, {}, "level 3 does not follow the rules; the rules said .3p3.R2"),
        ("1NNN 2NNT 1NNN", 5, {}, "more than 3 patients at level 1, which had 0 DLTs in 3"),
        ("2NNN", 5, {"start_level": 1}, "must start at the start level 1"),
        ("1NNN", 0, {}, "num_levels must be at least 1"),
    ],
)
def test_invalid_paths(path, doses, options, message):
    with pytest.raises(PathError, match=message):
        replay_path(path, doses, **options)


def test_path_error_is_a_value_error():
    assert issubclass(PathError, ValueError)
