"""What is missing from a patient's record today: the coordinator's to-do list.

Pure: the service maps visits, doses and labs to these dataclasses once and passes "today".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from trials.domain.schedule import VisitKind, VisitState, VisitTiming, visit_timing


@dataclass(frozen=True)
class VisitFacts:
    code: str
    label: str
    kind: str
    state: str
    window_start: date | None
    window_end: date | None
    response_assessment: bool
    labs: frozenset[str] = frozenset()
    doses_recorded: frozenset[str] = frozenset()  # agent codes
    doses_expected: frozenset[str] = frozenset()


@dataclass(frozen=True)
class MissingItem:
    kind: str  # "overdue_visit", "labs", "doses", "consent", "eligibility", "last_contact"
    message: str
    visit_code: str = ""
    items: tuple[str, ...] = field(default=())


def missing_items(
    *,
    visits: Iterable[VisitFacts],
    required_labs: Iterable[str],
    response_labs: Iterable[str],
    has_consent: bool,
    eligibility_complete: bool,
    today: date,
) -> list[MissingItem]:
    items: list[MissingItem] = []
    if not has_consent:
        items.append(MissingItem("consent", "No informed consent on file."))
    if not eligibility_complete:
        items.append(MissingItem("eligibility", "Eligibility criteria not all answered."))
    required = tuple(required_labs)
    response = tuple(response_labs)
    for v in visits:
        timing = visit_timing(
            state=v.state, window_start=v.window_start, window_end=v.window_end, today=today
        )
        if timing == VisitTiming.OVERDUE:
            items.append(
                MissingItem(
                    "overdue_visit",
                    f"{v.label} is overdue (window closed {v.window_end:%Y-%m-%d}).",
                    v.code,
                )
            )
            continue
        if v.state != VisitState.DONE:
            continue
        wanted: tuple[str, ...] = ()
        if v.kind == VisitKind.TREATMENT and v.code.endswith("D1"):
            wanted += required
        if v.response_assessment:
            wanted += tuple(c for c in response if c not in wanted)
        absent = tuple(c for c in wanted if c not in v.labs)
        if absent:
            items.append(
                MissingItem(
                    "labs",
                    f"{v.label}: no result for {', '.join(absent)}.",
                    v.code,
                    absent,
                )
            )
        no_dose = tuple(sorted(v.doses_expected - v.doses_recorded))
        if no_dose:
            items.append(
                MissingItem(
                    "doses",
                    f"{v.label}: no dose recorded for {', '.join(no_dose)}.",
                    v.code,
                    no_dose,
                )
            )
    return items
