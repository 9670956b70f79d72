"""Dose-finding outcome paths ("1NNN 2NTT") and their replay through the escalation engine.

Notation (as in the R package ``escalation``, ``parse_phase1_outcomes``): cohorts separated by
spaces, each the dose-level number followed by one letter per patient, ``N`` = no DLT,
``T`` = DLT. Every patient in a path is DLT-evaluable; patients a cohort still lacks are not yet
enrolled. ``replay_path`` answers what R's ``get_three_plus_three(num_doses, allow_deescalate)``
answers (``recommended_dose``, ``continue``), with R's default of deciding only on complete
cohorts; the live app rule of deciding at once on >=2 DLTs is the ``early_determination``
option.

Validation is stricter than R's ``enforce_three_plus_three``: besides R's checks (a level
skipped, more than six at a level, more than three at a level that had 0/3, more than one
incomplete cohort) every cohort must be at the level the rules named after the cohorts before
it, and nothing may follow a stop. Sources: Storer 1989; Korn et al. 1994; Le Tourneau et al.
2009 (see ``three_plus_three``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from dosing.domain.escalation import (
    COHORT_SIZE,
    MAX_PER_LEVEL,
    RULE_VERSION,
    DLTStatus,
    EscalationAction,
    EscalationInputError,
    EscalationRecommendation,
    EscalationSettings,
    EscalationState,
    LevelPatients,
    PatientDLTState,
)
from dosing.domain.three_plus_three import recommend

_TOKEN = re.compile(r"^(?P<level>[+-]?\d+)(?P<letters>.*)$")


class PathError(ValueError):
    """The outcome path is malformed or does not follow the escalation rules."""


@dataclass(frozen=True, slots=True)
class PathCohort:
    """One cohort of a path: its level and one outcome letter per patient."""

    level: int
    outcomes: str

    @property
    def size(self) -> int:
        return len(self.outcomes)

    @property
    def dlts(self) -> int:
        return self.outcomes.count("T")

    def __str__(self) -> str:
        return f"{self.level}{self.outcomes}"


def parse_path(path: str) -> tuple[PathCohort, ...]:
    """Parse outcome notation into cohorts (syntax only; see ``validate_path``)."""
    if not isinstance(path, str):
        raise PathError(f"a path must be a string, got {type(path).__name__}")
    cohorts = []
    for i, token in enumerate(path.split(), start=1):
        match = _TOKEN.match(token)
        if match is None:
            raise PathError(
                f"cohort {i} ({token!r}) must start with a dose-level number followed by "
                "N/T letters, e.g. '2NNT'"
            )
        letters = match.group("letters")
        if not letters:
            raise PathError(f"cohort {i} ({token!r}) has a level but no patient outcomes")
        bad = sorted({ch for ch in letters if ch not in "NT"})
        if bad:
            raise PathError(
                f"cohort {i} ({token!r}) contains {', '.join(repr(b) for b in bad)}: only N "
                "(no DLT) and T (DLT) are allowed"
            )
        cohorts.append(PathCohort(level=int(match.group("level")), outcomes=letters))
    return tuple(cohorts)


def format_path(cohorts: Sequence[PathCohort]) -> str:
    return " ".join(str(c) for c in cohorts)


@dataclass(frozen=True, slots=True)
class PathReplay:
    """The state a path leads to and the engine's recommendation there."""

    settings: EscalationSettings
    cohorts: tuple[PathCohort, ...]
    state: EscalationState
    recommendation: EscalationRecommendation

    def to_dict(self) -> dict[str, Any]:
        rec = self.recommendation
        by_level = {c.level: c for c in rec.level_counts}
        levels = list(self.settings.levels)
        return {
            "recommended_dose": rec.recommended_dose,
            "continue": rec.continue_trial,
            "next_dose": rec.next_level if rec.continue_trial else None,
            "mtd": rec.recommended_level,
            "no_tolerable_dose": rec.no_tolerable_dose,
            "action": rec.action.value,
            "rule_id": rec.rule_id,
            "rule": rec.rule,
            "explanation": rec.explanation,
            "slots_open": rec.slots_open,
            "early_determination": rec.early_determination,
            "path": format_path(self.cohorts),
            "num_patients": sum(c.size for c in self.cohorts),
            "levels": levels,
            "n_at_dose": [by_level[level].evaluable for level in levels],
            "tox_at_dose": [by_level[level].dlts for level in levels],
            "variant": self.settings.variant,
            "settings": self.settings.to_dict(),
            "rule_version": RULE_VERSION,
        }


def _state(current: int | None, patients: dict[int, list[DLTStatus]]) -> EscalationState:
    return EscalationState(
        current_level=current,
        levels=tuple(
            LevelPatients(level=level, patients=tuple(PatientDLTState(s) for s in statuses))
            for level, statuses in patients.items()
        ),
    )


