"""The live 3+3 engine: every rule, variant and option on patient DLT states.

Cases follow the escalation.md research note and reference/dose-finding.md section 1 (Storer 1989,
Korn et al. 1994, Le Tourneau et al. 2009). Patient letters: N = no DLT (window complete),
T = DLT, P = DLT window pending, X = not evaluable.
"""

from __future__ import annotations

import json

import pytest

from dosing.domain.escalation import LevelPatients, PatientDLTState
from dosing.domain.three_plus_three import (
    RULE_VERSION,
    RULES,
    DLTStatus,
    EscalationAction,
    EscalationInputError,
    EscalationSettings,
    EscalationState,
    input_hash,
    recommend,
    snapshot,
)

LETTERS = {
    "N": DLTStatus.NO_DLT,
    "T": DLTStatus.DLT,
    "P": DLTStatus.PENDING,
    "X": DLTStatus.NOT_EVALUABLE,
}
A = EscalationAction


def state(current: int | None, levels: dict[int, str]) -> EscalationState:
    return EscalationState.build(
        current, {level: [LETTERS[ch] for ch in text] for level, text in levels.items()}
    )


ESC = {"num_levels": 5}
KORN = {"num_levels": 5, "allow_deescalate": True}
SIX = {"num_levels": 5, "require_six_at_mtd": True}
MINUS1 = {"num_levels": 5, "lowest_level": -1}
MINUS1_KORN = {"num_levels": 5, "lowest_level": -1, "allow_deescalate": True}
LATE = {"num_levels": 5, "early_determination": False}

