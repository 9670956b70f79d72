"""RECIST 1.0 (Therasse 2000) and 1.1 (Eisenhauer 2009): discriminating lines, timepoint tables,
confirmation and best overall response."""

from datetime import date, timedelta

import pytest

from response.domain.recist import (
    RECIST_1_0,
    RECIST_1_1,
    Assessment,
    NewLesions,
    NonTargetLesion,
    NonTargetStatus,
    OverallResponse,
    RecistSettings,
    TargetLesion,
    TargetResponse,
    evaluate_recist,
    get_criteria,
)

START = date(2024, 1, 1)
CR, PR, SD, PD, NE = (
    OverallResponse.CR,
    OverallResponse.PR,
    OverallResponse.SD,
    OverallResponse.PD,
    OverallResponse.NE,
)


def day(n: int) -> date:
    return START + timedelta(days=n)


def single_lesion_course(criteria, baseline_mm, sums, *, every=42, recist_settings=None, **kwargs):
    """One target lesion (so the sum is the lesion) assessed every `every` days."""
    return evaluate_recist(
        criteria=criteria,
        settings=recist_settings or RecistSettings(),
        treatment_start=START,
        targets=[TargetLesion("T1", "liver", False, baseline_mm)],
        assessments=[
            Assessment(day(every * (i + 1)), {"T1": value}, **kwargs)
            for i, value in enumerate(sums)
        ],
    )


# --------------------------------------------------------------------------------------------
# The discriminating lines in recist-ctcae.md section 2
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("criteria", "last_mm", "expected"),
    [
        (RECIST_1_0, 24, PD),  # +20% of the 20 mm nadir is enough under 1.0
        (RECIST_1_1, 24, SD),  # +4 mm: 1.1 also needs +5 mm
        (RECIST_1_0, 25, PD),
        (RECIST_1_1, 25, PD),
    ],
)
def test_nadir_20_mm_growing_to_24_or_25_mm(criteria, last_mm, expected):
    # baseline 30: 24 mm is -20% from baseline, so no longer PR either
    course = single_lesion_course(criteria, 30, [20, last_mm])

    assert course.timepoints[0].overall_response is PR
    assert course.timepoints[-1].reference_sum_mm == 20
    assert course.timepoints[-1].overall_response is expected


def test_1_1_trace_explains_the_5_mm_rule():
    course = single_lesion_course(RECIST_1_1, 30, [20, 24])

    assert any("below the 5 mm absolute increase" in line for line in course.trace)


@pytest.mark.parametrize("criteria", [RECIST_1_0, RECIST_1_1])
def test_progression_from_nadir_while_still_below_baseline(criteria):
    # Baseline 50, nadir 30 (PR), then 36: +20% and +6 mm vs nadir, still -28% vs baseline.
    course = single_lesion_course(criteria, 50, [30, 36])

    last = course.timepoints[-1]
    assert last.overall_response is PD
    assert last.pct_change_from_baseline == pytest.approx(-28.0)
    assert last.pct_change_from_nadir == pytest.approx(20.0)
    assert course.progression_date == day(84)


@pytest.mark.parametrize("criteria", [RECIST_1_0, RECIST_1_1])
@pytest.mark.parametrize(
    ("baseline_mm", "value_mm", "expected"),
    [
        (50, 35, PR),  # exactly -30%
        (33, 23.1, PR),  # exactly -30% where binary floats would give -29.999...%
        (50, 35.1, SD),  # -29.8%
    ],
)
def test_thirty_percent_decrease_is_inclusive(criteria, baseline_mm, value_mm, expected):
    course = single_lesion_course(criteria, baseline_mm, [value_mm])

    assert course.timepoints[0].overall_response is expected


@pytest.mark.parametrize("criteria", [RECIST_1_0, RECIST_1_1])
def test_pd_reference_includes_the_baseline_sum(criteria):
    # 30 -> 34 (SD) -> 37: +23% and +7 mm vs the 30 mm baseline, only +9% vs 34.
    course = single_lesion_course(criteria, 30, [34, 37])

    assert [t.overall_response for t in course.timepoints] == [SD, PD]


def test_criteria_registry():
    assert get_criteria("1.0") is RECIST_1_0
    assert get_criteria("1.1") is RECIST_1_1
    with pytest.raises(ValueError, match="unknown RECIST version"):
        get_criteria("2.0")


# --------------------------------------------------------------------------------------------
# Target lesions: NE, nodes, reappearance
# --------------------------------------------------------------------------------------------

