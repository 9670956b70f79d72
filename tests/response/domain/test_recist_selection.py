"""Baseline target selection against each version's limits (Therasse 2000; Eisenhauer 2009)."""

import pytest

from response.domain.recist import (
    RECIST_1_0,
    RECIST_1_1,
    ImagingMethod,
    NonTargetLesion,
    RecistSettings,
    TargetLesion,
    TargetSelectionError,
    check_target_selection,
    validate_target_selection,
)


def lesions(organs: str, size: float = 25) -> list[TargetLesion]:
    """One 25 mm lesion per letter; the letter is the organ."""
    return [TargetLesion(f"T{i}", organ, False, size) for i, organ in enumerate(organs, start=1)]


@pytest.mark.parametrize(
    ("criteria", "organs", "valid"),
    [
        (RECIST_1_0, "ABCDEFGHIJ", True),  # 10 total
        (RECIST_1_0, "ABCDEFGHIJK", False),  # 11 total
        (RECIST_1_0, "AAAAABCDE", True),  # 5 in one organ
        (RECIST_1_0, "AAAAAAB", False),  # 6 in one organ
        (RECIST_1_1, "ABCDE", True),  # 5 total
        (RECIST_1_1, "ABCDEF", False),  # 6 total
        (RECIST_1_1, "AABBC", True),  # 2 per organ
        (RECIST_1_1, "AAAB", False),  # 3 in one organ
    ],
)
def test_target_limits(criteria, organs, valid):
    problems = validate_target_selection(criteria, lesions(organs))

    assert (problems == ()) is valid


def test_errors_name_the_limit_and_the_organ():
    with pytest.raises(TargetSelectionError) as caught:
        check_target_selection(RECIST_1_1, lesions("AAABCD"))

    problems = caught.value.problems
    assert "6 target lesions selected; RECIST 1.1 allows at most 5 in total" in problems
    assert any(
        "3 target lesions in organ 'a'" in p and "at most 2 per organ" in p for p in problems
    )


def test_organ_names_are_compared_loosely():
    targets = [
        TargetLesion("T1", "Liver", False, 25),
        TargetLesion("T2", " liver ", False, 25),
        TargetLesion("T3", "LIVER", False, 25),
    ]

    assert len(validate_target_selection(RECIST_1_1, targets)) == 1


@pytest.mark.parametrize(
    ("criteria", "method", "size", "slice_mm", "valid"),
    [
        (RECIST_1_0, ImagingMethod.CT, 10, None, True),  # spiral CT
        (RECIST_1_0, ImagingMethod.CT_CONVENTIONAL, 15, None, False),
        (RECIST_1_0, ImagingMethod.CT_CONVENTIONAL, 20, None, True),
        (RECIST_1_0, ImagingMethod.MRI, 19, None, False),
        (RECIST_1_0, ImagingMethod.CALIPER, 15, None, False),
        (RECIST_1_1, ImagingMethod.CT, 10, None, True),
        (RECIST_1_1, ImagingMethod.CT, 9.9, None, False),
        (RECIST_1_1, ImagingMethod.MRI, 15, None, True),
        (RECIST_1_1, ImagingMethod.CALIPER, 10, None, True),
        (RECIST_1_1, ImagingMethod.CHEST_XRAY, 19, None, False),
        (RECIST_1_1, ImagingMethod.CHEST_XRAY, 20, None, True),
        (RECIST_1_1, ImagingMethod.CT, 14, 8, False),  # 8 mm slices: needs 16 mm
        (RECIST_1_1, ImagingMethod.CT, 16, 8, True),
    ],
)
def test_measurability(criteria, method, size, slice_mm, valid):
    target = TargetLesion("T1", "liver", False, size, method, slice_mm)

    assert (validate_target_selection(criteria, [target]) == ()) is valid


@pytest.mark.parametrize(
    ("criteria", "short_axis", "message"),
    [
        (RECIST_1_1, 15, None),
        (RECIST_1_1, 14, "record it as non-target"),
        (RECIST_1_1, 9, "normal node"),
        (RECIST_1_0, 14, None),  # 1.0 has no node rule; 14 mm on spiral CT is measurable
    ],
)
def test_lymph_node_targets(criteria, short_axis, message):
    problems = validate_target_selection(
        criteria, [TargetLesion("N1", "lymph node", True, short_axis)]
    )

    if message is None:
        assert problems == ()
    else:
        assert len(problems) == 1
        assert message in problems[0]


def test_normal_node_cannot_be_a_non_target_lesion_under_1_1():
    non_targets = [NonTargetLesion("NT1", "lymph node", True, 8)]

    problems = validate_target_selection(RECIST_1_1, lesions("A"), non_targets)

    assert problems == (
        "non-target NT1: lymph node short axis 8 mm is below 10 mm, which is a normal node "
        "under RECIST 1.1",
    )


def test_pathological_node_is_a_valid_non_target_lesion_under_1_1():
    non_targets = [NonTargetLesion("NT1", "lymph node", True, 12)]

    assert validate_target_selection(RECIST_1_1, lesions("A"), non_targets) == ()


def test_duplicate_lesion_ids_are_rejected():
    non_targets = [NonTargetLesion("T1", "bone")]

    problems = validate_target_selection(RECIST_1_1, lesions("A"), non_targets)

    assert problems == ("lesion id 'T1' is used more than once",)


def test_measurable_disease_is_required_unless_the_trial_says_otherwise():
    non_targets = [NonTargetLesion("NT1", "bone")]

    assert validate_target_selection(RECIST_1_1, [], non_targets) != ()
    assert (
        validate_target_selection(
            RECIST_1_1, [], non_targets, RecistSettings(require_measurable_disease=False)
        )
        == ()
    )


def test_no_disease_at_all_is_rejected():
    problems = validate_target_selection(
        RECIST_1_1, [], [], RecistSettings(require_measurable_disease=False)
    )

    assert problems == ("no baseline disease: at least one target or non-target lesion is needed",)
