"""Entered-versus-computed RECIST calls, typed with the IMWG discrepancy flags."""

from datetime import date

import pytest

from response.domain.recist_discrepancy import classify_recist_discrepancies

D1, D2 = date(2025, 3, 3), date(2025, 4, 28)


@pytest.mark.parametrize(
    ("entered", "computed", "flag"),
    [
        ("CR", "PR", "OVERCALL"),
        ("SD", "PR", "UNDERCALL"),
        ("SD", "PD", "PD_MISSED"),
        ("PD", "SD", "UNDERCALL"),
        ("NON_CR_NON_PD", "SD", None),
        ("NE", "PR", None),
    ],
)
def test_per_assessment(entered, computed, flag):
    found = classify_recist_discrepancies(
        timepoints={D1: computed}, best_overall_response=computed, entered=[(D1, entered)]
    )

    assert [d.flag.value for d in found] == ([flag] if flag else [])


def test_best_response_and_missing_data():
    found = classify_recist_discrepancies(
        timepoints={D1: "PR", D2: "NE"}, best_overall_response="PR", entered_bor="CR"
    )

    assert [(d.flag.value, d.scope, d.date) for d in found] == [
        ("NE_MISSING_DATA", "assessment", D2),
        ("OVERCALL", "best_overall_response", None),
    ]


def test_unknown_categories_are_refused():
    with pytest.raises(ValueError):
        classify_recist_discrepancies(
            timepoints={D1: "PR"}, best_overall_response="PR", entered_bor="VGPR"
        )
