"""Shared types of the rule-based dose-escalation engine (3+3 and rolling six).

The engine is a pure function ``recommend(settings, state)`` (see ``three_plus_three``) over
the frozen dataclasses defined here. A service maps database rows (patients at each dose level
with their DLT-window status) into an ``EscalationState`` once, calls the rule, and stores the
``EscalationRecommendation`` together with ``snapshot(settings, state)``, ``input_hash`` and
``RULE_VERSION``.

Sources: Storer BE, Biometrics 1989;45:925-937 (escalation-only 3+3); Korn EL et al., Stat Med
1994;13:1799-1806 (de-escalation to confirm six at the MTD); Le Tourneau C, Lee JJ, Siu LL,
JNCI 2009;101:708-720 (review of rule-based designs); Skolnik JM et al., J Clin Oncol
2008;26:190-195 (rolling six). The R package ``escalation`` (K. Brock,
``get_three_plus_three``) is the reference implementation statisticians compare against.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# Bump when any rule, rule id or output field changes meaning: stored recommendations keep the
# version they were produced under, so a re-run under a new version is visibly a new decision.
RULE_VERSION = "1.0.0"

MAX_PER_LEVEL = 6
COHORT_SIZE = 3


class EscalationInputError(ValueError):
    """The settings or the patient state cannot be evaluated (not a rule outcome)."""


class RuleSet(StrEnum):
    THREE_PLUS_THREE = "3+3"
    ROLLING_SIX = "rolling6"


class DLTStatus(StrEnum):
    """A patient's DLT-evaluability status at a dose level.

    ``NO_DLT`` means the DLT window is complete and the protocol's minimum-exposure rule is
    met; ``DLT`` counts as soon as it is observed inside the window; ``NOT_EVALUABLE``
    patients (withdrawal, progression, missed doses) are excluded and free their slot.
    """

    DLT = "DLT"
    NO_DLT = "NO_DLT"
    PENDING = "PENDING"
    NOT_EVALUABLE = "NOT_EVALUABLE"


class EscalationAction(StrEnum):
    ENROL = "ENROL"  # open slots at the current level (cohort not yet full)
    WAIT = "WAIT"  # cohort full, awaiting DLT evaluation: no slot open
    ESCALATE = "ESCALATE"
    EXPAND = "EXPAND"  # three more patients at the current level
    DEESCALATE = "DEESCALATE"
    STOP_MTD = "STOP_MTD"
    STOP_NO_TOLERABLE_DOSE = "STOP_NO_TOLERABLE_DOSE"

    @property
    def is_terminal(self) -> bool:
        return self in (EscalationAction.STOP_MTD, EscalationAction.STOP_NO_TOLERABLE_DOSE)


@dataclass(frozen=True, slots=True)
class EscalationSettings:
    """Per-trial design settings: variants are data, never code changes.

    ``num_levels`` is the highest level K. Levels run from ``lowest_level`` to K without a
    level 0, so ``lowest_level=-1`` gives the protocol's "dose level -1" below level 1.
    ``early_determination``: at least two DLTs at a level decide "MTD exceeded" at once,
    whatever pending or not-yet-enrolled patients of the cohort do (an app rule; the R
    ``escalation`` package waits for the cohort, which ``paths.replay_path`` mimics).
    """

    num_levels: int
    allow_deescalate: bool = False
    require_six_at_mtd: bool = False
    lowest_level: int = 1
    start_level: int = 1
    rule_set: RuleSet = RuleSet.THREE_PLUS_THREE
    early_determination: bool = True

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "rule_set", RuleSet(self.rule_set))
        except ValueError:
            raise EscalationInputError(
                f"unknown rule set {self.rule_set!r}; expected one of "
                + ", ".join(repr(r.value) for r in RuleSet)
            ) from None
        if self.num_levels < 1:
            raise EscalationInputError(f"num_levels must be at least 1, got {self.num_levels}")
        if self.lowest_level == 0 or self.lowest_level > 1:
            raise EscalationInputError(
                f"lowest_level must be 1 or a negative level such as -1, got {self.lowest_level}"
            )
        if self.start_level not in self.levels:
            raise EscalationInputError(
                f"start_level {self.start_level} is not one of the levels {list(self.levels)}"
            )

    @property
    def levels(self) -> tuple[int, ...]:
        """Dose levels in increasing order (no level 0)."""
        return tuple(n for n in range(self.lowest_level, self.num_levels + 1) if n != 0)

    def level_above(self, level: int) -> int | None:
        levels = self.levels
        i = levels.index(level)
        return levels[i + 1] if i + 1 < len(levels) else None

    def level_below(self, level: int) -> int | None:
        levels = self.levels
        i = levels.index(level)
        return levels[i - 1] if i > 0 else None

    @property
    def variant(self) -> str:
        if self.rule_set is RuleSet.ROLLING_SIX:
            return "rolling six"
        return "de-escalation (Korn)" if self.allow_deescalate else "escalation only (Storer)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_set": self.rule_set.value,
            "num_levels": self.num_levels,
            "lowest_level": self.lowest_level,
            "start_level": self.start_level,
            "allow_deescalate": self.allow_deescalate,
            "require_six_at_mtd": self.require_six_at_mtd,
            "early_determination": self.early_determination,
        }


@dataclass(frozen=True, slots=True)
class PatientDLTState:
    """One patient at a level; ``patient_ref`` lets a stored snapshot name who it rests on."""

    status: DLTStatus
    patient_ref: str | None = None

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "status", DLTStatus(self.status))
        except ValueError:
            raise EscalationInputError(
                f"unknown DLT status {self.status!r}; expected one of "
                + ", ".join(s.value for s in DLTStatus)
            ) from None

    def to_dict(self) -> dict[str, Any]:
        return {"patient_ref": self.patient_ref, "status": self.status.value}


@dataclass(frozen=True, slots=True)
class LevelCounts:
    """What the rules look at for one level (not-evaluable patients hold no slot)."""

    level: int
    evaluable: int = 0
    dlts: int = 0
    pending: int = 0
    not_evaluable: int = 0

    @property
    def enrolled(self) -> int:
        """Patients holding a slot: evaluable plus pending."""
        return self.evaluable + self.pending

    @property
    def tested(self) -> bool:
        return self.enrolled > 0

    def to_dict(self) -> dict[str, int]:
        return {
            "level": self.level,
            "evaluable": self.evaluable,
            "dlts": self.dlts,
            "pending": self.pending,
            "not_evaluable": self.not_evaluable,
        }


@dataclass(frozen=True, slots=True)
class LevelPatients:
    """The patients treated at one level, in enrolment order."""

    level: int
    patients: tuple[PatientDLTState, ...] = ()

    def counts(self) -> LevelCounts:
        statuses = [p.status for p in self.patients]
        return LevelCounts(
            level=self.level,
            evaluable=sum(s in (DLTStatus.DLT, DLTStatus.NO_DLT) for s in statuses),
            dlts=statuses.count(DLTStatus.DLT),
            pending=statuses.count(DLTStatus.PENDING),
            not_evaluable=statuses.count(DLTStatus.NOT_EVALUABLE),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "patients": [p.to_dict() for p in self.patients]}


PatientLike = PatientDLTState | DLTStatus | str | tuple[str | None, DLTStatus | str]


def _as_patient(value: PatientLike) -> PatientDLTState:
    if isinstance(value, PatientDLTState):
        return value
    if isinstance(value, tuple):
        ref, status = value
        return PatientDLTState(status=DLTStatus(status), patient_ref=ref)
    return PatientDLTState(status=value)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class EscalationState:
    """The trial's DLT data at one moment, the input of a recommendation.

    ``current_level`` is the level at which the most recently enrolled patient was treated
    (``None`` before the first patient). It is *not* the level last recommended: after a
    "de-escalate" recommendation it stays at the failed level until a patient is enrolled at
    the lower one, exactly as the last dose of an outcome path does in the R package.
    """

    current_level: int | None
    levels: tuple[LevelPatients, ...] = ()

    def __post_init__(self) -> None:
        seen = [lp.level for lp in self.levels]
        if len(seen) != len(set(seen)):
            raise EscalationInputError(f"a level appears more than once: {seen}")
        object.__setattr__(self, "levels", tuple(sorted(self.levels, key=lambda lp: lp.level)))

    @classmethod
    def build(
        cls,
        current_level: int | None,
        patients_by_level: Mapping[int, Iterable[PatientLike]],
    ) -> EscalationState:
        """Convenience constructor: ``{1: ["NO_DLT", "DLT", ("P-007", "PENDING")]}``."""
        return cls(
            current_level=current_level,
            levels=tuple(
                LevelPatients(level=level, patients=tuple(_as_patient(p) for p in patients))
                for level, patients in patients_by_level.items()
            ),
        )

    def counts(self, settings: EscalationSettings) -> dict[int, LevelCounts]:
        """Counts for every level of the design, validated against the settings."""
        counts = {level: LevelCounts(level=level) for level in settings.levels}
        for lp in self.levels:
            if lp.level not in counts:
                raise EscalationInputError(
                    f"patients at level {lp.level}, which is not one of the levels "
                    f"{list(settings.levels)}"
                )
            c = lp.counts()
            if c.enrolled > MAX_PER_LEVEL:
                raise EscalationInputError(
                    f"{c.enrolled} patients hold a slot at level {lp.level}; at most "
                    f"{MAX_PER_LEVEL} are allowed"
                )
            counts[lp.level] = c
        if self.current_level is not None and self.current_level not in counts:
            raise EscalationInputError(
                f"current level {self.current_level} is not one of the levels "
                f"{list(settings.levels)}"
            )
        if self.current_level is None and any(c.tested for c in counts.values()):
            raise EscalationInputError("patients are recorded but no current level is given")
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "current_level": self.current_level,
            "levels": [lp.to_dict() for lp in self.levels],
        }


@dataclass(frozen=True, slots=True)
class EscalationRecommendation:
    """The output of one rule evaluation, stored with its input snapshot.

    ``next_level``: where the next patients go while the trial continues (for ``WAIT`` the
    level whose cohort is awaited; ``slots_open`` is then 0), ``None`` once stopped.
    ``recommended_level``: the MTD once stopped with ``STOP_MTD``; ``None`` otherwise.
    ``recommended_dose`` mirrors R's ``recommended_dose()`` (next level while continuing,
    the MTD after stopping, ``None`` when no dose is tolerable).
    """

    rule_set: RuleSet
    action: EscalationAction
    current_level: int
    next_level: int | None
    recommended_level: int | None
    continue_trial: bool
    slots_open: int
    rule_id: str
    rule: str
    explanation: str
    early_determination: bool = False
    level_counts: tuple[LevelCounts, ...] = field(default=())
    rule_version: str = RULE_VERSION

    @property
    def recommended_dose(self) -> int | None:
        return self.next_level if self.continue_trial else self.recommended_level

    @property
    def no_tolerable_dose(self) -> bool:
        return self.action is EscalationAction.STOP_NO_TOLERABLE_DOSE

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_set": self.rule_set.value,
            "rule_version": self.rule_version,
            "action": self.action.value,
            "current_level": self.current_level,
            "next_level": self.next_level,
            "recommended_level": self.recommended_level,
            "recommended_dose": self.recommended_dose,
            "continue": self.continue_trial,
            "slots_open": self.slots_open,
            "rule_id": self.rule_id,
            "rule": self.rule,
            "explanation": self.explanation,
            "early_determination": self.early_determination,
            "level_counts": [c.to_dict() for c in self.level_counts],
        }


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of a decision table: stable id, the situation, and what it decides."""

    rule_id: str
    text: str
    action: EscalationAction

    @property
    def label(self) -> str:
        return f"{self.rule_id}: {self.text}"


def snapshot(settings: EscalationSettings, state: EscalationState) -> dict[str, Any]:
    """The complete, JSON-serialisable input of a recommendation."""
    return {"settings": settings.to_dict(), "state": state.to_dict()}


def input_hash(settings: EscalationSettings, state: EscalationState) -> str:
    """SHA-256 of the canonical JSON of the input; a change to the data changes the hash."""
    canonical = json.dumps(snapshot(settings, state), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