TWO_TARGETS = [TargetLesion("T1", "liver", False, 30), TargetLesion("T2", "lung", False, 20)]


def two_target_course(criteria, measurements, recist_settings=None):
    return evaluate_recist(
        criteria=criteria,
        settings=recist_settings or RecistSettings(),
        treatment_start=START,
        targets=TWO_TARGETS,
        assessments=[Assessment(day(42 * (i + 1)), m) for i, m in enumerate(measurements)],
    )


@pytest.mark.parametrize("criteria", [RECIST_1_0, RECIST_1_1])
def test_a_missing_target_makes_the_timepoint_not_evaluable(criteria):
    course = two_target_course(criteria, [{"T1": 10}, {"T1": 10, "T2": None}])

    assert course.timepoints[0].target_response is TargetResponse.NE
    assert course.timepoints[0].overall_response is NE
    assert course.timepoints[0].pct_change_from_baseline is None
    assert course.timepoints[1].overall_response is NE
    assert course.best_overall_response is NE


@pytest.mark.parametrize("criteria", [RECIST_1_0, RECIST_1_1])
def test_measured_lesions_alone_can_already_show_progression(criteria):
    course = two_target_course(criteria, [{"T1": 70}])

    assert course.timepoints[0].all_targets_evaluated is False
    assert course.timepoints[0].overall_response is PD


def test_nodes_below_10_mm_short_axis_count_as_complete_response_under_1_1():
    course = evaluate_recist(
        criteria=RECIST_1_1,
        settings=RecistSettings(),
        treatment_start=START,
        targets=[
            TargetLesion("N1", "lymph node", True, 18),
            TargetLesion("T1", "liver", False, 25),
        ],
        assessments=[Assessment(day(42), {"N1": 8, "T1": 0})],
    )

    point = course.timepoints[0]
    assert point.target_response is TargetResponse.CR
    assert point.target_sum_mm == 8  # the node's short axis stays in the sum


def test_node_at_10_mm_short_axis_is_not_complete_response():
    course = evaluate_recist(
        criteria=RECIST_1_1,
        settings=RecistSettings(),
        treatment_start=START,
        targets=[TargetLesion("N1", "lymph node", True, 18)],
        assessments=[Assessment(day(42), {"N1": 10})],
    )

    assert course.timepoints[0].target_response is TargetResponse.PR


@pytest.mark.parametrize("criteria", [RECIST_1_0, RECIST_1_1])
def test_a_lesion_reappearing_after_complete_response_is_progression(criteria):
    course = two_target_course(criteria, [{"T1": 0, "T2": 0}, {"T1": 3, "T2": 0}])

    assert [t.overall_response for t in course.timepoints] == [CR, PD]


def test_a_lesion_reappearing_after_partial_response_adds_to_the_sum():
    course = two_target_course(RECIST_1_1, [{"T1": 20, "T2": 0}, {"T1": 20, "T2": 3}])

    assert [t.overall_response for t in course.timepoints] == [PR, PR]


# --------------------------------------------------------------------------------------------
# Timepoint table through the engine (target result x non-target x new lesions)
# --------------------------------------------------------------------------------------------

WITH_NON_TARGET = [NonTargetLesion("NT1", "bone")]


@pytest.mark.parametrize("criteria", [RECIST_1_0, RECIST_1_1])
@pytest.mark.parametrize(
    ("target_mm", "non_target", "new", "expected"),
    [
        (0, NonTargetStatus.CR, NewLesions.NO, CR),
        (0, NonTargetStatus.NON_CR_NON_PD, NewLesions.NO, PR),
        (0, NonTargetStatus.NE, NewLesions.NO, PR),
        (20, NonTargetStatus.NON_CR_NON_PD, NewLesions.NO, PR),
        (20, NonTargetStatus.NE, NewLesions.NO, PR),
        (35, NonTargetStatus.CR, NewLesions.NO, SD),
        (35, NonTargetStatus.NE, NewLesions.NO, SD),
        (None, NonTargetStatus.NON_CR_NON_PD, NewLesions.NO, NE),
        (35, NonTargetStatus.PD, NewLesions.NO, PD),
        (0, NonTargetStatus.CR, NewLesions.YES, PD),
        (None, NonTargetStatus.NE, NewLesions.YES, PD),
        (0, NonTargetStatus.CR, NewLesions.EQUIVOCAL, CR),
        (60, NonTargetStatus.CR, NewLesions.NO, PD),
    ],
)
def test_timepoint_response_through_the_engine(criteria, target_mm, non_target, new, expected):
    course = evaluate_recist(
        criteria=criteria,
        settings=RecistSettings(),
        treatment_start=START,
        targets=[TargetLesion("T1", "liver", False, 40)],
        non_targets=WITH_NON_TARGET,
        assessments=[Assessment(day(42), {"T1": target_mm}, non_target, new)],
    )

    assert course.timepoints[0].overall_response is expected


