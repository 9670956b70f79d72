"""The printable decision table and the dose-path ("what if") view.

Expected decisions: the escalation.md research note (core table, variants, options).
"""

from __future__ import annotations

import json

import pytest

from dosing.domain.decision_table import decision_table, dose_paths, flatten_paths, what_if
from dosing.domain.escalation import (
    DLTStatus,
    EscalationInputError,
    EscalationSettings,
    EscalationState,
)
from dosing.domain.three_plus_three import RULES

LETTERS = {"N": DLTStatus.NO_DLT, "T": DLTStatus.DLT, "P": DLTStatus.PENDING}


def state(current, levels):
    return EscalationState.build(
        current, {level: [LETTERS[ch] for ch in text] for level, text in levels.items()}
    )


def table(**kwargs):
    rows = decision_table(EscalationSettings(num_levels=5, **kwargs))
    return {(r.evaluable, r.dlts, r.situation): (r.action, r.rule_id) for r in rows}


COMMON = {
    ("0-2", "<=1", "cohort not yet full"): ("ENROL", "3p3.P1"),
    ("0-2", "<=1", "a not-evaluable patient dropped out"): ("ENROL", "3p3.P2"),
    ("0-2", "<=1", "3 enrolled, DLT window open"): ("WAIT", "3p3.P3"),
    ("3", "0", "higher level untested"): ("ESCALATE", "3p3.R1"),
    ("3", "1", "any"): ("EXPAND", "3p3.R2"),
    ("6", "<=1", "higher level untested"): ("ESCALATE", "3p3.R3"),
    ("3 or 6", ">=2", "lowest level"): ("STOP_NO_TOLERABLE_DOSE", "3p3.X1"),
}


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            {},
            {
                ("3", "0", "top level"): ("STOP_MTD", "3p3.R4"),
                ("3", "0", "higher level already had >=2 DLTs"): ("STOP_MTD", "3p3.R5"),
                ("6", "<=1", "top level"): ("STOP_MTD", "3p3.R4"),
                ("3 or 6", ">=2", "level below has 3 (0/3)"): ("STOP_MTD", "3p3.X3"),
                ("3 or 6", ">=2", "level below has 6 (<=1/6)"): ("STOP_MTD", "3p3.X3"),
            },
        ),
        (
            {"allow_deescalate": True},
            {
                ("3 or 6", ">=2", "level below has 3 (0/3)"): ("DEESCALATE", "3p3.X4"),
                ("3 or 6", ">=2", "level below has 6 (<=1/6)"): ("STOP_MTD", "3p3.X5"),
                ("6", "<=1", "higher level already had >=2 DLTs"): ("STOP_MTD", "3p3.R5"),
            },
        ),
        (
            {"require_six_at_mtd": True},
            {
                ("3", "0", "top level"): ("EXPAND", "3p3.R6"),
                ("3", "0", "higher level already had >=2 DLTs"): ("EXPAND", "3p3.R6"),
                ("6", "<=1", "top level"): ("STOP_MTD", "3p3.R4"),
                ("3 or 6", ">=2", "level below has 3 (0/3)"): ("DEESCALATE", "3p3.X7"),
            },
        ),
        (
            {"lowest_level": -1},
            {
                ("3 or 6", ">=2", "level below untested (e.g. level -1)"): (
                    "DEESCALATE",
                    "3p3.X2",
                ),
            },
        ),
    ],
)
def test_decision_table_rows(kwargs, expected):
    rows = table(**kwargs)
    for key, decision in {**COMMON, **expected}.items():
        assert rows[key] == decision, key


def test_early_determination_row_follows_the_setting():
    early = table(allow_deescalate=True)
    late = table(allow_deescalate=True, early_determination=False)
    key = ("2", "2", ">=2 DLTs before the cohort is complete, level below has 3 (0/3)")
    assert early[key] == ("DEESCALATE", "3p3.X4")
    assert late[key] == ("WAIT", "3p3.P3")


def test_level_below_untested_row_only_when_such_a_level_exists():
    assert not any("untested (e.g. level -1)" in s for _, _, s in table())


