"""Entered-versus-computed IMWG discrepancies (TrialDesk IMWG research note 5.5).

The product computes the IMWG response (IMWG 2016, Kumar Lancet Oncol 2016;17:e328-46, unless
the study says otherwise), keeps the investigator's entry beside it and raises a typed flag
for every disagreement. It never overwrites the entry.

One flag per disagreement, the most specific that applies:

* ``PD_MISSED``: computed confirmed PD, entered non-PD (instead of ``OVERCALL``);
* ``PD_NOT_APPLICABLE``: entered PD on a marker that is not a PD criterion for this patient
  (dFLC with measurable serum/urine, marrow with measurable serum/urine/FLC), e.g. light-chain
  escape (instead of ``UNDERCALL``);
* ``UNCONFIRMED_AS_CONFIRMED``: an entered best response that only a single, unconfirmed
  assessment reached (instead of ``OVERCALL``);
* ``OVERCALL`` / ``UNDERCALL``: the entry is better / worse than computed (sCR > CR > VGPR > PR >
  MR > SD > PD; NE is not on the scale);
* ``NE_MISSING_DATA``: the computed call is NE or capped because data are missing (raised
  whether or not an entry was made, so that data management can chase the test);
* ``RULESET_MISMATCH``: the computed category changes with a study setting (nadir policy,
  MR plasmacytoma %, urine waiver), found by re-evaluating under the alternative.

Pure: no clock, no I/O, no Django.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, Final, Literal

from response.domain.imwg import (
    MISSING_DATA_FLAGS,
    NOT_APPLICABLE_RISE_FLAGS,
    AssessmentResult,
    ImwgInput,
    ImwgInputError,
    ImwgResult,
    evaluate,
)
from response.domain.imwg_rules import (
    BMPC,
    DFLC,
    IMAGING,
    PLASMACYTOMA,
    SERUM,
    URINE,
    Category,
)

__all__ = [
    "PD_BASES",
    "Discrepancy",
    "DiscrepancyFlag",
    "EnteredResponse",
    "classify_discrepancies",
    "entries_from_dict",
]


class DiscrepancyFlag(StrEnum):
    OVERCALL = "OVERCALL"
    UNDERCALL = "UNDERCALL"
    UNCONFIRMED_AS_CONFIRMED = "UNCONFIRMED_AS_CONFIRMED"
    PD_NOT_APPLICABLE = "PD_NOT_APPLICABLE"
    PD_MISSED = "PD_MISSED"
    NE_MISSING_DATA = "NE_MISSING_DATA"
    RULESET_MISMATCH = "RULESET_MISMATCH"


#: Markers an investigator may name as the basis of an entered PD.
PD_BASES: Final = frozenset({SERUM, URINE, DFLC, BMPC, IMAGING})
_CATEGORIES: Final = frozenset(c.value for c in Category)
# The over/under scale; NE is not on it.
_RANK: Final = {
    Category.PD: 0,
    Category.SD: 1,
    Category.MR: 2,
    Category.PR: 3,
    Category.VGPR: 4,
    Category.CR: 5,
    Category.SCR: 6,
}

Scope = Literal["assessment", "best_overall_response"]


@dataclass(frozen=True, slots=True)
class EnteredResponse:
    """The investigator's call at one assessment (and, for PD, the marker it rests on)."""

    date: date
    category: Category
    pd_basis: str | None = None

    def __post_init__(self) -> None:
        if self.date.__class__ is not date:
            raise ImwgInputError("date", f"must be a date, got {self.date!r}")
        if self.category not in _CATEGORIES:
            raise ImwgInputError(
                "entered_response",
                f"must be one of {sorted(_CATEGORIES)}, got {self.category!r}",
            )
        object.__setattr__(self, "category", Category(self.category))
        if self.pd_basis is not None and self.pd_basis not in PD_BASES:
            raise ImwgInputError(
                "entered_pd_basis",
                f"must be one of {sorted(PD_BASES)} or null, got {self.pd_basis!r}",
            )


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """One disagreement (or computed-side caveat) for an assessment or the BOR."""

    flag: DiscrepancyFlag
    scope: Scope
    date: date | None
    entered: Category | None
    computed: Category | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "flag": self.flag.value,
            "scope": self.scope,
            "date": None if self.date is None else self.date.isoformat(),
            "entered": None if self.entered is None else self.entered.value,
            "computed": None if self.computed is None else self.computed.value,
            "detail": self.detail,
        }


