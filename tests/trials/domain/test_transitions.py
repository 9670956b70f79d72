"""The trial and patient status workflows as tables."""

import pytest

from trials.domain.transitions import (
    PATIENT_TRANSITIONS,
    PatientStatus,
    TransitionError,
    TrialStatus,
    check_patient_transition,
    check_trial_transition,
    patient_targets,
)
from trials.models import PatientStatus as PatientStatusChoices
from trials.models import TrialStatus as TrialStatusChoices


def test_model_choices_match_the_domain_statuses():
    assert set(PatientStatusChoices.values) == {s.value for s in PatientStatus}
    assert set(TrialStatusChoices.values) == {s.value for s in TrialStatus}


@pytest.mark.parametrize(
    ("phase", "path"),
    [
        ("I/II", ["open", "phase_i", "phase_ii", "closed_to_accrual", "closed"]),
        ("II", ["open", "phase_ii", "closed_to_accrual", "closed"]),
        ("I", ["open", "phase_i", "closed_to_accrual", "closed"]),
    ],
)
def test_trial_paths(phase, path):
    status = "draft"
    for target in path:
        status = check_trial_transition(status, target, phase=phase)

    assert status == TrialStatus.CLOSED


@pytest.mark.parametrize(
    ("current", "target", "phase"),
    [
        ("draft", "phase_i", "I/II"),
        ("open", "phase_ii", "I/II"),
        ("phase_i", "phase_ii", "I"),
        ("closed", "open", "II"),
        ("open", "draft", "II"),
        ("open", "nonsense", "II"),
    ],
)
def test_illegal_trial_steps_are_refused_with_the_options(current, target, phase):
    with pytest.raises(TransitionError) as caught:
        check_trial_transition(current, target, phase=phase)

    assert "cannot" in caught.value.message or "Unknown" in caught.value.message


def test_patient_happy_path():
    steps = [
        ("screening", "enrolled", None, False),
        ("enrolled", "on_treatment", None, False),
        ("on_treatment", "off_treatment", "progression", True),
        ("off_treatment", "follow_up", None, True),
        ("follow_up", "off_study", "death", True),
    ]
    for current, target, reason, manual in steps:
        check_patient_transition(current, target, reason_code=reason, manual=manual)


def test_enrolment_is_not_a_manual_step():
    with pytest.raises(TransitionError) as caught:
        check_patient_transition("screening", "enrolled", reason_code=None, manual=True)

    assert "enrolment" in caught.value.message


@pytest.mark.parametrize(
    ("current", "target", "reason", "field"),
    [
        ("on_treatment", "off_treatment", None, "reason_code"),
        ("on_treatment", "off_treatment", "lost_to_follow_up", "reason_code"),
        ("follow_up", "off_study", "dlt", "reason_code"),
        ("off_study", "follow_up", None, "to_status"),
        ("screen_failed", "enrolled", None, "to_status"),
        ("off_treatment", "follow_up", "death", "reason_code"),
    ],
)
def test_bad_patient_steps(current, target, reason, field):
    with pytest.raises(TransitionError) as caught:
        check_patient_transition(current, target, reason_code=reason, manual=True)

    assert caught.value.field == field


def test_off_study_is_final():
    assert patient_targets("off_study") == []
    assert all(frm != PatientStatus.OFF_STUDY for frm, _ in PATIENT_TRANSITIONS)
