"""The database rows are mapped to the engine's dataclasses once, in ``escalation_input``."""

import pytest

from dosing import selectors
from dosing.domain.escalation import DLTStatus, EscalationSettings, RuleSet
from dosing.selectors import EscalationNotConfigured, escalation_input
from tests.dosing.factories import cohort, enrol

pytestmark = pytest.mark.django_db


def test_trial_a_design_and_levels_become_the_engine_settings(ipd):
    data = escalation_input(ipd.trial)

    assert data.settings == EscalationSettings(
        num_levels=2,
        allow_deescalate=False,
        require_six_at_mtd=True,
        lowest_level=-1,
        start_level=1,
        rule_set=RuleSet.THREE_PLUS_THREE,
        early_determination=True,
    )
    assert [lv.number for lv in data.levels] == [-1, 1, 2]
    assert data.state.current_level is None


def test_patients_are_mapped_with_their_dlt_status_in_enrolment_order(ipd):
    first, second, third = cohort(ipd, ["DLT", "NO_DLT", "PENDING"])

    data = escalation_input(ipd.trial)

    (level_1,) = data.state.levels
    assert level_1.level == 1
    assert [(p.patient_ref, p.status) for p in level_1.patients] == [
        (first.study_id, DLTStatus.DLT),
        (second.study_id, DLTStatus.NO_DLT),
        (third.study_id, DLTStatus.PENDING),
    ]
    assert data.state.current_level == 1
    assert data.occupied(1) == 3
    assert data.by_ref[third.study_id].days_remaining == 11


def test_a_not_evaluable_patient_is_kept_in_the_input_but_holds_no_slot(ipd):
    _, dropped = cohort(ipd, ["NO_DLT", "NOT_EVALUABLE"])

    data = escalation_input(ipd.trial)

    assert data.by_ref[dropped.study_id].status == "NOT_EVALUABLE"
    assert data.occupied(1) == 1


def test_an_enrolled_patient_not_yet_dosed_is_pending_at_the_assigned_level(ipd):
    patient = enrol(ipd)

    data = escalation_input(ipd.trial)

    assert data.by_ref[patient.study_id].status == DLTStatus.PENDING
    assert data.by_ref[patient.study_id].level_number == 1


def test_a_trial_without_an_escalation_design_is_not_configured(cfz):
    trial, _, _ = cfz

    with pytest.raises(EscalationNotConfigured):
        escalation_input(trial)


def test_a_gap_in_the_dose_levels_is_a_configuration_error(ipd):
    levels = [lv for lv in selectors.dose_levels(ipd.trial) if lv.number != 1]

    with pytest.raises(EscalationNotConfigured, match="without gaps"):
        selectors.escalation_settings(ipd.trial, levels=levels)


def test_the_input_is_built_in_a_constant_number_of_queries(ipd, django_assert_max_num_queries):
    cohort(ipd, ["NO_DLT"])
    with django_assert_max_num_queries(20) as few:
        escalation_input(ipd.trial)
    cohort(ipd, ["DLT", "PENDING"])

    with django_assert_max_num_queries(len(few.captured_queries)):
        data = escalation_input(ipd.trial)

    assert data.occupied(1) == 3