def entries_from_dict(
    data: Mapping[str, Any],
) -> tuple[tuple[EnteredResponse, ...], Category | None]:
    """Read the optional investigator entries from the command's JSON input:
    ``assessments[i].entered_response`` / ``entered_pd_basis`` and the top-level
    ``entered_best_overall_response``."""
    entries = []
    for i, a in enumerate(data.get("assessments") or ()):
        category = a.get("entered_response")
        basis = a.get("entered_pd_basis")
        if category is None:
            if basis is not None:
                raise ImwgInputError(
                    f"assessments[{i}].entered_pd_basis", "given without entered_response"
                )
            continue
        try:
            when = date.fromisoformat(a["date"])
        except (KeyError, TypeError, ValueError):
            raise ImwgInputError(f"assessments[{i}].date", "must be an ISO date") from None
        try:
            entries.append(EnteredResponse(when, category, basis))
        except ImwgInputError as exc:
            raise ImwgInputError(f"assessments[{i}].{exc.field}", exc.message) from None
    bor = data.get("entered_best_overall_response")
    if bor is not None and bor not in _CATEGORIES:
        raise ImwgInputError(
            "entered_best_overall_response",
            f"must be one of {sorted(_CATEGORIES)} or null, got {bor!r}",
        )
    return tuple(entries), None if bor is None else Category(bor)


def _pd_basis_allowed(basis: str, measurable: Sequence[str]) -> bool:
    """IMWG 2016 PD applicability (note 1.4): dFLC only without measurable serum and urine;
    marrow only without measurable serum, urine and FLC."""
    if basis == DFLC:
        return SERUM not in measurable and URINE not in measurable
    if basis == BMPC:
        return not ({SERUM, URINE, DFLC} & set(measurable))
    return True


def _compare(
    entered: Category, computed: AssessmentResult | None, computed_category: Category
) -> DiscrepancyFlag | None:
    if entered is Category.NE or computed_category is Category.NE:
        return None
    e, c = _RANK[entered], _RANK[computed_category]
    if e > c:
        return DiscrepancyFlag.OVERCALL
    if e < c:
        return DiscrepancyFlag.UNDERCALL
    return None


def _alternatives(case: ImwgInput, result: ImwgResult) -> list[tuple[str, ImwgInput]]:
    """The same case under each alternative value of the settings the texts disagree on."""
    s = case.settings
    trace = result.trace
    out = []
    other_policy = (
        "lowest_confirmed" if trace.nadir_policy == "lowest_observed" else "lowest_observed"
    )
    out.append(
        (
            f"nadir_policy={other_policy}",
            dataclasses.replace(case, settings=dataclasses.replace(s, nadir_policy=other_policy)),
        )
    )
    if PLASMACYTOMA in trace.measurable:
        other_pct = 25.0 if trace.mr_plasmacytoma_min_reduction_pct != 25.0 else 50.0
        out.append(
            (
                f"mr_plasmacytoma_min_reduction_pct={other_pct:g}",
                dataclasses.replace(
                    case,
                    settings=dataclasses.replace(s, mr_plasmacytoma_min_reduction_pct=other_pct),
                ),
            )
        )
    if SERUM in trace.measurable and URINE not in trace.measurable:
        waive = not s.waive_urine_for_vgpr
        out.append(
            (
                f"waive_urine_for_vgpr={str(waive).lower()}",
                dataclasses.replace(
                    case, settings=dataclasses.replace(s, waive_urine_for_vgpr=waive)
                ),
            )
        )
    return out


def classify_discrepancies(
    case: ImwgInput,
    result: ImwgResult,
    *,
    entered: Sequence[EnteredResponse] = (),
    entered_bor: Category | str | None = None,
    check_settings: bool = True,
) -> tuple[Discrepancy, ...]:
    """Compare investigator entries with the computed IMWG result of the same ``case``.

    ``entered`` holds per-assessment calls matched by date (a date with no assessment raises
    :class:`~response.domain.imwg.ImwgInputError`); ``entered_bor`` the entered best overall
    response. ``check_settings`` re-evaluates the case under the alternative study settings to
    find ``RULESET_MISMATCH``. Returns flags in assessment-date order, BOR flags last.
    """
    out: list[Discrepancy] = []
    by_date = {a.date: a for a in result.assessments}
    measurable = result.trace.measurable
    entries: dict[date, EnteredResponse] = {}
    for e in entered:
        if e.date not in by_date:
            raise ImwgInputError(
                "entered_response", f"{e.date.isoformat()} matches no assessment date"
            )
        entries[e.date] = e

    alternatives: list[tuple[str, ImwgResult]] = []
    if check_settings:
        alternatives = [(label, evaluate(alt)) for label, alt in _alternatives(case, result)]

    for index, ar in enumerate(result.assessments):
        e = entries.get(ar.date)
        tp = ar.timepoint
        if e is not None:
            flag, detail = _assessment_flag(e, ar, measurable)
            if flag is not None:
                out.append(Discrepancy(flag, "assessment", ar.date, e.category, tp, detail))
        if ar.after_new_therapy:
            continue
        missing = sorted(MISSING_DATA_FLAGS.intersection(ar.flags))
        if tp is Category.NE or missing:
            detail = "computed NE" if tp is Category.NE else "computed call capped"
            if missing:
                detail += " for missing data: " + ", ".join(missing)
            out.append(
                Discrepancy(
                    DiscrepancyFlag.NE_MISSING_DATA,
                    "assessment",
                    ar.date,
                    None if e is None else e.category,
                    tp,
                    detail,
                )
            )
        for label, alt in alternatives:
            other = alt.assessments[index]
            if other.timepoint != tp or other.confirmed != ar.confirmed:
                out.append(
                    Discrepancy(
                        DiscrepancyFlag.RULESET_MISMATCH,
                        "assessment",
                        ar.date,
                        None if e is None else e.category,
                        tp,
                        f"under {label}: timepoint {other.timepoint.value}, confirmed "
                        f"{_name(other.confirmed)} (this study: {tp.value}, "
                        f"{_name(ar.confirmed)})",
                    )
                )

    if entered_bor is not None:
        bor_entered = Category(entered_bor)
        flag, detail = _bor_flag(bor_entered, result, measurable)
        if flag is not None:
            out.append(
                Discrepancy(
                    flag,
                    "best_overall_response",
                    None,
                    bor_entered,
                    result.best_overall_response,
                    detail,
                )
            )
    else:
        bor_entered = None
    if result.best_overall_response is Category.NE:
        out.append(
            Discrepancy(
                DiscrepancyFlag.NE_MISSING_DATA,
                "best_overall_response",
                None,
                bor_entered,
                Category.NE,
                "no evaluable confirmed response",
            )
        )
    for label, alt in alternatives:
        if alt.best_overall_response != result.best_overall_response:
            out.append(
                Discrepancy(
                    DiscrepancyFlag.RULESET_MISMATCH,
                    "best_overall_response",
                    None,
                    bor_entered,
                    result.best_overall_response,
                    f"under {label}: {alt.best_overall_response.value} "
                    f"(this study: {result.best_overall_response.value})",
                )
            )
    return tuple(out)


