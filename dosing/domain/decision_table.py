"""The printable decision table and the dose-path ("what if") view of the escalation rules.

Both are produced by running the engine (``three_plus_three.recommend``) on representative
states, so what the protocol prints and what the app decides cannot drift apart. The
dose-path view answers "what happens if the next cohort has 0, 1, 2 or 3 DLTs", as the R
``escalation`` package's ``get_dose_paths`` does (Brock K. et al.); clinicians ask for both in
the protocol (the dose-finding.md research note section 2.2). Rules: Storer 1989; Korn et al.
1994; Le Tourneau, Lee & Siu 2009; Skolnik et al. 2008 (rolling six).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from dosing.domain.escalation import (
    DLTStatus,
    EscalationInputError,
    EscalationRecommendation,
    EscalationSettings,
    EscalationState,
    LevelPatients,
    PatientDLTState,
    RuleSet,
)
from dosing.domain.rolling_six import rolling_six_decision_table
from dosing.domain.three_plus_three import recommend

N, T, P, X = DLTStatus.NO_DLT, DLTStatus.DLT, DLTStatus.PENDING, DLTStatus.NOT_EVALUABLE

MAX_PATH_DEPTH = 6


@dataclass(frozen=True, slots=True)
class DecisionTableRow:
    """One printable row: the counts at the current level, the situation, the decision."""

    evaluable: str
    dlts: str
    pending: str
    situation: str
    action: str
    rule_id: str
    decision: str
    next_level: str

    def to_dict(self) -> dict[str, str]:
        return {
            "evaluable": self.evaluable,
            "dlts": self.dlts,
            "pending": self.pending,
            "situation": self.situation,
            "action": self.action,
            "rule_id": self.rule_id,
            "decision": self.decision,
            "next_level": self.next_level,
        }


# A scenario builds, for given settings, (current level d, patients by level) or None when the
# design has no such situation (e.g. "level below untested" needs a level below the start).
_Patients = dict[int, list[DLTStatus]]
_Builder = Callable[[EscalationSettings], tuple[int, _Patients] | None]


@dataclass(frozen=True, slots=True)
class _Scenario:
    evaluable: str
    dlts: str
    pending: str
    situation: str
    build: _Builder


def _history(s: EscalationSettings, d: int, below: list[DLTStatus] | None = None) -> _Patients:
    """Levels from the start up to below ``d`` passed with 0/3 (``below`` replaces d-1)."""
    patients: _Patients = {}
    levels = s.levels
    for level in levels[levels.index(s.start_level) : levels.index(d)]:
        patients[level] = [N, N, N]
    lower = s.level_below(d)
    if below is not None and lower is not None:
        patients[lower] = list(below)
    return patients


def _first_with_above(s: EscalationSettings) -> int | None:
    return s.start_level if s.level_above(s.start_level) is not None else None


def _start(s: EscalationSettings) -> int | None:
    return s.start_level


def _second(s: EscalationSettings) -> int | None:
    return s.level_above(s.start_level)


def _at(
    pick: Callable[[EscalationSettings], int | None],
    here: list[DLTStatus],
    *,
    below: list[DLTStatus] | None = None,
    above: list[DLTStatus] | None = None,
) -> _Builder:
    def build(s: EscalationSettings) -> tuple[int, _Patients] | None:
        d = pick(s)
        if d is None:
            return None
        if below is not None and (s.level_below(d) is None or d == s.start_level):
            return None
        patients = _history(s, d, below)
        patients[d] = list(here)
        if above is not None:
            up = s.level_above(d)
            if up is None:
                return None
            patients[up] = list(above)
        return d, patients

    return build


def _top(s: EscalationSettings) -> int | None:
    return s.levels[-1] if s.levels[-1] >= s.start_level else None


def _lowest_failed(s: EscalationSettings) -> tuple[int, _Patients] | None:
    lowest = s.levels[0]
    patients: _Patients = {lowest: [N, T, T]}
    if lowest != s.start_level:  # reached only after the start level failed
        patients[s.start_level] = [N, T, T]
    return lowest, patients


def _below_untested(s: EscalationSettings) -> tuple[int, _Patients] | None:
    if s.level_below(s.start_level) is None:
        return None
    return s.start_level, {s.start_level: [N, T, T]}


_THREE_PLUS_THREE: tuple[_Scenario, ...] = (
    _Scenario("0-2", "<=1", "0", "cohort not yet full", _at(_start, [N, N])),
    _Scenario("0-2", "<=1", "0", "a not-evaluable patient dropped out", _at(_start, [N, N, X])),
    _Scenario("0-2", "<=1", ">=1", "3 enrolled, DLT window open", _at(_start, [N, N, P])),
    _Scenario(
        "2",
        "2",
        ">=1",
        ">=2 DLTs before the cohort is complete, level below has 3 (0/3)",
        _at(_second, [T, T, P], below=[N, N, N]),
    ),
    _Scenario("3", "0", "0", "higher level untested", _at(_first_with_above, [N, N, N])),
    _Scenario("3", "0", "0", "top level", _at(_top, [N, N, N])),
    _Scenario(
        "3",
        "0",
        "0",
        "higher level already had >=2 DLTs",
        _at(_first_with_above, [N, N, N], above=[N, T, T]),
    ),
    _Scenario("3", "1", "0", "any", _at(_start, [N, N, T])),
    _Scenario("3-5", "<=1", "0", "second cohort not yet full", _at(_start, [N, N, T, N])),
    _Scenario("3-5", "<=1", ">=1", "6 enrolled, DLT window open", _at(_start, [N, N, T, N, P, P])),
    _Scenario("6", "<=1", "0", "higher level untested", _at(_first_with_above, [N, N, T, N, N, N])),
    _Scenario("6", "<=1", "0", "top level", _at(_top, [N, N, T, N, N, N])),
    _Scenario(
        "6",
        "<=1",
        "0",
        "higher level already had >=2 DLTs",
        _at(_first_with_above, [N, N, T, N, N, N], above=[N, T, T]),
    ),
    _Scenario("3 or 6", ">=2", "0", "lowest level", _lowest_failed),
    _Scenario("3 or 6", ">=2", "0", "level below untested (e.g. level -1)", _below_untested),
    _Scenario(
        "3 or 6", ">=2", "0", "level below has 3 (0/3)", _at(_second, [N, T, T], below=[N, N, N])
    ),
    _Scenario(
        "3 or 6",
        ">=2",
        "0",
        "level below has 6 (<=1/6)",
        _at(_second, [N, T, T], below=[N, N, T, N, N, N]),
    ),
)


def _state(current: int | None, patients: _Patients) -> EscalationState:
    return EscalationState(
        current_level=current,
        levels=tuple(
            LevelPatients(level=level, patients=tuple(PatientDLTState(x) for x in statuses))
            for level, statuses in patients.items()
        ),
    )


def _next_level_text(rec: EscalationRecommendation) -> str:
    if not rec.continue_trial:
        return "stop"
    if rec.next_level == rec.current_level:
        return "same level"
    assert rec.next_level is not None
    return "one level up" if rec.next_level > rec.current_level else "one level down"


def decision_table(settings: EscalationSettings) -> tuple[DecisionTableRow, ...]:
    """The complete decision table for these settings, one row per situation."""
    if settings.rule_set is RuleSet.ROLLING_SIX:
        return rolling_six_decision_table(settings)
    rows = []
    for scenario in _THREE_PLUS_THREE:
        built = scenario.build(settings)
        if built is None:
            continue
        d, patients = built
        rec = recommend(settings, _state(d, patients))
        rows.append(
            DecisionTableRow(
                evaluable=scenario.evaluable,
                dlts=scenario.dlts,
                pending=scenario.pending,
                situation=scenario.situation,
                action=rec.action.value,
                rule_id=rec.rule_id,
                decision=_rule_text(rec),
                next_level=_next_level_text(rec),
            )
        )
    return tuple(rows)


def _rule_text(rec: EscalationRecommendation) -> str:
    return rec.rule.split(": ", 1)[1]


# --- dose paths ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DosePathNode:
    """A node of the dose-path tree: the hypothetical cohort that led here and the decision."""

    cohort: str  # path notation of the hypothetical cohort, e.g. "2NNT"; "" at the root
    dlts: int | None
    recommendation: EscalationRecommendation
    children: tuple[DosePathNode, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        rec = self.recommendation
        return {
            "cohort": self.cohort,
            "dlts": self.dlts,
            "action": rec.action.value,
            "rule_id": rec.rule_id,
            "recommended_dose": rec.recommended_dose,
            "continue": rec.continue_trial,
            "next_level": rec.next_level,
            "recommended_level": rec.recommended_level,
            "explanation": rec.explanation,
            "children": [c.to_dict() for c in self.children],
        }


def _next_cohort(
    settings: EscalationSettings, state: EscalationState, rec: EscalationRecommendation
) -> tuple[int, int, int] | None:
    """(level, pending there, new patients) making up the next cohort, or None if stopped."""
    if not rec.continue_trial or rec.next_level is None:
        return None
    level = rec.next_level
    pending = next((lp.counts().pending for lp in state.levels if lp.level == level), 0)
    size = pending + rec.slots_open
    return (level, pending, rec.slots_open) if size else None


def _resolve(state: EscalationState, level: int, new: int, dlts: int) -> EscalationState:
    """The state after the pending patients at ``level`` and ``new`` patients are evaluated
    with ``dlts`` DLTs among them (who had them does not matter to the rules)."""
    levels = {lp.level: lp.patients for lp in state.levels}
    existing = list(levels.get(level, ()))
    resolved: list[PatientDLTState] = []
    budget = dlts
    for patient in existing:
        if patient.status is DLTStatus.PENDING:
            status = DLTStatus.DLT if budget > 0 else DLTStatus.NO_DLT
            budget -= status is DLTStatus.DLT
            resolved.append(replace(patient, status=status))
        else:
            resolved.append(patient)
    for _ in range(new):
        status = DLTStatus.DLT if budget > 0 else DLTStatus.NO_DLT
        budget -= status is DLTStatus.DLT
        resolved.append(PatientDLTState(status))
    levels[level] = tuple(resolved)
    current = level if new else state.current_level
    return EscalationState(
        current_level=current,
        levels=tuple(LevelPatients(level=k, patients=v) for k, v in levels.items()),
    )


def dose_paths(
    settings: EscalationSettings, state: EscalationState, depth: int = 1
) -> DosePathNode:
    """The tree of decisions over the next ``depth`` cohorts, for every DLT count."""
    if not 0 <= depth <= MAX_PATH_DEPTH:
        raise EscalationInputError(f"depth must be between 0 and {MAX_PATH_DEPTH}, got {depth}")
    return _node(settings, state, "", None, depth)


def _node(
    settings: EscalationSettings,
    state: EscalationState,
    cohort: str,
    dlts: int | None,
    depth: int,
) -> DosePathNode:
    rec = recommend(settings, state)
    nxt = _next_cohort(settings, state, rec) if depth > 0 else None
    if nxt is None:
        return DosePathNode(cohort=cohort, dlts=dlts, recommendation=rec)
    level, pending, new = nxt
    size = pending + new
    children = tuple(
        _node(
            settings,
            _resolve(state, level, new, k),
            f"{level}{'N' * (size - k)}{'T' * k}",
            k,
            depth - 1,
        )
        for k in range(size + 1)
    )
    return DosePathNode(cohort=cohort, dlts=dlts, recommendation=rec, children=children)


@dataclass(frozen=True, slots=True)
class WhatIfOutcome:
    """What the rules decide if the next cohort (at ``level``) has ``dlts`` DLTs."""

    level: int
    cohort_size: int
    dlts: int
    cohort: str
    recommendation: EscalationRecommendation

    def to_dict(self) -> dict[str, Any]:
        rec = self.recommendation
        return {
            "level": self.level,
            "cohort_size": self.cohort_size,
            "dlts": self.dlts,
            "cohort": self.cohort,
            "action": rec.action.value,
            "rule_id": rec.rule_id,
            "recommended_dose": rec.recommended_dose,
            "continue": rec.continue_trial,
            "explanation": rec.explanation,
        }


def what_if(settings: EscalationSettings, state: EscalationState) -> tuple[WhatIfOutcome, ...]:
    """One row per possible DLT count of the next cohort (empty once the trial has stopped).

    The next cohort is the patients still pending at the level the rules name plus the slots
    open there, so for a full cohort awaiting its DLT window it is the pending patients.
    """
    root = dose_paths(settings, state, depth=1)
    return tuple(
        WhatIfOutcome(
            level=int(child.cohort.rstrip("NT")),
            cohort_size=len(child.cohort.lstrip("-0123456789")),
            dlts=child.dlts or 0,
            cohort=child.cohort,
            recommendation=child.recommendation,
        )
        for child in root.children
    )


def flatten_paths(node: DosePathNode, prefix: Sequence[str] = ()) -> list[tuple[str, DosePathNode]]:
    """Leaf and inner nodes as (path string, node) pairs, depth first (for tables)."""
    here = [*prefix, node.cohort] if node.cohort else list(prefix)
    rows = [(" ".join(here), node)]
    for child in node.children:
        rows.extend(flatten_paths(child, here))
    return rows
