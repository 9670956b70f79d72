"""Entered-versus-computed RECIST discrepancies (RECIST 1.0: Therasse 2000; RECIST 1.1:
Eisenhauer 2009), typed with the IMWG flags of :mod:`response.domain.imwg_discrepancy` so that
both criteria raise the same kinds of query.

* ``PD_MISSED``: the computed call is PD, the entry is not;
* ``OVERCALL`` / ``UNDERCALL``: the entry is better / worse than computed on the scale
  CR > PR > SD = non-CR/non-PD > PD (NE is not on the scale);
* ``NE_MISSING_DATA``: a computed NE timepoint (a target lesion not evaluated, or non-target
  disease not evaluated), raised whether or not an entry was made.

Pure: no clock, no I/O, no Django.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

from response.domain.imwg_discrepancy import DiscrepancyFlag

_RANK: Final = {"PD": 0, "SD": 1, "NON_CR_NON_PD": 1, "PR": 2, "CR": 3}
RECIST_CATEGORIES: Final = frozenset({"CR", "PR", "SD", "NON_CR_NON_PD", "PD", "NE"})


@dataclass(frozen=True, slots=True)
class RecistDiscrepancy:
    flag: DiscrepancyFlag
    scope: str  # "assessment" or "best_overall_response"
    date: date | None
    entered: str | None
    computed: str | None
    detail: str


def _compare(entered: str, computed: str) -> DiscrepancyFlag | None:
    if entered == "NE" or computed == "NE":
        return None
    if computed == "PD" and entered != "PD":
        return DiscrepancyFlag.PD_MISSED
    e, c = _RANK[entered], _RANK[computed]
    if e > c:
        return DiscrepancyFlag.OVERCALL
    if e < c:
        return DiscrepancyFlag.UNDERCALL
    return None


def classify_recist_discrepancies(
    *,
    timepoints: Mapping[date, str],
    best_overall_response: str,
    entered: Sequence[tuple[date, str]] = (),
    entered_bor: str | None = None,
) -> tuple[RecistDiscrepancy, ...]:
    """Compare the investigator's RECIST calls with the computed ones.

    ``timepoints`` maps each assessment date to its computed overall response; an entry for a
    date without an assessment is ignored (the entry service refuses such dates).
    """
    for category in (*(c for _, c in entered), entered_bor):
        if category is not None and category not in RECIST_CATEGORIES:
            raise ValueError(f"{category!r} is not a RECIST response category")
    entries = dict(entered)
    out: list[RecistDiscrepancy] = []
    for when in sorted(timepoints):
        computed = timepoints[when]
        e = entries.get(when)
        if e is not None:
            flag = _compare(e, computed)
            if flag is not None:
                out.append(
                    RecistDiscrepancy(
                        flag, "assessment", when, e, computed, f"entered {e}, computed {computed}"
                    )
                )
        if computed == "NE":
            out.append(
                RecistDiscrepancy(
                    DiscrepancyFlag.NE_MISSING_DATA,
                    "assessment",
                    when,
                    e,
                    computed,
                    "computed NE: a target lesion or the non-target disease was not evaluated",
                )
            )
    if entered_bor is not None:
        flag = _compare(entered_bor, best_overall_response)
        if flag is not None:
            out.append(
                RecistDiscrepancy(
                    flag,
                    "best_overall_response",
                    None,
                    entered_bor,
                    best_overall_response,
                    f"entered BOR {entered_bor}, computed {best_overall_response}",
                )
            )
    return tuple(out)
