"""Live Simon (1989) monitor on trial A's assumed design 3/14, 7/25."""

import pytest

from response.domain.simon import SimonBoundaries, SimonPatient, SimonRule, monitor_simon

DESIGN = SimonBoundaries(r1=3, n1=14, r=7, n=25)

# One letter per patient in enrolment order: R responder, N non-responder, P outcome pending,
# X not response-evaluable (replaced), ? evaluability not known yet.
_EVALUABLE = {"R": True, "N": True, "P": True, "X": False, "?": None}
_RESPONDER = {"R": True, "N": False, "P": None, "X": None, "?": None}


def cohort(letters: str) -> list[SimonPatient]:
    return [
        SimonPatient(
            patient_id=f"P{order:02d}",
            enrolment_order=order,
            evaluable=_EVALUABLE[letter],
            responder=_RESPONDER[letter],
        )
        for order, letter in enumerate(letters.replace(" ", ""), start=1)
    ]


@pytest.mark.parametrize(
    ("letters", "stage", "rule", "decidable", "stage1_responders", "at_boundary", "verdict"),
    [
        # stage 1 still maturing
        ("RRRN NNNN NNNN N", 1, SimonRule.PENDING, False, 3, True, None),
        ("RRRN NNNN NNNN NP", 1, SimonRule.PENDING, False, 3, True, None),
        # 3 of 14: at the boundary, stop
        ("RRRN NNNN NNNN NN", 1, SimonRule.STOP_FUTILITY, True, 3, True, SimonRule.NOT_PROMISING),
        ("NNNN NNNN NNNN NN", 1, SimonRule.STOP_FUTILITY, True, 0, False, SimonRule.NOT_PROMISING),
        # 4 of 14: continue
        ("RRRR NNNN NNNN NN", 2, SimonRule.CONTINUE, True, 4, False, None),
        ("RRRR NNNN NNNN NN RRR PPPP", 2, SimonRule.CONTINUE, True, 4, False, None),
        # final: 8 of 25 promising, 7 of 25 not
        (
            "RRRR NNNN NNNN NN RRRR NNNN NNN",
            2,
            SimonRule.PROMISING,
            True,
            4,
            False,
            SimonRule.PROMISING,
        ),
        (
            "RRRR NNNN NNNN NN RRRN NNNN NNN",
            2,
            SimonRule.NOT_PROMISING,
            True,
            4,
            False,
            SimonRule.NOT_PROMISING,
        ),
    ],
)
def test_monitor_states(letters, stage, rule, decidable, stage1_responders, at_boundary, verdict):
    state = monitor_simon(DESIGN, cohort(letters))

    assert state.stage == stage
    assert state.rule is rule
    assert state.stage1_decidable is decidable
    assert state.stage1_responders == stage1_responders
    assert state.at_futility_boundary is at_boundary
    assert state.final_verdict == verdict


def test_over_run_patients_while_stage_1_matures_are_listed():
    state = monitor_simon(DESIGN, cohort("RRRN NNNN NNNN NP RN"))

    assert state.rule is SimonRule.PENDING
    assert state.stage1_pending == 1
    assert state.stage1_patient_ids == tuple(f"P{i:02d}" for i in range(1, 15))
    assert state.over_run_patient_ids == ("P15", "P16")
    # over-run outcomes count in the observed ORR, not in the stage-1 decision
    assert state.stage1_responders == 3
    assert (state.responders, state.evaluable_with_outcome) == (4, 15)


def test_over_run_after_a_futility_stop_is_listed():
    state = monitor_simon(DESIGN, cohort("RRRN NNNN NNNN NN RP"))

    assert state.rule is SimonRule.STOP_FUTILITY
    assert state.over_run_patient_ids == ("P15", "P16")


def test_non_evaluable_patients_are_replaced():
    state = monitor_simon(DESIGN, cohort("RXRR NNNN NNNN NNNR"))

    assert state.not_evaluable_patient_ids == ("P02",)
    assert "P02" not in state.stage1_patient_ids
    assert state.stage1_patient_ids[-1] == "P15"
    assert state.stage1_responders == 3
    assert state.rule is SimonRule.STOP_FUTILITY
    assert state.over_run_patient_ids == ("P16",)


def test_unknown_evaluability_keeps_stage_1_pending():
    state = monitor_simon(DESIGN, cohort("RRRR NNNN NNNN N?"))

    assert state.rule is SimonRule.PENDING
    assert not state.stage1_decidable


def test_stage_1_outcome_certain_is_reported_but_not_acted_on():
    continue_certain = monitor_simon(DESIGN, cohort("RRRR PPPP PPPP PP"))
    stop_certain = monitor_simon(DESIGN, cohort("NNNN NNNN NNNN PP"))

    assert continue_certain.rule is SimonRule.PENDING
    assert continue_certain.stage1_outcome_certain is SimonRule.CONTINUE
    assert stop_certain.rule is SimonRule.PENDING
    assert stop_certain.stage1_outcome_certain is SimonRule.STOP_FUTILITY


def test_stage_2_curtailment_is_reported_only():
    state = monitor_simon(DESIGN, cohort("RRRR NNNN NNNN NN RRRR PPPP PPP"))

    assert state.rule is SimonRule.CONTINUE
    assert state.final_outcome_certain is SimonRule.PROMISING
    assert state.final_verdict is None


def test_enrolment_order_not_list_order_decides_stages():
    patients = list(reversed(cohort("RRRN NNNN NNNN NN R")))

    state = monitor_simon(DESIGN, patients)

    assert state.stage1_patient_ids[0] == "P01"
    assert state.over_run_patient_ids == ("P15",)


def test_orr_has_an_exact_interval():
    state = monitor_simon(DESIGN, cohort("RRRR NNNN NNNN NN RRRR NNNN NNN"))

    assert (state.orr.x, state.orr.n) == (8, 25)
    assert state.orr.method == "Clopper-Pearson exact"
    assert state.orr.lcl < 0.32 < state.orr.ucl


def test_search_result_can_be_monitored_directly():
    from response.domain.simon import search_designs

    design = search_designs(0.20, 0.45, alpha=0.10, beta=0.10).optimal

    state = monitor_simon(design, cohort("RRRN NNNN NNNN NN"))

    assert state.boundaries == DESIGN
    assert state.rule is SimonRule.STOP_FUTILITY


def test_duplicate_enrolment_order_is_rejected():
    patients = [
        SimonPatient("A", 1, True, True),
        SimonPatient("B", 1, True, False),
    ]

    with pytest.raises(ValueError, match="enrolment_order"):
        monitor_simon(DESIGN, patients)