def test_tables_cover_every_rule_but_the_synthetic_x6():
    fired = set()
    for kwargs in (
        {},
        {"allow_deescalate": True},
        {"require_six_at_mtd": True},
        {"lowest_level": -1},
    ):
        fired |= {rule_id for _, rule_id in table(**kwargs).values()}
    assert fired == set(RULES) - {"3p3.X6"}


def test_table_for_a_single_level_design_is_printable():
    rows = decision_table(EscalationSettings(num_levels=1))
    assert {r.rule_id for r in rows} >= {"3p3.R2", "3p3.R4", "3p3.X1"}
    assert all(r.rule_id != "3p3.R1" for r in rows)
    json.dumps([r.to_dict() for r in rows])


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            {},
            [
                ("2NNN", "ESCALATE", 3, True),
                ("2NNT", "EXPAND", 2, True),
                ("2NTT", "STOP_MTD", 1, False),
                ("2TTT", "STOP_MTD", 1, False),
            ],
        ),
        (
            {"allow_deescalate": True},
            [
                ("2NNN", "ESCALATE", 3, True),
                ("2NNT", "EXPAND", 2, True),
                ("2NTT", "DEESCALATE", 1, True),
                ("2TTT", "DEESCALATE", 1, True),
            ],
        ),
    ],
)
def test_what_if_next_cohort(kwargs, expected):
    outcomes = what_if(EscalationSettings(num_levels=5, **kwargs), state(1, {1: "NNN"}))
    assert [
        (
            o.cohort,
            o.recommendation.action.value,
            o.recommendation.recommended_dose,
            o.recommendation.continue_trial,
        )
        for o in outcomes
    ] == expected
    assert [o.dlts for o in outcomes] == [0, 1, 2, 3]
    assert {(o.level, o.cohort_size) for o in outcomes} == {(2, 3)}


def test_what_if_while_waiting_resolves_the_pending_patients():
    outcomes = what_if(EscalationSettings(num_levels=5), state(2, {1: "NNN", 2: "NTP"}))
    assert [(o.cohort, o.recommendation.action.value) for o in outcomes] == [
        ("2N", "EXPAND"),
        ("2T", "STOP_MTD"),
    ]


def test_what_if_with_open_slots_and_pending_patients_in_the_cohort():
    outcomes = what_if(EscalationSettings(num_levels=5), state(1, {1: "NP"}))
    assert [o.cohort for o in outcomes] == ["1NN", "1NT", "1TT"]
    assert [o.recommendation.rule_id for o in outcomes] == ["3p3.R1", "3p3.R2", "3p3.X1"]


def test_what_if_after_stop_is_empty():
    assert what_if(EscalationSettings(num_levels=5), state(1, {1: "NTT"})) == ()


def test_what_if_for_the_first_cohort_of_a_level_minus_one_design():
    outcomes = what_if(EscalationSettings(num_levels=3, lowest_level=-1), state(1, {1: "NTT"}))
    assert [(o.level, o.recommendation.rule_id) for o in outcomes] == [
        (-1, "3p3.R5"),
        (-1, "3p3.R2"),
        (-1, "3p3.X1"),
        (-1, "3p3.X1"),
    ]


def test_dose_paths_two_cohorts_deep():
    root = dose_paths(EscalationSettings(num_levels=5), EscalationState(None), depth=2)
    paths = {p: n.recommendation for p, n in flatten_paths(root)}
    assert len(root.children) == 4
    assert paths[""].action.value == "ENROL"
    assert paths["1NNN 2NTT"].recommended_dose == 1
    assert paths["1NNT 1NNN"].next_level == 2
    assert paths["1NNT 1NNT"].no_tolerable_dose
    assert "1NTT 1NNN" not in paths  # stopped: no children
    assert len(paths) == 1 + 4 + 4 + 4  # root, first cohort, then two continuing branches
    json.dumps(root.to_dict())


def test_dose_paths_depth_is_bounded():
    with pytest.raises(EscalationInputError, match="depth must be between 0 and 6"):
        dose_paths(EscalationSettings(num_levels=5), EscalationState(None), depth=7)
