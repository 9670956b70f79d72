"""A trial's dose-limiting-toxicity (DLT) definition as data, and its evaluation for one AE.

DLT definitions are protocol-specific (terms, grades, durations, clinical qualifiers,
exceptions, attribution and the window), so a definition is a list of rules read from plain
data (``dlt_definition_from_data``) that a trial stores with its configuration. Terms and
system organ classes are CTCAE names of the definition's version (v5.0, NCI 2017-11-27) and
are checked against the shipped dictionary.

``evaluate_ae_for_dlt`` flags a *potential* DLT for the investigator and safety review to
confirm; it never confirms one. Conventions:

* A grade episode runs from ``onset`` (first date at that grade) to ``resolved_on`` (first
  date below it, exclusive); its duration is ``(resolved_on - onset).days``. Contiguous or
  overlapping episodes at or above a rule's grade are merged. "Lasting > 7 days" is
  ``min_duration_days = 8``. An episode still ongoing is measured up to ``as_of`` if given.
* The toxicity must start inside the window: the first date the rule's grade is reached
  (for rules without a grade, the AE's onset) lies in ``[first dose, first dose + N days)``,
  i.e. study days 1..N (see ``safety.domain.dlt_window.DltWindow``).
* Attribution is ordered unrelated < unlikely < possible < probable < definite; the AE must
  reach the definition's minimum (trial A: possible) for at least one agent.
* ``rule_ids`` lists the rules whose clinical criteria are met; ``potential`` additionally
  needs the attribution. ``missing`` lists facts that could still change the answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import IntEnum
from types import MappingProxyType
from typing import Any

from safety.domain.ctcae import DEFAULT_VERSION, load_dictionary
from safety.domain.dlt_window import DltWindow


class Attribution(IntEnum):
    """Relationship of an AE to an agent, weakest first."""

    UNRELATED = 1
    UNLIKELY = 2
    POSSIBLE = 3
    PROBABLE = 4
    DEFINITE = 5

    @classmethod
    def parse(cls, value: Attribution | str) -> Attribution:
        if isinstance(value, Attribution):
            return value
        try:
            return cls[str(value).strip().upper()]
        except KeyError:
            names = ", ".join(a.name.lower() for a in cls)
            raise ValueError(f"unknown attribution {value!r}; expected one of {names}") from None

    @property
    def label(self) -> str:
        return self.name.lower()


CLINICAL_FLAGS: frozenset[str] = frozenset({"with_bleeding", "with_fever", "with_transfusion"})


@dataclass(frozen=True, slots=True)
class GradeEpisode:
    """A stretch of an AE at one CTCAE grade (the grade trajectory is a list of these)."""

    grade: int
    onset: date
    resolved_on: date | None = None  # first date below this grade; None = ongoing

    def __post_init__(self) -> None:
        if not 1 <= self.grade <= 5:
            raise ValueError(f"CTCAE grade must be 1..5, got {self.grade}")
        if self.resolved_on is not None and self.resolved_on < self.onset:
            raise ValueError(f"episode resolved ({self.resolved_on}) before onset ({self.onset})")


@dataclass(frozen=True, slots=True)
class AdverseEventFacts:
    """What DLT evaluation needs to know about one adverse event."""

    term: str
    soc: str
    episodes: tuple[GradeEpisode, ...]
    attribution: Mapping[str, Attribution] = field(default_factory=dict, hash=False)
    with_bleeding: bool = False
    with_fever: bool = False
    with_transfusion: bool = False
    controlled_within_hours: float | None = None  # None = not (yet) controlled / unknown
    cycle2_delay_days: int | None = None

    def __post_init__(self) -> None:
        if not self.episodes:
            raise ValueError(f"{self.term!r}: an adverse event needs at least one grade episode")
        ordered = tuple(sorted(self.episodes, key=lambda e: (e.onset, e.grade)))
        object.__setattr__(self, "episodes", ordered)
        parsed = {agent: Attribution.parse(a) for agent, a in self.attribution.items()}
        object.__setattr__(self, "attribution", MappingProxyType(parsed))

    @property
    def max_grade(self) -> int:
        return max(e.grade for e in self.episodes)

    @property
    def onset(self) -> date:
        return self.episodes[0].onset

    @property
    def strongest_attribution(self) -> Attribution | None:
        return max(self.attribution.values(), default=None)


@dataclass(frozen=True, slots=True)
class DltRule:
    """One clause of a DLT definition. Empty ``terms`` means "any term not excluded"."""

    id: str
    description: str
    terms: frozenset[str] = frozenset()
    excluded_socs: frozenset[str] = frozenset()
    excluded_terms: frozenset[str] = frozenset()
    min_grade: int | None = None
    min_duration_days: int | None = None
    required_flags: frozenset[str] = frozenset()
    exception_terms: frozenset[str] = frozenset()
    exception_max_controlled_hours: float | None = None
    min_cycle2_delay_days: int | None = None


@dataclass(frozen=True, slots=True)
class DltDefinition:
    id: str
    title: str
    ctcae_version: str
    window_days: int
    min_attribution: Attribution
    rules: tuple[DltRule, ...]
    source: str = ""

    def window_for(self, first_dose_date: date) -> DltWindow:
        return DltWindow(first_dose_date, self.window_days)

    def rule(self, rule_id: str) -> DltRule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


@dataclass(frozen=True, slots=True)
class DltFlag:
    potential: bool
    rule_ids: tuple[str, ...]
    reasons: tuple[str, ...]
    missing: tuple[str, ...] = ()


# --- definitions from data ------------------------------------------------------------------

_RULE_KEYS = frozenset(DltRule.__dataclass_fields__)
_DEFINITION_KEYS = frozenset(
    {"id", "title", "ctcae_version", "window_days", "min_attribution", "rules", "source"}
)


def dlt_definition_from_data(data: Mapping[str, Any]) -> DltDefinition:
    """Build and validate a definition from plain data (e.g. a trial's stored JSON)."""
    unknown = set(data) - _DEFINITION_KEYS
    if unknown:
        raise ValueError(f"unknown DLT definition field(s): {', '.join(sorted(unknown))}")
    version = str(data.get("ctcae_version", DEFAULT_VERSION))
    dictionary = load_dictionary(version)
    window_days = int(data["window_days"])
    if window_days < 1:
        raise ValueError("window_days must be at least 1")
    rules = tuple(_rule_from_data(r, dictionary) for r in data["rules"])
    ids = [r.id for r in rules]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate DLT rule ids in {ids}")
    if not rules:
        raise ValueError("a DLT definition needs at least one rule")
    return DltDefinition(
        id=str(data["id"]),
        title=str(data.get("title", data["id"])),
        ctcae_version=version,
        window_days=window_days,
        min_attribution=Attribution.parse(data.get("min_attribution", "possible")),
        rules=rules,
        source=str(data.get("source", "")),
    )


def _rule_from_data(data: Mapping[str, Any], dictionary: Any) -> DltRule:
    rule_id = str(data.get("id", "")).strip()
    if not rule_id:
        raise ValueError(f"a DLT rule needs an id: {dict(data)!r}")
    unknown = set(data) - _RULE_KEYS
    if unknown:
        raise ValueError(f"rule {rule_id}: unknown field(s) {', '.join(sorted(unknown))}")

    def terms(key: str) -> frozenset[str]:
        # Canonical CTCAE spelling; raises UnknownCtcaeTermError for a misspelt term.
        return frozenset(dictionary.get(t).term for t in data.get(key, ()))

    def socs(key: str) -> frozenset[str]:
        known = {s.casefold(): s for s in dictionary.socs}
        out = set()
        for s in data.get(key, ()):
            if s.casefold() not in known:
                raise ValueError(f"rule {rule_id}: unknown CTCAE SOC {s!r}")
            out.add(known[s.casefold()])
        return frozenset(out)

    flags = frozenset(data.get("required_flags", ()))
    if flags - CLINICAL_FLAGS:
        raise ValueError(
            f"rule {rule_id}: unknown flag(s) {sorted(flags - CLINICAL_FLAGS)}; "
            f"known: {sorted(CLINICAL_FLAGS)}"
        )
    min_grade = data.get("min_grade")
    if min_grade is not None and not 1 <= int(min_grade) <= 5:
        raise ValueError(f"rule {rule_id}: min_grade must be 1..5")
    duration = data.get("min_duration_days")
    if duration is not None and (min_grade is None or int(duration) < 1):
        raise ValueError(f"rule {rule_id}: min_duration_days needs a min_grade and must be >= 1")
    exception_terms = terms("exception_terms")
    exception_hours = data.get("exception_max_controlled_hours")
    if bool(exception_terms) != (exception_hours is not None):
        raise ValueError(
            f"rule {rule_id}: exception_terms and exception_max_controlled_hours go together"
        )
    delay = data.get("min_cycle2_delay_days")
    if min_grade is None and delay is None:
        raise ValueError(f"rule {rule_id}: needs min_grade or min_cycle2_delay_days")
    return DltRule(
        id=rule_id,
        description=str(data.get("description", rule_id)),
        terms=terms("terms"),
        excluded_socs=socs("excluded_socs"),
        excluded_terms=terms("excluded_terms"),
        min_grade=None if min_grade is None else int(min_grade),
        min_duration_days=None if duration is None else int(duration),
        required_flags=flags,
        exception_terms=exception_terms,
        exception_max_controlled_hours=None if exception_hours is None else float(exception_hours),
        min_cycle2_delay_days=None if delay is None else int(delay),
    )


def dlt_definition_to_data(definition: DltDefinition) -> dict[str, Any]:
    """The plain-data form of a definition (round-trips through dlt_definition_from_data)."""

    def rule_data(rule: DltRule) -> dict[str, Any]:
        out: dict[str, Any] = {"id": rule.id, "description": rule.description}
        for key in sorted(_RULE_KEYS - {"id", "description"}):
            value = getattr(rule, key)
            if isinstance(value, frozenset):
                if value:
                    out[key] = sorted(value)
            elif value is not None:
                out[key] = value
        return out

    return {
        "id": definition.id,
        "title": definition.title,
        "ctcae_version": definition.ctcae_version,
        "window_days": definition.window_days,
        "min_attribution": definition.min_attribution.label,
        "source": definition.source,
        "rules": [rule_data(r) for r in definition.rules],
    }


# Haematological terms of the Investigations SOC (blood counts); with the "Blood and
# lymphatic system disorders" SOC they make up "haematological toxicity".
HAEMATOLOGICAL_INVESTIGATION_TERMS: tuple[str, ...] = (
    "CD4 lymphocytes decreased",
    "Hemoglobin increased",
    "Lymphocyte count decreased",
    "Lymphocyte count increased",
    "Neutrophil count decreased",
    "Platelet count decreased",
    "White blood cell decreased",
)

# Trial A (ixazomib + pomalidomide + dexamethasone, phase I/II). The registration fixes the
# 21-day DLT window; the paper reports the DLTs but not the protocol's definition, so the
# rules below are the product's default modelled on usual myeloma phase I protocols and must
# be checked against the protocol before a real trial uses them.
TRIAL_A_DLT_DEFINITION_DATA: Mapping[str, Any] = MappingProxyType(
    {
        "id": "trial-a-ipd-dlt",
        "title": "Trial A (ixazomib + pomalidomide + dexamethasone): DLT definition",
        "ctcae_version": "5.0",
        "window_days": 21,
        "min_attribution": "possible",
        "source": (
            "21-day DLT window: trial registration. Rules: TrialDesk default for trial A, "
            "modelled on the published DLTs (DL1: grade 3 fatigue, grade 3 lung infection, "
            "grade 4 neutropenia, grade 4 thrombocytopenia; DL2: grade 4 febrile neutropenia, "
            "neutropenia, thrombocytopenia); confirm against the protocol."
        ),
        "rules": (
            {
                "id": "heme_neut_g4_gt7d",
                "description": "Grade 4 neutropenia lasting > 7 days",
                "terms": ("Neutrophil count decreased",),
                "min_grade": 4,
                "min_duration_days": 8,
            },
            {
                "id": "heme_febrile_neutropenia_g3",
                "description": "Febrile neutropenia (grade >= 3)",
                "terms": ("Febrile neutropenia",),
                "min_grade": 3,
            },
            {
                "id": "heme_plt_g4",
                "description": "Grade 4 thrombocytopenia",
                "terms": ("Platelet count decreased",),
                "min_grade": 4,
            },
            {
                "id": "heme_plt_g3_bleeding",
                "description": "Grade 3 thrombocytopenia with bleeding",
                "terms": ("Platelet count decreased",),
                "min_grade": 3,
                "required_flags": ("with_bleeding",),
            },
            {
                "id": "nonheme_g3",
                "description": (
                    "Grade >= 3 non-haematological toxicity, except nausea, vomiting or "
                    "diarrhoea controlled within 72 hours"
                ),
                "min_grade": 3,
                "excluded_socs": ("Blood and lymphatic system disorders",),
                "excluded_terms": HAEMATOLOGICAL_INVESTIGATION_TERMS,
                "exception_terms": ("Nausea", "Vomiting", "Diarrhea"),
                "exception_max_controlled_hours": 72,
            },
            {
                "id": "cycle2_delay_gt14d",
                "description": "Toxicity delaying cycle 2 by more than 14 days",
                "min_cycle2_delay_days": 15,
            },
        ),
    }
)

TRIAL_A_DLT_DEFINITION: DltDefinition = dlt_definition_from_data(TRIAL_A_DLT_DEFINITION_DATA)


# --- evaluation -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Stretch:
    onset: date
    resolved_on: date | None  # None = ongoing


def _stretches_at_or_above(episodes: Iterable[GradeEpisode], grade: int) -> list[_Stretch]:
    merged: list[_Stretch] = []
    for e in sorted((e for e in episodes if e.grade >= grade), key=lambda e: e.onset):
        if merged:
            last = merged[-1]
            if last.resolved_on is None or e.onset <= last.resolved_on:
                end = (
                    None
                    if last.resolved_on is None or e.resolved_on is None
                    else max(last.resolved_on, e.resolved_on)
                )
                merged[-1] = _Stretch(last.onset, end)
                continue
        merged.append(_Stretch(e.onset, e.resolved_on))
    return merged


def _term_matches(rule: DltRule, ae: AdverseEventFacts) -> bool:
    term = ae.term.casefold()
    if rule.terms:
        return term in {t.casefold() for t in rule.terms}
    if term in {t.casefold() for t in rule.excluded_terms}:
        return False
    return ae.soc.casefold() not in {s.casefold() for s in rule.excluded_socs}


def _evaluate_rule(
    rule: DltRule, ae: AdverseEventFacts, window: DltWindow, as_of: date | None
) -> tuple[bool, str | None, str | None]:
    """(matched, reason, missing) for one rule; reason/missing only when worth saying."""
    if not _term_matches(rule, ae):
        return False, None, None

    if rule.min_cycle2_delay_days is not None:
        delay = ae.cycle2_delay_days
        if delay is None or delay < rule.min_cycle2_delay_days:
            return False, None, None

    if rule.min_grade is None:
        onset = ae.onset
        grade_text = "any grade"
    else:
        stretches = _stretches_at_or_above(ae.episodes, rule.min_grade)
        if not stretches:
            return False, None, None
        grade_text = f"grade >= {rule.min_grade}"
        in_window = [s for s in stretches if window.contains(s.onset)]
        if not in_window:
            first = stretches[0].onset
            return (
                False,
                f"{rule.id}: {grade_text} began on study day {window.study_day(first)}, "
                f"outside the {window.length_days}-day DLT window",
                None,
            )
        onset = in_window[0].onset
        if rule.min_duration_days is not None:
            lasting = [s for s in in_window if _lasted(s, as_of, rule.min_duration_days)]
            if not lasting:
                return _too_short(rule.id, rule.min_grade, rule.min_duration_days, in_window, as_of)
            onset = lasting[0].onset

    if not window.contains(onset):
        return (
            False,
            f"{rule.id}: onset on study day {window.study_day(onset)}, outside the "
            f"{window.length_days}-day DLT window",
            None,
        )

    for flag in sorted(rule.required_flags):
        if not getattr(ae, flag):
            return False, f"{rule.id}: {grade_text} but not {flag.replace('_', ' ')}", None

    if ae.term.casefold() in {t.casefold() for t in rule.exception_terms}:
        hours = ae.controlled_within_hours
        limit = rule.exception_max_controlled_hours
        if hours is not None and limit is not None and hours <= limit:
            return (
                False,
                f"{rule.id}: {ae.term} controlled within {hours:g} h (<= {limit:g} h) is excepted",
                None,
            )

    if rule.min_cycle2_delay_days is not None:
        return (
            True,
            f"{rule.id}: {rule.description} (cycle 2 delayed {ae.cycle2_delay_days} days, "
            f"toxicity onset study day {window.study_day(onset)})",
            None,
        )

    return (
        True,
        f"{rule.id}: {rule.description} (grade {ae.max_grade} {ae.term}, onset study day "
        f"{window.study_day(onset)})",
        None,
    )


def _lasted(stretch: _Stretch, as_of: date | None, min_days: int) -> bool:
    end = stretch.resolved_on if stretch.resolved_on is not None else as_of
    return end is not None and (end - stretch.onset).days >= min_days


def _too_short(
    rule_id: str, min_grade: int, needed: int, stretches: Sequence[_Stretch], as_of: date | None
) -> tuple[bool, str | None, str | None]:
    """The answer when no stretch has lasted ``needed`` days (yet)."""
    ongoing = [s for s in stretches if s.resolved_on is None]
    if ongoing:
        so_far = "" if as_of is None else f" ({(as_of - ongoing[0].onset).days} day(s) so far)"
        return (
            False,
            None,
            f"{rule_id}: grade >= {min_grade} ongoing{so_far}; "
            f"a DLT if it lasts {needed} days or more",
        )
    longest = max((s.resolved_on - s.onset).days for s in stretches if s.resolved_on)
    return (
        False,
        f"{rule_id}: grade >= {min_grade} lasted {longest} day(s), fewer than the {needed} required",
        None,
    )


def evaluate_ae_for_dlt(
    ae: AdverseEventFacts,
    definition: DltDefinition,
    window: DltWindow,
    *,
    as_of: date | None = None,
) -> DltFlag:
    """Flag ``ae`` as a potential DLT under ``definition`` in this patient's ``window``.

    ``as_of`` ("today", passed in) measures episodes that are still ongoing; without it an
    ongoing episode whose duration matters is reported in ``missing``.
    """
    matched: list[str] = []
    reasons: list[str] = []
    missing: list[str] = []
    for rule in definition.rules:
        ok, reason, gap = _evaluate_rule(rule, ae, window, as_of)
        if ok:
            matched.append(rule.id)
        if reason:
            reasons.append(reason)
        if gap:
            missing.append(gap)

    minimum = definition.min_attribution
    strongest = ae.strongest_attribution
    attributed = strongest is not None and strongest >= minimum
    if matched:
        if strongest is None:
            missing.append(f"attribution not assessed; needs at least {minimum.label}")
        elif not attributed:
            reasons.append(
                f"attribution {strongest.label} for every agent, below the required "
                f"{minimum.label}: not a DLT"
            )
        else:
            agents = sorted(a for a, v in ae.attribution.items() if v >= minimum)
            reasons.append(
                f"attribution {strongest.label} (>= {minimum.label}) to {', '.join(agents)}"
            )
    elif not reasons and not missing:
        reasons.append("no DLT rule matches")
    return DltFlag(
        potential=bool(matched) and attributed,
        rule_ids=tuple(matched),
        reasons=tuple(reasons),
        missing=tuple(missing),
    )
