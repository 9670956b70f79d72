"""Build the IMWG engine's input from lab results (IMWG 2016, Kumar Lancet Oncol 2016;17:e328-46).

The response app stores labs as the trials app enters them: one row per analyte per visit, in
canonical units (``trials.domain.labs``). This module turns those rows into the engine's
:class:`~response.domain.imwg.ImwgInput`, with the conventions of the TrialDesk IMWG note 5.1:

* **Baseline** is the treatment line's starting record: for each analyte, the latest value from a
  visit on or before the treatment start (the first dose, C1D1). Screening values count when
  C1D1 has none, and a pre-dose C1D1 value replaces the screening one.
* **Assessments**: one per visit date after the treatment start that has at least one response
  lab (serum/urine M-protein, free light chains, immunofixation, marrow plasma cells). Values are
  never carried across dates here; the engine itself carries the last marrow forward, as the
  criteria say.
* Units are the canonical ones of the lab catalogue, which are the engine's: serum M-protein
  g/dL, 24-h urine M-protein mg/24 h, free light chains mg/L, marrow plasma cells %.

Also here: the input's canonical JSON form and hash (a recomputation with the same input and
rule-set version stores nothing new), and the best % change of the disease marker for the
waterfall plot. Pure: no clock, no I/O, no Django.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Final

from response.domain.imwg import (
    Assessment,
    AssessmentResult,
    Baseline,
    ImwgInput,
    ImwgResult,
    ImwgSettings,
)
from response.domain.imwg_rules import BMPC, DFLC, RULESET_VERSION, SERUM, URINE, Category

#: Lab catalogue code → engine field. These are the labs whose entry triggers an evaluation.
RESPONSE_ANALYTES: Final[Mapping[str, str]] = {
    "SPEP_M": "serum_m_g_dl",
    "UPEP_M": "urine_m_mg_24h",
    "FLC_KAPPA": "kappa_mg_l",
    "FLC_LAMBDA": "lambda_mg_l",
    "SIFE": "serum_ife",
    "UIFE": "urine_ife",
    "BMPC": "bmpc_percent",
}
_CATEGORICAL: Final = frozenset({"SIFE", "UIFE"})

#: Which measurable parameter the waterfall plot shows, in order of preference.
WATERFALL_PARAMETERS: Final = (SERUM, URINE, DFLC, BMPC)

#: Response categories counted by the usual rates (IMWG 2016).
RESPONDER_CATEGORIES: Final = frozenset({Category.PR, Category.VGPR, Category.CR, Category.SCR})
VGPR_OR_BETTER: Final = frozenset({Category.VGPR, Category.CR, Category.SCR})


@dataclass(frozen=True, slots=True)
class LabValue:
    """One stored lab result as the builder needs it (canonical units)."""

    analyte: str
    visit_date: date
    value: Decimal | float | None
    category: str = ""


def build_imwg_input(
    *,
    labs: Iterable[LabValue],
    treatment_start: date,
    settings: ImwgSettings,
    death_date: date | None = None,
    new_therapy_date: date | None = None,
) -> ImwgInput:
    """The engine input for one patient's treatment line.

    ``labs`` may hold any analytes (others are ignored) in any order; for two results of the
    same analyte on the same date the later one in ``labs`` wins. A ``death_date`` before the
    last assessment is a data error the engine refuses; it is dropped here (the date is not
    needed to call the assessments that follow it) and the caller sees it in the input.
    """
    baseline: dict[str, tuple[date, Any]] = {}
    visits: dict[date, dict[str, Any]] = {}
    for lab in labs:
        field = RESPONSE_ANALYTES.get(lab.analyte)
        if field is None:
            continue
        value = _engine_value(lab)
        if value is None:
            continue
        if lab.visit_date <= treatment_start:
            current = baseline.get(field)
            if current is None or lab.visit_date >= current[0]:
                baseline[field] = (lab.visit_date, value)
        else:
            visits.setdefault(lab.visit_date, {})[field] = value
    base = Baseline(date=treatment_start, **{f: v for f, (_, v) in baseline.items()})
    assessments = tuple(Assessment(date=d, **visits[d]) for d in sorted(visits))
    if death_date is not None and assessments and death_date < assessments[-1].date:
        death_date = None
    if new_therapy_date is not None and new_therapy_date <= treatment_start:
        new_therapy_date = None
    return ImwgInput(
        baseline=base,
        assessments=assessments,
        settings=settings,
        new_therapy_date=new_therapy_date,
        death_date=death_date,
    )


def _engine_value(lab: LabValue) -> Any:
    if lab.analyte in _CATEGORICAL:
        category = (lab.category or "").strip().lower()
        return category if category in ("positive", "negative") else None
    if lab.value is None:
        return None
    return float(lab.value)


# --- Canonical form and hash ------------------------------------------------------------------


def input_to_dict(case: ImwgInput) -> dict[str, Any]:
    """The ``imwg_response`` command's JSON shape of ``case`` (dates as ISO strings)."""

    def fields(obj: Any) -> dict[str, Any]:
        out = {}
        for name in obj.__dataclass_fields__:
            value = getattr(obj, name)
            out[name] = value.isoformat() if isinstance(value, date) else value
        return out

    return {
        "settings": fields(case.settings),
        "baseline": fields(case.baseline),
        "assessments": [fields(a) for a in case.assessments],
        "new_therapy_date": _iso(case.new_therapy_date),
        "death_date": _iso(case.death_date),
    }


def input_hash(payload: Mapping[str, Any], *, ruleset_version: str = RULESET_VERSION) -> str:
    """SHA-256 of the canonical JSON of ``payload`` and the rule-set version."""
    text = json.dumps(
        {"input": payload, "ruleset_version": ruleset_version},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _iso(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


# --- Summaries of a result --------------------------------------------------------------------


def waterfall_parameter(result: ImwgResult) -> str | None:
    """The measurable parameter the waterfall plot shows (serum, else urine, dFLC, marrow)."""
    measurable = set(result.measurable)
    return next((p for p in WATERFALL_PARAMETERS if p in measurable), None)


def percent_change(assessment: AssessmentResult, parameter: str | None) -> float | None:
    """% change of ``parameter`` from baseline at one assessment (negative = reduction), read
    from the engine's own trace; ``None`` when the level was not computed there (missing value,
    or PD decided before the ladder)."""
    if parameter is None:
        return None
    for check in assessment.trace.level_checks:
        if check.parameter == parameter and check.reduction_pct is not None:
            return -check.reduction_pct
    return None


def best_percent_change(result: ImwgResult) -> float | None:
    """The largest reduction (most negative % change) before progression and new therapy."""
    parameter = waterfall_parameter(result)
    changes = []
    for a in result.assessments:
        if a.after_new_therapy:
            continue
        if result.progression_date is not None and a.date > result.progression_date:
            continue
        change = percent_change(a, parameter)
        if change is not None:
            changes.append(change)
    return min(changes) if changes else None


def first_response_date(result: ImwgResult) -> date | None:
    """Date of the first assessment confirmed as PR or better (the start of the response, for
    duration of response); ``None`` without a confirmed response."""
    for a in result.assessments:
        if a.after_new_therapy:
            break
        if result.progression_date is not None and a.date >= result.progression_date:
            break
        if a.confirmed in RESPONDER_CATEGORIES:
            return a.date
    return None


def has_measurable_disease(result: ImwgResult) -> bool:
    return bool(result.measurable)


def assessment_dates(case: ImwgInput) -> Sequence[date]:
    return tuple(a.date for a in case.assessments)
