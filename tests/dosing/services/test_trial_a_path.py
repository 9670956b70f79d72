"""Trial A's published path, through the services: DL1 1/3 → expand → 1/6 → escalate; DL2 1/3
→ expand → 1/6 → MTD = DL2 → RP2D = DL2 signed → phase II, whose enrolment assigns DL2.
Each step is the engine's recommendation, signed by an investigator."""

import pytest

from dosing.models import DecisionStatus, EscalationStage, SlotAssignment, TrialEscalation
from dosing.selectors import pending_rp2d
from tests.dosing.factories import cohort, enrol, evaluate, set_dlt_state, sign

pytestmark = pytest.mark.django_db


def _signed_step(t, expected_rule: str) -> TrialEscalation:
    decision = evaluate(t.trial)
    assert (decision.rule_id, decision.status) == (expected_rule, DecisionStatus.AWAITING_SIGNATURE)
    sign(decision, t.investigator)
    return TrialEscalation.objects.get(trial=t.trial)


def test_trial_a_reaches_the_rp2d_at_dl2_and_opens_phase_ii(ipd):
    t = ipd
    # DL1: 1 of the first 3 had DLTs -> 3 more
    dl1 = cohort(t, ["PENDING", "PENDING", "PENDING"])
    assert evaluate(t.trial).rule_id == "3p3.P3"  # cohort full, awaiting DLT evaluation
    for patient, status in zip(dl1, ["DLT", "NO_DLT", "NO_DLT"], strict=True):
        set_dlt_state(patient, status)
    esc = _signed_step(t, "3p3.R2")
    assert (esc.open_level_number, esc.cohort_target) == (1, 6)

    # DL1 expanded: no DLT in 3 more (1/6) -> escalate to DL2
    cohort(t, ["NO_DLT", "NO_DLT", "NO_DLT"])
    esc = _signed_step(t, "3p3.R3")
    assert (esc.open_level_number, esc.cohort_target) == (2, 3)

    # DL2: 1 of the first 3 -> 3 more
    cohort(t, ["NO_DLT", "DLT", "NO_DLT"])
    esc = _signed_step(t, "3p3.R2")
    assert (esc.open_level_number, esc.cohort_target) == (2, 6)

    # DL2 expanded: 1/6 at the top level -> stop, MTD = DL2 (six there, as the protocol needs)
    cohort(t, ["NO_DLT", "NO_DLT", "NO_DLT"])
    esc = _signed_step(t, "3p3.R4")
    assert (esc.stage, esc.mtd_level_number, esc.open_level_number) == (
        EscalationStage.MTD_DECLARED,
        2,
        None,
    )

    # the RP2D is its own signed decision, proposed at the MTD
    rp2d = pending_rp2d(t.trial)
    assert (rp2d.rule_id, rp2d.recommended_level_number) == ("RP2D.1", 2)
    sign(rp2d, t.investigator)
    esc.refresh_from_db()
    t.trial.refresh_from_db()
    assert (esc.stage, esc.rp2d_level_number) == (EscalationStage.RP2D_DECLARED, 2)
    assert t.trial.status == "phase_ii"

    # phase II: 19 more patients, every one at the RP2D (no cohort cap)
    phase_two = [enrol(t, site=t.site_b if i % 2 else t.site_a) for i in range(19)]
    assert {p.dose_level.number for p in phase_two} == {2}
    assert SlotAssignment.objects.filter(trial=t.trial, kind="phase_ii").count() == 19
    assert SlotAssignment.objects.filter(trial=t.trial, kind="escalation").count() == 12
    # and the escalation input still holds the 12 phase I patients only
    assert evaluate(t.trial).action == "STOP_MTD"
