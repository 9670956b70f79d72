"""The rolling six rule set behind the same interface (Skolnik et al. 2008).

Grid: reference/dose-finding.md section 1.4 (rolling-6 column of Frankel et al. 2020 Table 2).
Letters: N = no DLT, T = DLT, P = pending.
"""

from __future__ import annotations

import pytest

from dosing.domain.decision_table import decision_table
from dosing.domain.escalation import DLTStatus, EscalationSettings, EscalationState
from dosing.domain.rolling_six import RULES
from dosing.domain.three_plus_three import recommend

LETTERS = {"N": DLTStatus.NO_DLT, "T": DLTStatus.DLT, "P": DLTStatus.PENDING}
R6 = {"num_levels": 5, "rule_set": "rolling6"}


def level(enrolled: int, evaluable: int, dlts: int) -> str:
    return "T" * dlts + "N" * (evaluable - dlts) + "P" * (enrolled - evaluable)


def decide(levels, current, **extra):
    settings = EscalationSettings(**{**R6, **extra})
    built = EscalationState.build(
        current, {lv: [LETTERS[ch] for ch in text] for lv, text in levels.items()}
    )
    return recommend(settings, built)


# The grid at level 2 (level 1 passed 0/3, level 3 untested): enrolled, evaluable, DLTs.
GRID = [
    (3, 3, 0, "ESCALATE"),
    (4, 4, 0, "ESCALATE"),
    (5, 5, 0, "ESCALATE"),
    (6, 5, 0, "ESCALATE"),
    (6, 6, 0, "ESCALATE"),
    (1, 0, 0, "ENROL"),
    (1, 1, 0, "ENROL"),
    (2, 2, 0, "ENROL"),
    (3, 2, 0, "ENROL"),
    (5, 3, 0, "ENROL"),
    (6, 4, 0, "WAIT"),
    (6, 0, 0, "WAIT"),
    (1, 1, 1, "ENROL"),
    (3, 3, 1, "ENROL"),
    (5, 5, 1, "ENROL"),
    (4, 2, 1, "ENROL"),
    (6, 5, 1, "WAIT"),
    (6, 3, 1, "WAIT"),
    (6, 6, 1, "ESCALATE"),
    (2, 2, 2, "DEESCALATE"),
    (4, 3, 2, "DEESCALATE"),
    (6, 6, 2, "DEESCALATE"),
    (3, 3, 3, "DEESCALATE"),
    (6, 5, 3, "DEESCALATE"),
]


@pytest.mark.parametrize(("enrolled", "evaluable", "dlts", "action"), GRID)
def test_grid(enrolled, evaluable, dlts, action):
    rec = decide({1: "NNN", 2: level(enrolled, evaluable, dlts)}, 2)
    assert rec.action.value == action
    expected_next = {"ESCALATE": 3, "DEESCALATE": 1}.get(action, 2)
    assert rec.next_level == expected_next
    # At most six on study at a level, concurrently.
    expected_slots = {"ESCALATE": 6, "DEESCALATE": 3, "WAIT": 0}.get(action, 6 - enrolled)
    assert rec.slots_open == expected_slots


@pytest.mark.parametrize(
    ("levels", "current", "extra", "expected"),
    [
        ({1: "NNN", 2: "NNNNN"}, 2, {"num_levels": 2}, ("STOP_MTD", 2, "r6.M1")),
        ({1: "NNN", 2: "NNNNNP"}, 2, {"num_levels": 2}, ("STOP_MTD", 2, "r6.M1")),
        ({1: "NNN", 2: "NNN"}, 2, {"num_levels": 2}, ("ENROL", None, "r6.M3")),
        ({1: "NNN", 2: "NNNNNT"}, 2, {"num_levels": 2}, ("STOP_MTD", 2, "r6.M1")),
        (
            {1: "NNN", 2: "NNNNN"},
            2,
            {"num_levels": 2, "require_six_at_mtd": True},
            ("ENROL", None, "r6.M3"),
        ),
        ({1: "NNNNNT", 2: "TTP"}, 1, {}, ("STOP_MTD", 1, "r6.M2")),
        ({1: "NNN", 2: "TTP"}, 1, {}, ("ENROL", None, "r6.M3")),
        ({1: "NNNNNT", 2: "TTP"}, 2, {}, ("STOP_MTD", 1, "r6.D2")),
        ({1: "NNNNPP", 2: "TTP"}, 2, {}, ("WAIT", None, "r6.D4")),
        ({1: "TTN"}, 1, {}, ("STOP_NO_TOLERABLE_DOSE", None, "r6.D3")),
        ({1: "NNNNTT", 2: "TTN"}, 1, {}, ("STOP_NO_TOLERABLE_DOSE", None, "r6.D3")),
        ({1: "TTN"}, 1, {"lowest_level": -1}, ("DEESCALATE", None, "r6.D5")),
        ({1: "NNN", 2: "NNTNNN"}, 2, {}, ("ESCALATE", None, "r6.E2")),
        ({1: "NNN"}, 1, {}, ("ESCALATE", None, "r6.E1")),
        ({}, None, {}, ("ENROL", None, "r6.P1")),
        ({1: "NNNNNP"}, 1, {"num_levels": 1, "require_six_at_mtd": True}, ("WAIT", None, "r6.P2")),
        ({1: "NNN", 2: "NNNNTT", 3: "TTN"}, 3, {}, ("DEESCALATE", None, "r6.D1")),
    ],
)
def test_rolling_six_situations(levels, current, extra, expected):
    rec = decide(levels, current, **extra)
    action, mtd, rule_id = expected
    assert (rec.action.value, rec.rule_id) == (action, rule_id)
    if action == "STOP_MTD":
        assert rec.recommended_level == mtd


def test_descent_passes_over_failed_levels():
    rec = decide({1: "NNN", 2: "NNNNTT", 3: "TTN"}, 3)
    assert rec.next_level == 1
    assert rec.slots_open == 3


def test_rule_ids_cover_the_rolling_six_table():
    fired = {r.rule_id for r in decision_table(EscalationSettings(**R6))}
    fired |= {r.rule_id for r in decision_table(EscalationSettings(**R6, lowest_level=-1))}
    fired |= {r.rule_id for r in decision_table(EscalationSettings(**R6, require_six_at_mtd=True))}
    assert fired >= set(RULES) - {"r6.D4", "r6.D5"}
    assert all(rid.startswith("r6.") for rid in fired)


def test_rolling_six_recommendation_records_its_rule_set():
    rec = decide({1: "NP"}, 1)
    assert rec.to_dict()["rule_set"] == "rolling6"
    assert rec.slots_open == 4
