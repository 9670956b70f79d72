"""The design document: defaults, validation with the culprit named, amendments as diffs."""

import pytest

from trials.domain.design import DesignError, TrialDesign
from trials.reference_trials import TRIAL_A, TRIAL_B


def test_defaults_are_the_registration_values():
    design = TrialDesign()

    assert design.dlt_window_days == 21
    assert design.cycle_length_days == 28
    assert design.ctcae_version == "5.0"
    assert design.sae_full_report_days == 5
    assert design.response.criteria == "IMWG2016"


@pytest.mark.parametrize("spec", [TRIAL_A, TRIAL_B], ids=["IPD", "CFZ"])
def test_reference_trials_round_trip(spec):
    design = TrialDesign.from_dict(spec["design"])

    assert TrialDesign.from_dict(design.to_dict()) == design


def test_trial_a_simon_design_is_labelled_as_assumed():
    simon = TrialDesign.from_dict(TRIAL_A["design"]).simon

    assert (simon.r1, simon.n1, simon.r, simon.n) == (3, 14, 7, 25)
    assert simon.assumed is True
    assert "Assumed" in simon.label


def test_trial_b_uses_recist_1_0_and_no_escalation():
    design = TrialDesign.from_dict(TRIAL_B["design"])

    assert design.response.criteria == "RECIST1.0"
    assert design.response.is_recist
    assert design.escalation is None
    assert design.bsa_cap_m2 == 2.2


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"dlt_window_days": 0}, "dlt_window_days"),
        ({"dlt_window_days": "21"}, "dlt_window_days"),
        ({"dlt_window_dayz": 21}, "dlt_window_dayz"),
        ({"response": {"criteria": "RECIST2"}}, "response.criteria"),
        ({"escalation": {"rule_set": "4+4"}}, "escalation.rule_set"),
        ({"visit_schedule": {"visit_days": [8, 1]}}, "visit_schedule.visit_days"),
        ({"visit_schedule": {"visit_days": [1, 29]}}, "visit_schedule.visit_days"),
        ({"ctcae_version": "4.03"}, "ctcae_version"),
        (
            {
                "simon": {
                    "p0": 0.2,
                    "p1": 0.45,
                    "alpha": 0.1,
                    "beta": 0.1,
                    "r1": 3,
                    "n1": 14,
                    "r": 7,
                    "n": 25,
                    "assumed": True,
                    "label": "",
                }
            },
            "simon.label",
        ),
        ({"simon": {"p0": 0.2}}, "simon.p1"),
        ({"escalation": {"allow_deescalate": "yes"}}, "escalation.allow_deescalate"),
    ],
)
def test_bad_documents_name_the_field(data, field):
    with pytest.raises(DesignError) as caught:
        TrialDesign.from_dict(data)

    assert caught.value.field == field


def test_with_changes_merges_and_diff_lists_the_leaves():
    before = TrialDesign.from_dict(TRIAL_A["design"])

    after = before.with_changes({"dlt_window_days": 28, "escalation": {"allow_deescalate": True}})

    assert after.dlt_window_days == 28
    assert after.escalation.allow_deescalate is True
    assert after.escalation.rule_set == "3+3"
    assert before.diff(after) == {
        "dlt_window_days": [21, 28],
        "escalation.allow_deescalate": [False, True],
    }


def test_with_changes_refuses_unknown_settings():
    with pytest.raises(DesignError) as caught:
        TrialDesign().with_changes({"visit_schedule": {"windw_days": 3}})

    assert caught.value.field == "visit_schedule.windw_days"


def test_response_cycles():
    schedule = TrialDesign.from_dict(TRIAL_B["design"]).visit_schedule

    assert [c for c in range(1, 9) if schedule.is_response_cycle(c)] == [3, 5, 7]