def _name(c: Category | None) -> str:
    return "pending" if c is None else c.value


def _assessment_flag(
    e: EnteredResponse, ar: AssessmentResult, measurable: Sequence[str]
) -> tuple[DiscrepancyFlag | None, str]:
    tp = ar.timepoint
    if e.category is Category.PD:
        basis_bad = e.pd_basis is not None and not _pd_basis_allowed(e.pd_basis, measurable)
        if basis_bad:
            return (
                DiscrepancyFlag.PD_NOT_APPLICABLE,
                f"PD entered on {e.pd_basis}, not a PD criterion when {', '.join(measurable)} "
                "is measurable",
            )
        if tp is not Category.PD:
            rises = sorted(NOT_APPLICABLE_RISE_FLAGS.intersection(ar.flags))
            if rises:
                return (
                    DiscrepancyFlag.PD_NOT_APPLICABLE,
                    f"PD entered; the rise ({', '.join(rises)}) is on a marker that is not a PD "
                    "criterion for this patient",
                )
        flag = _compare(e.category, ar, tp)
        return flag, f"entered PD, computed {tp.value}" if flag else ""
    if ar.confirmed is Category.PD:
        return DiscrepancyFlag.PD_MISSED, f"computed confirmed PD ({ar.trace.rule_id})"
    flag = _compare(e.category, ar, tp)
    if flag is None:
        return None, ""
    return flag, f"entered {e.category.value}, computed {tp.value} ({ar.trace.rule_id})"


def _bor_flag(
    entered: Category, result: ImwgResult, measurable: Sequence[str]
) -> tuple[DiscrepancyFlag | None, str]:
    computed = result.best_overall_response
    if entered == computed:
        return None, ""
    counted = [a for a in result.assessments if not a.after_new_therapy]
    if result.progression_date is not None:
        counted = [a for a in counted if a.date < result.progression_date]
    if computed is Category.PD and entered is not Category.PD:
        return DiscrepancyFlag.PD_MISSED, f"computed BOR PD (progression {result.progression_date})"
    if (
        entered is Category.PD
        and computed is not Category.PD
        and any(NOT_APPLICABLE_RISE_FLAGS.intersection(a.flags) for a in result.assessments)
    ):
        return (
            DiscrepancyFlag.PD_NOT_APPLICABLE,
            "PD entered; the only rise is on a marker that is not a PD criterion",
        )
    flag = _compare(entered, None, computed)
    if flag is DiscrepancyFlag.OVERCALL:
        e = _RANK[entered]
        single = [
            a
            for a in counted
            if a.timepoint in _RANK and _RANK[a.timepoint] >= e and a.timepoint is not Category.PD
        ]
        if single and not any(
            a.confirmed in _RANK and _RANK[a.confirmed] >= e
            for a in counted  # type: ignore[index]
        ):
            return (
                DiscrepancyFlag.UNCONFIRMED_AS_CONFIRMED,
                f"{entered.value} was reached only at unconfirmed assessment(s) "
                f"{', '.join(a.date.isoformat() for a in single)}; confirmed BOR is "
                f"{computed.value}",
            )
    if flag is None:
        return None, ""
    return flag, f"entered BOR {entered.value}, computed {computed.value}"
