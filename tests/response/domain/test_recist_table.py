"""RECIST timepoint tables as pure data: Eisenhauer 2009 Table 1 (targets) and Table 2
(non-target disease only); Therasse 2000 Table 2 is the same for these rows."""

import pytest

from response.domain.recist import (
    NewLesions,
    NonTargetStatus,
    OverallResponse,
    TargetResponse,
    timepoint_response,
)

T, N, R = TargetResponse, NonTargetStatus, OverallResponse
NO, YES, EQ = NewLesions.NO, NewLesions.YES, NewLesions.EQUIVOCAL


@pytest.mark.parametrize(
    ("target", "non_target", "new", "expected"),
    [
        # Table 1
        (T.CR, N.CR, NO, R.CR),
        (T.CR, N.NOT_APPLICABLE, NO, R.CR),
        (T.CR, N.NON_CR_NON_PD, NO, R.PR),
        (T.CR, N.NE, NO, R.PR),
        (T.PR, N.CR, NO, R.PR),
        (T.PR, N.NON_CR_NON_PD, NO, R.PR),
        (T.PR, N.NE, NO, R.PR),
        (T.SD, N.CR, NO, R.SD),
        (T.SD, N.NON_CR_NON_PD, NO, R.SD),
        (T.SD, N.NE, NO, R.SD),
        (T.NE, N.CR, NO, R.NE),
        (T.NE, N.NON_CR_NON_PD, NO, R.NE),
        (T.NE, N.NE, NO, R.NE),
        (T.PD, N.CR, NO, R.PD),
        (T.PD, N.NE, NO, R.PD),
        (T.CR, N.PD, NO, R.PD),
        (T.NE, N.PD, NO, R.PD),
        (T.CR, N.CR, YES, R.PD),
        (T.SD, N.NON_CR_NON_PD, YES, R.PD),
        (T.NE, N.NE, YES, R.PD),
        # Table 2: non-target disease only
        (T.NOT_APPLICABLE, N.CR, NO, R.CR),
        (T.NOT_APPLICABLE, N.NON_CR_NON_PD, NO, R.NON_CR_NON_PD),
        (T.NOT_APPLICABLE, N.NE, NO, R.NE),
        (T.NOT_APPLICABLE, N.PD, NO, R.PD),
        (T.NOT_APPLICABLE, N.CR, YES, R.PD),
        # an equivocal new lesion is not progression yet
        (T.PR, N.NON_CR_NON_PD, EQ, R.PR),
        (T.SD, N.NE, EQ, R.SD),
    ],
)
def test_timepoint_table(target, non_target, new, expected):
    assert timepoint_response(target, non_target, new) is expected


def test_new_lesions_may_be_given_as_a_flag():
    assert timepoint_response(T.PR, N.CR, True) is R.PD
    assert timepoint_response(T.PR, N.CR, False) is R.PR