def test_non_target_disease_only_uses_non_cr_non_pd():
    course = evaluate_recist(
        criteria=RECIST_1_1,
        settings=RecistSettings(require_measurable_disease=False),
        treatment_start=START,
        targets=[],
        non_targets=WITH_NON_TARGET,
        assessments=[Assessment(day(42), {}, NonTargetStatus.NON_CR_NON_PD)],
    )

    assert course.timepoints[0].target_response is TargetResponse.NOT_APPLICABLE
    assert course.best_overall_response is OverallResponse.NON_CR_NON_PD
    assert course.baseline_sum_mm is None


# --------------------------------------------------------------------------------------------
# Best overall response, confirmation, SD minimum duration
# --------------------------------------------------------------------------------------------

CONFIRM = RecistSettings(confirmation_required=True, confirmation_min_days=28, sd_min_days=42)
NO_CONFIRM = RecistSettings(confirmation_required=False, sd_min_days=42)


def course_of(timeline, recist_settings):
    """timeline: (study day, target mm of a 40 mm baseline lesion or None)."""
    return evaluate_recist(
        criteria=RECIST_1_1,
        settings=recist_settings,
        treatment_start=START,
        targets=[TargetLesion("T1", "liver", False, 40)],
        assessments=[Assessment(day(d), {"T1": mm}) for d, mm in timeline],
    )


# 40 mm baseline: 0 = CR, 20 = PR, 35 = SD, 60 = PD, None = NE
@pytest.mark.parametrize(
    ("timeline", "recist_settings", "bor", "bor_day", "confirmed"),
    [
        # confirmed at >= 28 days
        ([(42, 20), (70, 20)], CONFIRM, PR, 42, True),
        ([(42, 0), (70, 0)], CONFIRM, CR, 42, True),
        # CR then disease again: a true CR makes the reappearance PD (Table 3 note), so the
        # best response is SD once its minimum duration is met
        ([(42, 0), (70, 20)], CONFIRM, SD, 42, None),
        ([(42, 20), (70, 0)], CONFIRM, PR, 42, True),  # PR then CR: PR
        ([(42, 20), (56, None), (84, 20)], CONFIRM, PR, 42, True),  # NE in between is tolerated
        # too early to confirm; SD minimum duration met at day 42
        ([(42, 20), (69, 20)], CONFIRM, SD, 42, None),
        ([(42, 20), (70, 35)], CONFIRM, SD, 42, None),
        ([(42, 20), (56, 35), (84, 20)], CONFIRM, SD, 42, None),  # SD breaks the run
        # PR then PD: SD if the minimum duration was met, otherwise PD
        ([(42, 20), (84, 60)], CONFIRM, SD, 42, None),
        ([(28, 20), (56, 60)], CONFIRM, PD, 56, None),
        # PR then NE: SD if the minimum duration was met, otherwise NE
        ([(28, 20), (56, None)], CONFIRM, NE, None, None),
        # without confirmation a single PR or CR counts
        ([(28, 20), (56, 60)], NO_CONFIRM, PR, 28, None),
        ([(42, 35), (84, 0)], NO_CONFIRM, CR, 84, None),
        # SD minimum duration
        ([(35, 35)], NO_CONFIRM, NE, None, None),
        ([(35, 35), (63, 60)], NO_CONFIRM, PD, 63, None),
        ([(42, 35)], NO_CONFIRM, SD, 42, None),
        ([(35, 35), (77, 35)], NO_CONFIRM, SD, 77, None),
        ([(42, 35)], RecistSettings(sd_min_days=56), NE, None, None),
        # nothing evaluable
        ([(42, None)], NO_CONFIRM, NE, None, None),
    ],
)
def test_best_overall_response(timeline, recist_settings, bor, bor_day, confirmed):
    course = course_of(timeline, recist_settings)

    assert course.best_overall_response is bor
    assert course.best_overall_response_date == (day(bor_day) if bor_day is not None else None)
    assert course.best_response_confirmed is confirmed


