"""Eligibility: a trial's inclusion and exclusion criteria as data, answered one by one.

An inclusion criterion answered "no" (not met) or an exclusion criterion answered "yes"
(applies) makes the patient ineligible; the failing criteria are kept with the screen failure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class CriterionKind(StrEnum):
    INCLUSION = "inclusion"
    EXCLUSION = "exclusion"


@dataclass(frozen=True)
class CriterionAnswer:
    code: str
    kind: CriterionKind
    text: str
    answer: bool | None  # inclusion: met? exclusion: applies? None: not answered yet


@dataclass(frozen=True)
class EligibilityResult:
    complete: bool
    eligible: bool
    failing: tuple[str, ...]
    unanswered: tuple[str, ...]

    @property
    def status(self) -> str:
        if self.failing:
            return "ineligible"
        return "eligible" if self.complete else "incomplete"


def fails(answer: CriterionAnswer) -> bool:
    if answer.answer is None:
        return False
    if answer.kind == CriterionKind.INCLUSION:
        return answer.answer is False
    return answer.answer is True


def evaluate(answers: Iterable[CriterionAnswer]) -> EligibilityResult:
    answers = list(answers)
    failing = tuple(a.code for a in answers if fails(a))
    unanswered = tuple(a.code for a in answers if a.answer is None)
    complete = not unanswered and bool(answers)
    return EligibilityResult(
        complete=complete,
        eligible=complete and not failing,
        failing=failing,
        unanswered=unanswered,
    )