# (id, settings, current level, patients, action, next_level, recommended_level, slots, rule)
CASES = [
    # --- cohort progress, live states
    ("no patients yet", ESC, None, {}, A.ENROL, 1, None, 3, "3p3.P1"),
    ("first patient enrolled", ESC, 1, {1: "P"}, A.ENROL, 1, None, 2, "3p3.P1"),
    ("two evaluable, one slot", ESC, 1, {1: "NN"}, A.ENROL, 1, None, 1, "3p3.P1"),
    ("cohort full, one pending", ESC, 1, {1: "NNP"}, A.WAIT, 1, None, 0, "3p3.P3"),
    ("cohort full, all pending", ESC, 1, {1: "PPP"}, A.WAIT, 1, None, 0, "3p3.P3"),
    ("1 DLT and a pending one: wait", ESC, 1, {1: "NTP"}, A.WAIT, 1, None, 0, "3p3.P3"),
    ("not evaluable: one replacement", ESC, 1, {1: "NNX"}, A.ENROL, 1, None, 1, "3p3.P2"),
    ("two not evaluable: two", ESC, 1, {1: "XNX"}, A.ENROL, 1, None, 2, "3p3.P2"),
    ("replacement pending: wait", ESC, 1, {1: "NNXP"}, A.WAIT, 1, None, 0, "3p3.P3"),
    ("replacement done: 0/3", ESC, 1, {1: "NXNN"}, A.ESCALATE, 2, None, 3, "3p3.R1"),
    ("replacement done: 1/3", ESC, 1, {1: "NXTN"}, A.EXPAND, 1, None, 3, "3p3.R2"),
    ("second cohort: 2 slots left", ESC, 1, {1: "NNTP"}, A.ENROL, 1, None, 2, "3p3.P1"),
    ("second cohort full, pending", ESC, 1, {1: "NNTNPP"}, A.WAIT, 1, None, 0, "3p3.P3"),
    ("second cohort, not evaluable", ESC, 1, {1: "NNTNNX"}, A.ENROL, 1, None, 1, "3p3.P2"),
    # --- core table
    ("0/3 escalate", ESC, 1, {1: "NNN"}, A.ESCALATE, 2, None, 3, "3p3.R1"),
    ("1/3 expand", ESC, 2, {1: "NNN", 2: "NTN"}, A.EXPAND, 2, None, 3, "3p3.R2"),
    ("1/6 escalate", ESC, 2, {1: "NNN", 2: "NTNNNN"}, A.ESCALATE, 3, None, 3, "3p3.R3"),
    # --- MTD exceeded, escalation only (Storer)
    (
        "2/3 at level 1: no dose",
        ESC,
        1,
        {1: "NTT"},
        A.STOP_NO_TOLERABLE_DOSE,
        None,
        None,
        0,
        "3p3.X1",
    ),
    (
        "3/3 at level 1: no dose",
        ESC,
        1,
        {1: "TTT"},
        A.STOP_NO_TOLERABLE_DOSE,
        None,
        None,
        0,
        "3p3.X1",
    ),
    (
        "2/6 at level 1: no dose",
        ESC,
        1,
        {1: "NTNNTN"},
        A.STOP_NO_TOLERABLE_DOSE,
        None,
        None,
        0,
        "3p3.X1",
    ),
    ("2/3: MTD below, 3 there", ESC, 2, {1: "NNN", 2: "TNT"}, A.STOP_MTD, None, 1, 0, "3p3.X3"),
    ("2/6: MTD below", ESC, 3, {1: "NNN", 2: "NNN", 3: "NNTNTN"}, A.STOP_MTD, None, 2, 0, "3p3.X3"),
    # --- early determination: >=2 DLTs decide at once
    ("2 DLT + pending: decided", ESC, 2, {1: "NNN", 2: "TTP"}, A.STOP_MTD, None, 1, 0, "3p3.X3"),
    (
        "2 DLT, slot unfilled: decided",
        ESC,
        2,
        {1: "NNN", 2: "TT"},
        A.STOP_MTD,
        None,
        1,
        0,
        "3p3.X3",
    ),
    ("2 DLT + pending, Korn", KORN, 2, {1: "NNN", 2: "PTT"}, A.DEESCALATE, 1, None, 3, "3p3.X4"),
    (
        "2nd cohort 2 DLT + pending",
        ESC,
        1,
        {1: "NNTTPP"},
        A.STOP_NO_TOLERABLE_DOSE,
        None,
        None,
        0,
        "3p3.X1",
    ),
    (
        "early off: 2 DLT + pending waits",
        LATE,
        2,
        {1: "NNN", 2: "TTP"},
        A.WAIT,
        2,
        None,
        0,
        "3p3.P3",
    ),
    ("early off: 2 DLT, slot open", LATE, 2, {1: "NNN", 2: "TT"}, A.ENROL, 2, None, 1, "3p3.P1"),
    ("early off: complete 2/3", LATE, 2, {1: "NNN", 2: "TTN"}, A.STOP_MTD, None, 1, 0, "3p3.X3"),
    # --- top level
    (
        "0/3 at top: MTD",
        ESC,
        5,
        {1: "NNN", 2: "NNN", 3: "NNN", 4: "NNN", 5: "NNN"},
        A.STOP_MTD,
        None,
        5,
        0,
        "3p3.R4",
    ),
    (
        "1/6 at top: MTD",
        ESC,
        5,
        {1: "NNN", 2: "NNN", 3: "NNN", 4: "NNN", 5: "NNTNNN"},
        A.STOP_MTD,
        None,
        5,
        0,
        "3p3.R4",
    ),
    (
        "2/6 at top: MTD below",
        ESC,
        5,
        {1: "NNN", 2: "NNN", 3: "NNN", 4: "NNN", 5: "NNTNNT"},
        A.STOP_MTD,
        None,
        4,
        0,
        "3p3.X3",
    ),
    # --- de-escalation (Korn) with cascade
    ("Korn 2/3: back to 1", KORN, 2, {1: "NNN", 2: "NTT"}, A.DEESCALATE, 1, None, 3, "3p3.X4"),
    (
        "Korn: 0/6 below failed: MTD",
        KORN,
        1,
        {1: "NNNNNN", 2: "NTT"},
        A.STOP_MTD,
        None,
        1,
        0,
        "3p3.R5",
    ),
    (
        "Korn: 1/6 below failed: MTD",
        KORN,
        1,
        {1: "NNNNTN", 2: "NTT"},
        A.STOP_MTD,
        None,
        1,
        0,
        "3p3.R5",
    ),
    (
        "Korn: below fails too: no dose",
        KORN,
        1,
        {1: "NNNNTT", 2: "NTT"},
        A.STOP_NO_TOLERABLE_DOSE,
        None,
        None,
        0,
        "3p3.X1",
    ),
    (
        "Korn cascade 3 -> 2",
        KORN,
        3,
        {1: "NNN", 2: "NNN", 3: "TNT"},
        A.DEESCALATE,
        2,
        None,
        3,
        "3p3.X4",
    ),
    (
        "Korn cascade 2 -> 1",
        KORN,
        2,
        {1: "NNN", 2: "NNNTNT", 3: "TNT"},
        A.DEESCALATE,
        1,
        None,
        3,
        "3p3.X4",
    ),
    (
        "Korn cascade ends at 1",
        KORN,
        1,
        {1: "NNNNNN", 2: "NNNTNT", 3: "TNT"},
        A.STOP_MTD,
        None,
        1,
        0,
        "3p3.R5",
    ),
    (
        "Korn below has 6: stop",
        KORN,
        3,
        {1: "NNN", 2: "NNTNNN", 3: "NTT"},
        A.STOP_MTD,
        None,
        2,
        0,
        "3p3.X5",
    ),
    (
        "Korn top 2/6: back to 4",
        KORN,
        5,
        {1: "NNN", 2: "NNN", 3: "NNN", 4: "NNN", 5: "NNTNNT"},
        A.DEESCALATE,
        4,
        None,
        3,
        "3p3.X4",
    ),
    (
        "Korn: no level <=1/6",
        KORN,
        2,
        {1: "NNTNNT", 2: "NTT"},
        A.STOP_NO_TOLERABLE_DOSE,
        None,
        None,
        0,
        "3p3.X6",
    ),
    # --- never re-escalate into a failed level or one that had six
    ("next level had 6", KORN, 1, {1: "NNNNNN", 2: "NNTNNN"}, A.STOP_MTD, None, 1, 0, "3p3.R5"),
    (
        "next level had 2 DLT, 0/3 here",
        ESC,
        1,
        {1: "NNN", 2: "TTN"},
        A.STOP_MTD,
        None,
        1,
        0,
        "3p3.R5",
    ),
    # --- require six at the MTD
    (
        "six: 0/3 at top expands",
        SIX,
        5,
        {1: "NNN", 2: "NNN", 3: "NNN", 4: "NNN", 5: "NNN"},
        A.EXPAND,
        5,
        None,
        3,
        "3p3.R6",
    ),
    (
        "six: 0/6 at top stops",
        SIX,
        5,
        {1: "NNN", 2: "NNN", 3: "NNN", 4: "NNN", 5: "NNNNNN"},
        A.STOP_MTD,
        None,
        5,
        0,
        "3p3.R4",
    ),
    (
        "six: 2/3 goes back to confirm",
        SIX,
        2,
        {1: "NNN", 2: "NTT"},
        A.DEESCALATE,
        1,
        None,
        3,
        "3p3.X7",
    ),
    ("six: confirmed 1/6 stops", SIX, 1, {1: "NNNNTN", 2: "NTT"}, A.STOP_MTD, None, 1, 0, "3p3.R5"),
    (
        "six: confirmation fails",
        SIX,
        1,
        {1: "NNNTNT", 2: "NTT"},
        A.STOP_NO_TOLERABLE_DOSE,
        None,
        None,
        0,
        "3p3.X1",
    ),
    (
        "six: MTD below already has 6",
        SIX,
        3,
        {1: "NNN", 2: "NTNNNN", 3: "TTN"},
        A.STOP_MTD,
        None,
        2,
        0,
        "3p3.X3",
    ),
    # --- dose level -1 (protocol fallback below the start level)
    ("level 1 fails: go to -1", MINUS1, 1, {1: "NTT"}, A.DEESCALATE, -1, None, 3, "3p3.X2"),
    (
        "Korn level 1 fails: go to -1",
        MINUS1_KORN,
        1,
        {1: "TTN"},
        A.DEESCALATE,
        -1,
        None,
        3,
        "3p3.X2",
    ),
    ("-1 at 0/3: MTD -1", MINUS1, -1, {-1: "NNN", 1: "NTT"}, A.STOP_MTD, None, -1, 0, "3p3.R5"),
    ("-1 at 1/3: expand", MINUS1, -1, {-1: "NTN", 1: "NTT"}, A.EXPAND, -1, None, 3, "3p3.R2"),
    ("-1 at 1/6: MTD -1", MINUS1, -1, {-1: "NTNNNN", 1: "NTT"}, A.STOP_MTD, None, -1, 0, "3p3.R5"),
    (
        "-1 too toxic: no dose",
        MINUS1,
        -1,
        {-1: "NTT", 1: "NTT"},
        A.STOP_NO_TOLERABLE_DOSE,
        None,
        None,
        0,
        "3p3.X1",
    ),
    ("-1: 0/3 at 1 escalates to 2", MINUS1, 1, {1: "NNN"}, A.ESCALATE, 2, None, 3, "3p3.R1"),
]