def test_confirmation_cannot_come_after_progression():
    course = course_of([(42, 20), (56, 60), (84, 20)], CONFIRM)

    assert course.best_overall_response is SD
    assert course.timepoints[2].after_progression is True
    assert course.progression_date == day(56)


def test_confirmation_window_is_a_setting():
    six_weeks = RecistSettings(confirmation_required=True, confirmation_min_days=42)

    course = course_of([(42, 20), (70, 20)], six_weeks)

    assert course.best_overall_response is SD


# --------------------------------------------------------------------------------------------
# Progression date, waterfall, trace
# --------------------------------------------------------------------------------------------


def test_new_lesion_is_progression_on_its_date():
    course = single_lesion_course(RECIST_1_1, 40, [20, 20], new_lesions=False)
    with_new = evaluate_recist(
        criteria=RECIST_1_1,
        settings=RecistSettings(),
        treatment_start=START,
        targets=[TargetLesion("T1", "liver", False, 40)],
        assessments=[
            Assessment(day(42), {"T1": 20}),
            Assessment(day(84), {"T1": 18}, new_lesions=True),
        ],
    )

    assert course.progression_date is None
    assert with_new.progression_date == day(84)
    assert with_new.best_overall_response is PR


def test_equivocal_new_lesion_later_confirmed_dates_progression_to_first_sighting():
    course = evaluate_recist(
        criteria=RECIST_1_1,
        settings=RecistSettings(),
        treatment_start=START,
        targets=[TargetLesion("T1", "liver", False, 40)],
        assessments=[
            Assessment(day(42), {"T1": 20}),
            Assessment(day(84), {"T1": 20}, new_lesions=NewLesions.EQUIVOCAL),
            Assessment(day(126), {"T1": 20}, new_lesions=NewLesions.EQUIVOCAL),
            Assessment(day(168), {"T1": 20}, new_lesions=NewLesions.YES),
        ],
    )

    assert [t.overall_response for t in course.timepoints] == [PR, PR, PR, PD]
    assert course.progression_date == day(84)


def test_percent_changes_and_best_change_for_the_waterfall():
    course = single_lesion_course(RECIST_1_1, 50, [40, 30, 36, 20])

    from_baseline = [t.pct_change_from_baseline for t in course.timepoints]
    from_nadir = [t.pct_change_from_nadir for t in course.timepoints]
    assert from_baseline == pytest.approx([-20.0, -40.0, -28.0, -60.0])
    assert from_nadir == pytest.approx([-20.0, -25.0, 20.0, -33.333333])
    # the waterfall stops at the first progression (day 126), so -60% after it is not used
    assert course.best_pct_change_from_baseline == pytest.approx(-40.0)
    assert course.timepoints[3].after_progression is True


def test_every_call_returns_a_trace_naming_the_rules():
    course = single_lesion_course(RECIST_1_0, 50, [30, 36])

    assert course.criteria == "RECIST 1.0"
    assert course.rule_version == RECIST_1_0.rule_version
    assert "Therasse" in course.trace[0]
    assert len(course.trace) >= 2 + len(course.timepoints)


def test_trial_b_style_non_target_progression_under_1_0():
    course = evaluate_recist(
        criteria=RECIST_1_0,
        settings=RecistSettings(confirmation_required=True),
        treatment_start=START,
        targets=[TargetLesion("T1", "plasmacytoma", False, 32, method="MRI")],
        non_targets=[NonTargetLesion("NT1", "bone")],
        assessments=[
            Assessment(day(56), {"T1": 30}, NonTargetStatus.NON_CR_NON_PD),
            Assessment(day(112), {"T1": 31}, NonTargetStatus.PD),
        ],
    )

    assert [t.overall_response for t in course.timepoints] == [SD, PD]
    assert course.best_overall_response is SD
    assert course.progression_date == day(112)


@pytest.mark.parametrize(
    ("assessments", "message"),
    [
        ([Assessment(START, {"T1": 20})], "not after the treatment start"),
        ([Assessment(day(42), {"T9": 20})], "not baseline target lesions"),
        ([Assessment(day(42), {"T1": -1})], "negative measurement"),
        ([Assessment(day(42), {"T1": 20}), Assessment(day(42), {"T1": 21})], "share a date"),
    ],
)
def test_invalid_assessments_are_rejected(assessments, message):
    with pytest.raises(ValueError, match=message):
        evaluate_recist(
            criteria=RECIST_1_1,
            settings=RecistSettings(),
            treatment_start=START,
            targets=[TargetLesion("T1", "liver", False, 40)],
            assessments=assessments,
        )