def replay_cohorts(cohorts: Sequence[PathCohort], settings: EscalationSettings) -> PathReplay:
    """Feed cohorts to the engine one by one, checking each follows the rules.

    A cohort is enrolled in chunks of at most ``slots_open`` patients (all DLT-evaluable), so
    a six-letter cohort is the first three then three more, as R counts it.
    """
    patients: dict[int, list[DLTStatus]] = {}
    current: int | None = None
    state = _state(current, patients)
    rec = recommend(settings, state)
    for i, cohort in enumerate(cohorts, start=1):
        where = f"cohort {i} ({cohort})"
        if cohort.level not in settings.levels:
            raise PathError(
                f"{where}: level {cohort.level} is out of range; the levels are "
                f"{_describe_levels(settings)}"
            )
        already = len(patients.get(cohort.level, []))
        if already + cohort.size > MAX_PER_LEVEL:
            raise PathError(
                f"{where}: {already + cohort.size} patients at level {cohort.level}; "
                f"at most {MAX_PER_LEVEL} may be treated at a level"
            )
        remaining = list(cohort.outcomes)
        while remaining:
            if not rec.continue_trial or rec.next_level != cohort.level or rec.slots_open < 1:
                raise PathError(_diagnose(where, cohort, rec, settings, patients, current))
            chunk, remaining = remaining[: rec.slots_open], remaining[rec.slots_open :]
            patients.setdefault(cohort.level, []).extend(
                DLTStatus.DLT if ch == "T" else DLTStatus.NO_DLT for ch in chunk
            )
            current = cohort.level
            state = _state(current, patients)
            rec = recommend(settings, state)
    return PathReplay(settings=settings, cohorts=tuple(cohorts), state=state, recommendation=rec)


def _describe_levels(settings: EscalationSettings) -> str:
    levels = settings.levels
    if len(levels) == levels[-1] - levels[0] + 1:
        return f"{levels[0]}..{levels[-1]}"
    return ", ".join(str(level) for level in levels)


def _diagnose(
    where: str,
    cohort: PathCohort,
    rec: EscalationRecommendation,
    settings: EscalationSettings,
    patients: dict[int, list[DLTStatus]],
    current: int | None,
) -> str:
    """Name the specific way the path departs from the rules."""
    said = f"the rules said {rec.rule!r}"
    if current is None:
        return (
            f"{where}: the path must start at the start level {settings.start_level}, "
            f"not level {cohort.level}"
        )
    levels = settings.levels
    if abs(levels.index(cohort.level) - levels.index(current)) > 1:
        between = [
            level
            for level in levels
            if min(cohort.level, current) < level < max(cohort.level, current)
        ]
        return (
            f"{where}: level skipped - the path moves from level {current} to level "
            f"{cohort.level}, passing over level(s) {', '.join(map(str, between))}; {said}"
        )
    there = patients.get(cohort.level, [])
    if len(there) == COHORT_SIZE and DLTStatus.DLT not in there:
        return (
            f"{where}: more than 3 patients at level {cohort.level}, which had 0 DLTs in 3 "
            f"(0/3); {said}"
        )
    here = patients.get(current, [])
    if rec.action is EscalationAction.ENROL and cohort.level != current:
        return (
            f"{where}: more than one incomplete cohort - the cohort at level {current} has "
            f"only {len(here)} patient(s) ({rec.slots_open} slot(s) unfilled) when the path "
            f"moves to level {cohort.level}; only the last cohort may be incomplete"
        )
    if not rec.continue_trial:
        return f"{where}: the path continues after the trial stopped; {said}"
    return f"{where}: level {cohort.level} does not follow the rules; {said}"


def replay(
    path: str,
    num_doses: int,
    *,
    allow_deescalate: bool = False,
    require_six_at_mtd: bool = False,
    lowest_level: int = 1,
    start_level: int | None = None,
    early_determination: bool = False,
) -> PathReplay:
    """Parse, validate and replay ``path`` with the design given by the keyword options.

    ``start_level`` defaults to the level of the first cohort (R accepts e.g. "2NNN 3NNT").
    ``early_determination`` defaults to off, as in R: an incomplete cohort such as "2TT"
    continues at its level until it is complete. Raises ``PathError`` naming the problem.
    """
    cohorts = parse_path(path)
    try:
        base = EscalationSettings(
            num_levels=num_doses,
            allow_deescalate=allow_deescalate,
            require_six_at_mtd=require_six_at_mtd,
            lowest_level=lowest_level,
            early_determination=early_determination,
        )
    except EscalationInputError as exc:
        raise PathError(str(exc)) from exc
    if start_level is None:
        start_level = cohorts[0].level if cohorts else 1
    if start_level not in base.levels:
        where = f"cohort 1 ({cohorts[0]})" if cohorts else "the start level"
        raise PathError(
            f"{where}: level {start_level} is out of range; the levels are {_describe_levels(base)}"
        )
    return replay_cohorts(cohorts, replace(base, start_level=start_level))


def replay_path(path: str, num_doses: int, **options: Any) -> dict[str, Any]:
    """What the rules say after ``path``: ``{"recommended_dose", "continue", ...}``.

    Matches R ``escalation::get_three_plus_three(num_doses, allow_deescalate)`` on paths that
    follow the rules: ``recommended_dose`` is the level for the next patients while
    ``continue`` is true, afterwards the MTD, or ``None`` when no dose is tolerable. Options
    as for ``replay``.
    """
    return replay(path, num_doses, **options).to_dict()