@pytest.mark.parametrize(
    ("design", "current", "patients", "action", "next_level", "mtd", "slots", "rule_id"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_recommendation(design, current, patients, action, next_level, mtd, slots, rule_id):
    # when
    rec = recommend(EscalationSettings(**design), state(current, patients))
    # then
    assert (rec.action, rec.next_level, rec.recommended_level, rec.slots_open, rec.rule_id) == (
        action,
        next_level,
        mtd,
        slots,
        rule_id,
    )
    assert rec.continue_trial is not action.is_terminal
    assert rec.rule.startswith(rule_id + ": ")
    assert rec.rule_version == RULE_VERSION


def test_every_rule_of_the_table_is_exercised():
    assert {case[-1] for case in CASES} == set(RULES)


@pytest.mark.parametrize(
    ("patients", "early"),
    [({1: "NNN", 2: "TTP"}, True), ({1: "NNN", 2: "TT"}, True), ({1: "NNN", 2: "TTN"}, False)],
)
def test_early_determination_is_flagged(patients, early):
    rec = recommend(EscalationSettings(num_levels=5), state(2, patients))
    assert rec.early_determination is early
    assert ("decided early" in rec.explanation) is early


def test_no_tolerable_dose_is_distinct_from_mtd_found():
    rec = recommend(EscalationSettings(num_levels=3), state(1, {1: "TTN"}))
    assert rec.action is A.STOP_NO_TOLERABLE_DOSE
    assert rec.no_tolerable_dose
    assert (rec.recommended_level, rec.recommended_dose, rec.continue_trial) == (None, None, False)


def test_recommended_dose_mirrors_r_semantics():
    going = recommend(EscalationSettings(num_levels=5), state(1, {1: "NNN"}))
    stopped = recommend(EscalationSettings(num_levels=5), state(2, {1: "NNN", 2: "NTT"}))
    assert (going.recommended_dose, going.recommended_level) == (2, None)
    assert (stopped.recommended_dose, stopped.next_level) == (1, None)


def test_start_above_lowest_level_falls_back_to_untested_level_below():
    settings = EscalationSettings(num_levels=5, start_level=2)
    assert recommend(settings, state(None, {})).next_level == 2
    rec = recommend(settings, state(2, {2: "NTT"}))
    assert (rec.action, rec.next_level, rec.rule_id) == (A.DEESCALATE, 1, "3p3.X2")


def test_korn_does_not_reenter_a_level_that_failed_while_pending():
    # Level 3 was decided early with a patient pending; level 2 then confirms at 0/6.
    rec = recommend(
        EscalationSettings(num_levels=5, allow_deescalate=True),
        state(2, {1: "NNN", 2: "NNNNNN", 3: "TTP"}),
    )
    assert (rec.action, rec.recommended_level, rec.rule_id) == (A.STOP_MTD, 2, "3p3.R5")


@pytest.mark.parametrize(
    ("design", "current", "patients", "message"),
    [
        ({"num_levels": 3}, 4, {4: "N"}, "level 4, which is not one of the levels"),
        ({"num_levels": 3}, 1, {1: "NNNNNNP"}, "7 patients hold a slot at level 1"),
        ({"num_levels": 3}, 5, {1: "N"}, "current level 5 is not one of the levels"),
        ({"num_levels": 3}, None, {1: "N"}, "no current level"),
        ({"num_levels": 3, "lowest_level": -1}, 0, {}, "current level 0"),
    ],
)
def test_invalid_state_is_rejected(design, current, patients, message):
    with pytest.raises(EscalationInputError, match=message):
        recommend(EscalationSettings(**design), state(current, patients))


def test_seven_slots_cannot_be_hidden_by_not_evaluable_patients():
    # Not-evaluable patients hold no slot, so 6 enrolled plus one dropout is allowed.
    rec = recommend(EscalationSettings(num_levels=3), state(1, {1: "NNTNNNX"}))
    assert rec.action is A.ESCALATE


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_levels": 0}, "num_levels must be at least 1"),
        ({"num_levels": 3, "lowest_level": 0}, "lowest_level must be 1 or a negative"),
        ({"num_levels": 3, "lowest_level": 2}, "lowest_level must be 1 or a negative"),
        ({"num_levels": 3, "start_level": 4}, "start_level 4 is not one of the levels"),
        ({"num_levels": 3, "start_level": 0, "lowest_level": -1}, "start_level 0"),
        ({"num_levels": 3, "rule_set": "crm"}, "unknown rule set 'crm'"),
    ],
)
def test_invalid_settings_are_rejected(kwargs, message):
    with pytest.raises(EscalationInputError, match=message):
        EscalationSettings(**kwargs)


