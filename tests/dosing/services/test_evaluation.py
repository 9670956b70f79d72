"""Each evaluation stores a decision with its input snapshot, rule, version, output and input
hash, once per input; a change to the data under a signed decision voids its signature."""

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError

from config.celery import app
from dosing import services
from dosing.domain.escalation import RULE_VERSION
from dosing.models import (
    DecisionSignature,
    DecisionStatus,
    EscalationDecision,
    SignatureStatus,
    TrialEscalation,
)
from tests.dosing.factories import MEANING, cohort, evaluate, set_dlt_state, sign
from tests.factories import answer_all_eligible, days_ago, screen_patient
from trials import services as trial_services
from trials.audit import history_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager():
    """Celery's local mode: a task sent after commit runs in this process."""
    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


def test_an_evaluation_stores_the_input_rule_version_output_and_hash(ipd):
    patients = cohort(ipd, ["NO_DLT", "NO_DLT", "DLT"])

    decision = evaluate(ipd.trial)

    assert (decision.rule_id, decision.action, decision.status) == (
        "3p3.R2",
        "EXPAND",
        DecisionStatus.AWAITING_SIGNATURE,
    )
    assert decision.rule_text == "3p3.R2: 3 evaluable, 1 DLT -> expand to 6"
    assert decision.rule_version == RULE_VERSION
    assert decision.input_snapshot["settings"]["require_six_at_mtd"] is True
    assert decision.input_snapshot["state"]["levels"][0]["patients"][2] == {
        "patient_ref": patients[2].study_id,
        "status": "DLT",
    }
    assert decision.output["slots_open"] == 3
    assert len(decision.input_hash) == 64


def test_running_the_evaluation_twice_stores_nothing_new(ipd):
    cohort(ipd, ["NO_DLT", "NO_DLT", "DLT"])

    first = evaluate(ipd.trial)
    second = evaluate(ipd.trial)

    assert first.pk == second.pk
    assert EscalationDecision.objects.filter(trial=ipd.trial).count() == 1


def test_an_incomplete_cohort_is_recorded_without_asking_for_a_signature(ipd):
    cohort(ipd, ["NO_DLT", "PENDING"])

    decision = evaluate(ipd.trial)

    assert (decision.rule_id, decision.status) == ("3p3.P1", DecisionStatus.RECORDED)


def test_new_data_supersede_an_unsigned_decision(ipd):
    patients = cohort(ipd, ["NO_DLT", "NO_DLT", "PENDING"])
    waiting = evaluate(ipd.trial)
    set_dlt_state(patients[2], "NO_DLT")

    escalate = evaluate(ipd.trial)

    waiting.refresh_from_db()
    assert (waiting.rule_id, waiting.status) == ("3p3.P3", DecisionStatus.SUPERSEDED)
    assert (escalate.rule_id, escalate.status) == ("3p3.R1", DecisionStatus.AWAITING_SIGNATURE)
    assert TrialEscalation.objects.get(trial=ipd.trial).current_decision == escalate


def test_two_dlts_decide_at_once_while_a_patient_is_still_in_the_window(ipd):
    cohort(ipd, ["DLT", "DLT", "PENDING"])

    decision = evaluate(ipd.trial)

    assert decision.output["early_determination"] is True
    assert (decision.rule_id, decision.action) == ("3p3.X2", "DEESCALATE")


def test_the_signed_decision_opens_its_step(ipd):
    cohort(ipd, ["NO_DLT", "NO_DLT", "DLT"])
    decision = evaluate(ipd.trial)

    signature = sign(decision, ipd.investigator)

    decision.refresh_from_db()
    esc = TrialEscalation.objects.get(trial=ipd.trial)
    assert decision.status == DecisionStatus.SIGNED
    assert decision.applied == {"action": "EXPAND", "level": 1, "cohort_target": 6}
    assert (esc.open_level_number, esc.cohort_target, esc.step) == (1, 6, 1)
    assert (signature.signer, signature.meaning, signature.kind) == (
        ipd.investigator,
        MEANING,
        "approval",
    )
    assert len(signature.snapshot_hash) == 64


def test_a_change_under_a_signed_decision_voids_the_signature_and_re_evaluates(ipd):
    # given DL1 1/3 -> "expand", signed
    patients = cohort(ipd, ["NO_DLT", "NO_DLT", "DLT"])
    expand = evaluate(ipd.trial)
    signature = sign(expand, ipd.investigator)

    # when the DLT is withdrawn (the adjudication is voided: 0/3)
    set_dlt_state(patients[2], "NO_DLT")
    escalate = evaluate(ipd.trial)

    # then the signature and the decision are voided with the reason, and a new decision waits
    expand.refresh_from_db()
    signature.refresh_from_db()
    esc = TrialEscalation.objects.get(trial=ipd.trial)
    reason = (
        f"The data under the signed decision changed: {patients[2].study_id}: DLT at level 1 "
        "is now NO_DLT at level 1."
    )
    assert (expand.status, expand.status_reason) == (DecisionStatus.VOIDED, reason)
    assert (signature.status, signature.void_reason) == (SignatureStatus.VOIDED, reason)
    assert (escalate.rule_id, escalate.status) == ("3p3.R1", DecisionStatus.AWAITING_SIGNATURE)
    assert esc.on_hold is True
    assert history_for(signature)[-1].reason == reason


