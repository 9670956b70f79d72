"""Eligibility evaluation and the "what is missing" list."""

from datetime import date

from trials.domain.eligibility import CriterionAnswer, CriterionKind, evaluate
from trials.domain.missing import VisitFacts, missing_items

IN, EX = CriterionKind.INCLUSION, CriterionKind.EXCLUSION


def test_eligible_when_all_inclusions_met_and_no_exclusion_applies():
    result = evaluate([CriterionAnswer("IN1", IN, "", True), CriterionAnswer("EX1", EX, "", False)])

    assert result.eligible and result.complete and result.status == "eligible"


def test_failing_criteria_are_named():
    result = evaluate(
        [
            CriterionAnswer("IN1", IN, "", False),
            CriterionAnswer("IN2", IN, "", True),
            CriterionAnswer("EX1", EX, "", True),
            CriterionAnswer("EX2", EX, "", None),
        ]
    )

    assert result.failing == ("IN1", "EX1")
    assert result.unanswered == ("EX2",)
    assert not result.eligible
    assert result.status == "ineligible"


def test_no_criteria_is_not_complete():
    assert not evaluate([]).complete


def test_missing_items():
    visits = [
        VisitFacts(
            "C1D1",
            "Cycle 1 day 1",
            "treatment",
            "done",
            None,
            None,
            False,
            labs=frozenset({"ANC"}),
            doses_recorded=frozenset({"IXA"}),
            doses_expected=frozenset({"IXA", "DEX"}),
        ),
        VisitFacts(
            "C1D8",
            "Cycle 1 day 8",
            "treatment",
            "planned",
            date(2025, 1, 11),
            date(2025, 1, 15),
            False,
        ),
        VisitFacts(
            "C1D15",
            "Cycle 1 day 15",
            "treatment",
            "planned",
            date(2025, 1, 18),
            date(2025, 1, 22),
            False,
        ),
    ]

    items = missing_items(
        visits=visits,
        required_labs=["ANC", "PLT"],
        response_labs=[],
        has_consent=True,
        eligibility_complete=True,
        today=date(2025, 1, 17),
    )

    assert [(i.kind, i.visit_code) for i in items] == [
        ("labs", "C1D1"),
        ("doses", "C1D1"),
        ("overdue_visit", "C1D8"),
    ]
    assert items[0].items == ("PLT",)
    assert items[1].items == ("DEX",)