def test_duplicate_level_and_unknown_status_are_rejected():
    with pytest.raises(EscalationInputError, match="more than once"):
        EscalationState(current_level=1, levels=(LevelPatients(1), LevelPatients(1)))
    with pytest.raises(EscalationInputError, match="unknown DLT status 'MAYBE'"):
        PatientDLTState("MAYBE")  # type: ignore[arg-type]


def test_levels_skip_zero():
    assert EscalationSettings(num_levels=3, lowest_level=-2).levels == (-2, -1, 1, 2, 3)


def test_input_snapshot_is_json_and_hash_tracks_the_data():
    settings = EscalationSettings(num_levels=3, allow_deescalate=True)
    a = EscalationState.build(2, {2: [("P-4", "PENDING")], 1: [("P-1", "NO_DLT")] * 3})
    same = EscalationState.build(2, {1: [("P-1", "NO_DLT")] * 3, 2: [("P-4", "PENDING")]})
    changed = EscalationState.build(2, {2: [("P-4", "DLT")], 1: [("P-1", "NO_DLT")] * 3})
    data = snapshot(settings, a)
    assert json.loads(json.dumps(data)) == data
    assert data["state"]["levels"][1]["patients"] == [{"patient_ref": "P-4", "status": "PENDING"}]
    assert data["settings"]["allow_deescalate"] is True
    assert input_hash(settings, a) == input_hash(settings, same)
    assert input_hash(settings, a) != input_hash(settings, changed)
    assert input_hash(settings, a) != input_hash(EscalationSettings(num_levels=3), a)
    assert len(input_hash(settings, a)) == 64


