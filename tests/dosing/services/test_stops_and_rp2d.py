"""The other steps a signed decision opens: de-escalation to level −1, "no tolerable dose",
an RP2D below the MTD; and data that go back to an earlier state."""

import pytest
from django.core.exceptions import ValidationError

from dosing import services
from dosing.models import DecisionStatus, EscalationDecision, EscalationStage, TrialEscalation
from dosing.selectors import enrolment_slot_status, pending_rp2d
from tests.dosing.factories import MEANING, cohort, enrol, evaluate, set_dlt_state, sign

pytestmark = pytest.mark.django_db


def test_dl1_too_toxic_goes_to_level_minus_one_then_stops_with_no_tolerable_dose(ipd):
    cohort(ipd, ["DLT", "DLT", "NO_DLT"])
    down = evaluate(ipd.trial)
    sign(down, ipd.investigator)
    level_minus_one = cohort(ipd, ["DLT", "NO_DLT", "DLT"])
    stop = evaluate(ipd.trial)
    sign(stop, ipd.investigator)

    esc = TrialEscalation.objects.get(trial=ipd.trial)
    assert (down.rule_id, down.action) == ("3p3.X2", "DEESCALATE")
    assert {p.dose_level.number for p in level_minus_one} == {-1}
    assert (stop.rule_id, stop.action) == ("3p3.X1", "STOP_NO_TOLERABLE_DOSE")
    assert (esc.stage, esc.open_level_number, esc.mtd_level_number) == (
        EscalationStage.NO_TOLERABLE_DOSE,
        None,
        None,
    )
    assert enrolment_slot_status(ipd.trial).message == (
        "Dose escalation has stopped: no tolerable dose. Nobody more is enrolled."
    )
    assert pending_rp2d(ipd.trial) is None


def test_the_rp2d_may_be_signed_below_the_mtd_with_a_reason(ipd):
    # given MTD = DL2 (DL1 0/3 then DL2 1/6, six required at the MTD) signed
    cohort(ipd, ["NO_DLT", "NO_DLT", "NO_DLT"])
    sign(evaluate(ipd.trial), ipd.investigator)
    cohort(ipd, ["NO_DLT", "DLT", "NO_DLT"])
    sign(evaluate(ipd.trial), ipd.investigator)
    cohort(ipd, ["NO_DLT", "NO_DLT", "NO_DLT"])
    sign(evaluate(ipd.trial), ipd.investigator)
    rp2d = pending_rp2d(ipd.trial)

    # when an investigator declares DL1 the RP2D instead (a level above the MTD is refused)
    with pytest.raises(ValidationError) as above:
        services.escalation_decision_override(
            decision=rp2d,
            signer=ipd.investigator,
            meaning=MEANING,
            reason="too high",
            action=services.RP2D_ACTION,
            level=3,
            acting_user=ipd.investigator,
        )
    services.escalation_decision_override(
        decision=rp2d,
        signer=ipd.investigator,
        meaning=MEANING,
        reason="Grade 2 fatigue in most DL2 patients beyond cycle 1",
        action=services.RP2D_ACTION,
        level=1,
        acting_user=ipd.investigator,
    )

    # then phase II opens at DL1
    esc = TrialEscalation.objects.get(trial=ipd.trial)
    ipd.trial.refresh_from_db()
    assert "at or below the MTD (level 2)" in above.value.message_dict["level"][0]
    assert (esc.stage, esc.mtd_level_number, esc.rp2d_level_number) == (
        EscalationStage.RP2D_DECLARED,
        2,
        1,
    )
    assert ipd.trial.status == "phase_ii"
    assert enrol(ipd).dose_level.number == 1


def test_data_back_as_they_were_bring_back_the_earlier_decision(ipd):
    patients = cohort(ipd, ["NO_DLT", "NO_DLT", "PENDING"])
    first = evaluate(ipd.trial)
    set_dlt_state(patients[2], "NO_DLT")
    second = evaluate(ipd.trial)
    set_dlt_state(patients[2], "PENDING")

    again = evaluate(ipd.trial)

    second.refresh_from_db()
    assert again.pk == first.pk
    assert (again.status, second.status) == (DecisionStatus.RECORDED, DecisionStatus.SUPERSEDED)
    assert EscalationDecision.objects.filter(trial=ipd.trial).count() == 2