def test_enrolment_waits_while_a_voided_decision_is_re_signed(ipd):
    patients = cohort(ipd, ["NO_DLT", "NO_DLT", "DLT"])
    sign(evaluate(ipd.trial), ipd.investigator)
    set_dlt_state(patients[2], "NO_DLT")
    escalate = evaluate(ipd.trial)
    patient = screen_patient(ipd.trial, ipd.site_a, ipd.coordinator_a)
    answer_all_eligible(patient, ipd.coordinator_a)
    trial_services.consent_record(
        patient=patient, version="1", consent_date=days_ago(3), acting_user=ipd.coordinator_a
    )

    with pytest.raises(ValidationError) as held:
        trial_services.patient_enrol(
            patient=patient, acting_user=ipd.coordinator_a, enrolment_date=days_ago(1)
        )
    sign(escalate, ipd.investigator)
    enrolled = trial_services.patient_enrol(
        patient=patient, acting_user=ipd.coordinator_a, enrolment_date=days_ago(1)
    )

    assert held.value.message_dict["dose_level"][0].startswith("Enrolment is on hold: signed")
    assert enrolled.dose_level.number == 2


def test_a_window_that_was_still_open_when_signed_does_not_void_the_decision(ipd):
    # given DL2 exceeded early (2 DLTs, the third patient still in the window) and the signed
    # decision to go back to DL1 (which needs six before it can be the MTD)
    patients = cohort(ipd, ["NO_DLT", "NO_DLT", "NO_DLT"])
    sign(evaluate(ipd.trial), ipd.investigator)  # escalate to DL2
    dl2 = cohort(ipd, ["DLT", "DLT", "PENDING"])
    back = evaluate(ipd.trial)
    sign(back, ipd.investigator)

    # when the pending patient completes the window
    set_dlt_state(dl2[2], "NO_DLT")
    latest = evaluate(ipd.trial)

    back.refresh_from_db()
    assert (back.rule_id, back.output["early_determination"]) == ("3p3.X7", True)
    assert back.status == DecisionStatus.SIGNED
    assert latest.status == DecisionStatus.RECORDED
    assert latest.status_reason.startswith("Same recommendation as signed decision")
    assert len(patients) == 3


def test_a_superseded_or_voided_decision_cannot_be_signed(ipd):
    patients = cohort(ipd, ["NO_DLT", "NO_DLT", "PENDING"])
    old = evaluate(ipd.trial)
    set_dlt_state(patients[2], "NO_DLT")
    evaluate(ipd.trial)

    with pytest.raises(services.DecisionConflict, match="superseded"):
        sign(old, ipd.investigator)


def test_only_an_investigator_signs(ipd):
    cohort(ipd, ["NO_DLT", "NO_DLT", "DLT"])
    decision = evaluate(ipd.trial)

    with pytest.raises(PermissionDenied):
        sign(decision, ipd.statistician)

    assert not DecisionSignature.objects.exists()


def test_an_override_needs_a_reason_and_opens_the_chosen_step(ipd):
    cohort(ipd, ["NO_DLT", "NO_DLT", "NO_DLT"])
    decision = evaluate(ipd.trial)  # escalate to DL2

    with pytest.raises(ValidationError) as no_reason:
        services.escalation_decision_override(
            decision=decision,
            signer=ipd.investigator,
            meaning=MEANING,
            reason="",
            action="EXPAND",
            acting_user=ipd.investigator,
        )
    signature = services.escalation_decision_override(
        decision=decision,
        signer=ipd.investigator,
        meaning=MEANING,
        reason="Grade 2 neuropathy in two patients: treat 3 more at DL1 first",
        action="EXPAND",
        acting_user=ipd.investigator,
    )

    decision.refresh_from_db()
    esc = TrialEscalation.objects.get(trial=ipd.trial)
    assert "reason" in no_reason.value.message_dict
    assert (signature.kind, signature.override_action) == ("override", "EXPAND")
    assert decision.status == DecisionStatus.OVERRIDDEN
    assert (esc.open_level_number, esc.cohort_target) == (1, 6)


def test_overriding_with_the_recommendation_itself_is_refused(ipd):
    cohort(ipd, ["NO_DLT", "NO_DLT", "NO_DLT"])
    decision = evaluate(ipd.trial)

    with pytest.raises(ValidationError) as caught:
        services.escalation_decision_override(
            decision=decision,
            signer=ipd.investigator,
            meaning=MEANING,
            reason="same thing",
            action="ESCALATE",
            acting_user=ipd.investigator,
        )

    assert "sign it instead" in caught.value.message_dict["action"][0]


def test_investigators_are_emailed_once_when_a_decision_awaits_them(
    ipd, eager, django_capture_on_commit_callbacks
):
    cohort(ipd, ["NO_DLT", "NO_DLT", "DLT"])

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        decision = evaluate(ipd.trial)
    services.decision_notify_investigators(decision_id=decision.pk)

    decision.refresh_from_db()
    assert len(callbacks) == 1
    assert [m.to for m in mail.outbox] == [[ipd.investigator.email]]
    assert f"decision #{decision.number}" in mail.outbox[0].subject
    assert decision.notified_at is not None


def test_a_missing_trial_or_a_trial_without_escalation_is_not_evaluated(cfz):
    trial, _, _ = cfz

    assert services.escalation_evaluate(trial_id=trial.pk) is None
    assert services.escalation_evaluate(trial_id=10**9) is None
    assert not TrialEscalation.objects.filter(trial=trial).exists()