def test_recommendation_to_dict_is_json_serialisable():
    rec = recommend(EscalationSettings(num_levels=3), state(1, {1: "NNTP"}))
    data = json.loads(json.dumps(rec.to_dict()))
    assert data["action"] == "ENROL"
    assert data["continue"] is True
    assert data["slots_open"] == 2
    assert data["rule_id"] == "3p3.P1"
    assert data["rule_version"] == RULE_VERSION
    assert data["level_counts"][0] == {
        "level": 1,
        "evaluable": 3,
        "dlts": 1,
        "pending": 1,
        "not_evaluable": 0,
    }


def test_recommend_from_counts_agrees_with_patient_states():
    from dosing.domain.escalation import LevelCounts
    from dosing.domain.three_plus_three import recommend_from_counts

    settings = EscalationSettings(num_levels=4, allow_deescalate=True)
    by_patients = recommend(settings, state(3, {1: "NNN", 2: "NNTNNN", 3: "NTTP"}))
    by_counts = recommend_from_counts(
        settings,
        {
            1: LevelCounts(1, evaluable=3),
            2: LevelCounts(2, evaluable=6, dlts=1),
            3: LevelCounts(3, evaluable=3, dlts=2, pending=1),
        },
        3,
    )
    assert by_counts == by_patients
    with pytest.raises(EscalationInputError, match="impossible counts at level 1"):
        recommend_from_counts(settings, {1: LevelCounts(1, evaluable=2, dlts=3)}, 1)
    with pytest.raises(EscalationInputError, match="unknown level 9"):
        recommend_from_counts(settings, {9: LevelCounts(9, evaluable=3)}, 1)
