"""The 3+3 dose-escalation rule, evaluated live on patients' DLT-window status.

Core table (Storer 1989; Le Tourneau, Lee & Siu 2009): 0/3 DLT -> escalate; 1/3 -> three more
at the same level; <=1/6 -> escalate; >=2 of 3-6 -> the MTD is exceeded at this level. What
follows an exceeded level is the per-trial variant:

- escalation only (Storer, Biometrics 1989;45:925-937; R ``escalation`` default
  ``allow_deescalate = FALSE``): stop and recommend the level below, even with only three
  patients there;
- de-escalation (Korn et al., Stat Med 1994;13:1799-1806; ``allow_deescalate = TRUE``): if the
  level below has fewer than six, treat three more there (cascading down while levels fail);
  otherwise stop with MTD = the highest level with >=6 treated and <=1 DLT.

Both variants never re-escalate into a level that already had >=2 DLTs or six patients, stop
at the top level after 0/3 or <=1/6, and stop with the distinct outcome "no tolerable dose"
when the lowest level is too toxic. Options: ``require_six_at_mtd`` (a candidate MTD with three
patients is expanded to six before it is declared) and a protocol "level -1" (or any untested
level below the start), which is treated as a fallback cohort rather than recommended blind.

Live operation (docs: the escalation.md research note): only DLT-evaluable patients count; a
cohort is decided once complete, except that >=2 DLTs decide "MTD exceeded" at once
(``early_determination``); a not-evaluable patient frees one slot for one replacement; no level
ever holds more than six.

Deviation from R ``escalation`` 0.2.x, on purpose: in escalation-only mode an exceeded start
level with an *untested* level below (a path that starts above level 1) sends the next cohort
to that level, where R would stop and recommend the untested level. Every path that starts at
the lowest level gives R's answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

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
    LevelCounts,
    LevelPatients,
    PatientDLTState,
    Rule,
    RuleSet,
    input_hash,
    snapshot,
)
from dosing.domain.rolling_six import recommend_rolling_six

__all__ = [
    "RULE_VERSION",
    "RULES",
    "DLTStatus",
    "EscalationAction",
    "EscalationInputError",
    "EscalationRecommendation",
    "EscalationSettings",
    "EscalationState",
    "LevelCounts",
    "LevelPatients",
    "PatientDLTState",
    "RuleSet",
    "input_hash",
    "recommend",
    "recommend_from_counts",
    "snapshot",
]

A = EscalationAction

# The decision table as data. Ids are stable: stored recommendations refer to them.
RULES: Mapping[str, Rule] = MappingProxyType(
    {
        r.rule_id: r
        for r in (
            Rule("3p3.P1", "cohort not yet full -> enrol at the current level", A.ENROL),
            Rule(
                "3p3.P2",
                "not-evaluable patient(s) excluded -> one replacement each at the current level",
                A.ENROL,
            ),
            Rule("3p3.P3", "cohort full, DLT evaluation pending -> wait", A.WAIT),
            Rule("3p3.R1", "3 evaluable, 0 DLT -> escalate", A.ESCALATE),
            Rule("3p3.R2", "3 evaluable, 1 DLT -> expand to 6", A.EXPAND),
            Rule("3p3.R3", "6 evaluable, <=1 DLT -> escalate", A.ESCALATE),
            Rule("3p3.R4", "0/3 or <=1/6 at the top level -> stop, MTD = this level", A.STOP_MTD),
            Rule(
                "3p3.R5",
                "0/3 or <=1/6, next level already had >=2 DLTs or 6 patients -> stop, "
                "MTD = this level (never re-escalate)",
                A.STOP_MTD,
            ),
            Rule(
                "3p3.R6",
                "MTD candidate has fewer than 6 evaluable (require six at MTD) -> expand to 6",
                A.EXPAND,
            ),
            Rule(
                "3p3.X1",
                ">=2 DLTs at the lowest level -> stop, no tolerable dose",
                A.STOP_NO_TOLERABLE_DOSE,
            ),
            Rule(
                "3p3.X2",
                ">=2 DLTs, level below untested (e.g. level -1) -> de-escalate, treat 3 there",
                A.DEESCALATE,
            ),
            Rule(
                "3p3.X3",
                ">=2 DLTs (escalation only) -> stop, MTD = level below",
                A.STOP_MTD,
            ),
            Rule(
                "3p3.X4",
                ">=2 DLTs (de-escalation), level below has fewer than 6 -> de-escalate, "
                "3 more there",
                A.DEESCALATE,
            ),
            Rule(
                "3p3.X5",
                ">=2 DLTs (de-escalation), level below has 6 -> stop, MTD = highest level "
                "with >=6 evaluable and <=1 DLT",
                A.STOP_MTD,
            ),
            Rule(
                "3p3.X6",
                ">=2 DLTs (de-escalation), no level has <=1 DLT in >=6 -> stop, no tolerable dose",
                A.STOP_NO_TOLERABLE_DOSE,
            ),
            Rule(
                "3p3.X7",
                ">=2 DLTs, MTD candidate below has fewer than 6 (require six at MTD) -> "
                "de-escalate, 3 more there",
                A.DEESCALATE,
            ),
        )
    }
)


def recommend(settings: EscalationSettings, state: EscalationState) -> EscalationRecommendation:
    """Evaluate the design's rule set on the current DLT data (pure; the entry point)."""
    if settings.rule_set is RuleSet.ROLLING_SIX:
        return recommend_rolling_six(settings, state)
    return recommend_three_plus_three(settings, state)


def recommend_three_plus_three(
    settings: EscalationSettings, state: EscalationState
) -> EscalationRecommendation:
    counts = state.counts(settings)
    return _Evaluation(settings, counts, state.current_level).decide()


def recommend_from_counts(
    settings: EscalationSettings,
    counts: Mapping[int, LevelCounts],
    current_level: int | None,
) -> EscalationRecommendation:
    """The 3+3 rule on per-level counts instead of patients (pathway enumeration, tables).

    The rule only ever looks at counts; levels missing from ``counts`` are untested.
    """
    full = {level: LevelCounts(level=level) for level in settings.levels}
    for level, c in counts.items():
        if level not in full or c.level != level:
            raise EscalationInputError(f"counts for unknown level {level}")
        if c.enrolled > MAX_PER_LEVEL or c.dlts > c.evaluable:
            raise EscalationInputError(f"impossible counts at level {level}: {c.to_dict()}")
        full[level] = c
    if current_level is not None and current_level not in full:
        raise EscalationInputError(f"current level {current_level} is not a level")
    return _Evaluation(settings, full, current_level).decide()


def _fmt(c: LevelCounts) -> str:
    text = f"{c.dlts}/{c.evaluable} DLT"
    if c.pending:
        text += f", {c.pending} pending"
    if c.not_evaluable:
        text += f", {c.not_evaluable} not evaluable"
    return text


class _Evaluation:
    """One evaluation: holds the counts so the branches read like the decision table."""

    def __init__(
        self,
        settings: EscalationSettings,
        counts: Mapping[int, LevelCounts],
        current_level: int | None,
    ) -> None:
        self.s = settings
        self.counts = counts
        self.d = settings.start_level if current_level is None else current_level
        self.c = counts[self.d]
        self.early = False

    def _result(
        self,
        rule_id: str,
        explanation: str,
        *,
        next_level: int | None = None,
        recommended_level: int | None = None,
        slots_open: int = 0,
    ) -> EscalationRecommendation:
        rule = RULES[rule_id]
        terminal = rule.action.is_terminal
        return EscalationRecommendation(
            rule_set=self.s.rule_set,
            action=rule.action,
            current_level=self.d,
            next_level=None if terminal else next_level,
            recommended_level=recommended_level if rule.action is A.STOP_MTD else None,
            continue_trial=not terminal,
            slots_open=0 if terminal else max(0, slots_open),
            rule_id=rule_id,
            rule=rule.label,
            explanation=explanation,
            early_determination=self.early,
            level_counts=tuple(self.counts[level] for level in self.s.levels),
        )

    def decide(self) -> EscalationRecommendation:
        c, d = self.c, self.d
        complete = c.pending == 0 and c.evaluable in (COHORT_SIZE, MAX_PER_LEVEL)
        if c.dlts >= 2 and (complete or self.s.early_determination):
            # Pending or unfilled slots cannot undo two DLTs, so the live rule decides now.
            self.early = not complete
            return self._exceeded()
        if c.enrolled < COHORT_SIZE:
            return self._fill(COHORT_SIZE)
        if c.enrolled == COHORT_SIZE:
            if c.pending:
                return self._wait()
            if c.dlts == 0:
                return self._passed("3p3.R1")
            # 1 DLT: >=2 of 3 evaluable is a complete cohort and was decided above.
            return self._result(
                "3p3.R2",
                f"Level {d}: {_fmt(c)} among 3 evaluable; treat 3 more at level {d}.",
                next_level=d,
                slots_open=MAX_PER_LEVEL - c.enrolled,
            )
        if c.enrolled < MAX_PER_LEVEL:
            return self._fill(MAX_PER_LEVEL)
        if c.pending:
            return self._wait()
        return self._passed("3p3.R3")

    def _fill(self, target: int) -> EscalationRecommendation:
        c, d = self.c, self.d
        open_slots = target - c.enrolled
        if c.not_evaluable:
            return self._result(
                "3p3.P2",
                f"Level {d}: {_fmt(c)}; not-evaluable patients are excluded and replaced one "
                f"for one: {open_slots} slot(s) open at level {d} (cohort target {target}).",
                next_level=d,
                slots_open=open_slots,
            )
        if c.enrolled == 0:
            return self._result(
                "3p3.P1",
                f"No patient at level {d} yet: enrol a cohort of {target} there.",
                next_level=d,
                slots_open=open_slots,
            )
        return self._result(
            "3p3.P1",
            f"Level {d}: {c.enrolled} of {target} enrolled ({_fmt(c)}); "
            f"{open_slots} slot(s) open at level {d}.",
            next_level=d,
            slots_open=open_slots,
        )

    def _wait(self) -> EscalationRecommendation:
        c, d = self.c, self.d
        return self._result(
            "3p3.P3",
            f"Level {d}: {_fmt(c)}; the cohort is full and the decision waits for "
            f"{c.pending} patient(s) to complete the DLT window. No slot is open.",
            next_level=d,
            slots_open=0,
        )

    def _passed(self, escalate_rule: str) -> EscalationRecommendation:
        """The current level is tolerated (0/3 or <=1/6): escalate or stop here."""
        c, d = self.c, self.d
        above = self.s.level_above(d)
        if above is None:
            return self._declare(
                d, "3p3.R4", f"Level {d} ({_fmt(c)}) is the top level and is tolerated."
            )
        ca = self.counts[above]
        if ca.dlts >= 2 or ca.evaluable >= MAX_PER_LEVEL:
            why = "had >=2 DLTs" if ca.dlts >= 2 else "already had 6 patients"
            return self._declare(
                d,
                "3p3.R5",
                f"Level {d} ({_fmt(c)}) is tolerated and level {above} {why} ({_fmt(ca)}); "
                "a failed level is never re-entered.",
            )
        return self._result(
            escalate_rule,
            f"Level {d}: {_fmt(c)}; escalate to level {above}.",
            next_level=above,
            slots_open=COHORT_SIZE - ca.enrolled,
        )

    def _declare(self, level: int, stop_rule: str, why: str) -> EscalationRecommendation:
        """Stop with MTD = ``level``, unless six are required there and not yet treated."""
        cl = self.counts[level]
        if self.s.require_six_at_mtd and cl.evaluable < MAX_PER_LEVEL:
            rule_id = "3p3.R6" if level == self.d else "3p3.X7"
            return self._result(
                rule_id,
                f"{why} MTD candidate level {level} has {cl.evaluable} evaluable; the protocol "
                f"requires 6 at the MTD: treat {MAX_PER_LEVEL - cl.enrolled} more at level "
                f"{level}.",
                next_level=level,
                slots_open=MAX_PER_LEVEL - cl.enrolled,
            )
        return self._result(
            stop_rule,
            f"{why} Stop: MTD = level {level} ({_fmt(cl)}).",
            recommended_level=level,
        )

    def _exceeded(self) -> EscalationRecommendation:
        c, d = self.c, self.d
        why = f"Level {d}: {_fmt(c)}, the MTD is exceeded"
        if self.early:
            why += " (decided early: pending or unfilled slots cannot change >=2 DLTs)"
        why += "."
        below = self.s.level_below(d)
        if below is None:
            return self._result(
                "3p3.X1", f"{why} Level {d} is the lowest level: stop, no tolerable dose."
            )
        cb = self.counts[below]
        if not cb.tested:
            return self._result(
                "3p3.X2",
                f"{why} Level {below} is untested: de-escalate and treat 3 there.",
                next_level=below,
                slots_open=COHORT_SIZE,
            )
        if not self.s.allow_deescalate:
            return self._declare(
                below, "3p3.X3", f"{why} Escalation only: the level below is the MTD."
            )
        if cb.evaluable < MAX_PER_LEVEL:
            return self._result(
                "3p3.X4",
                f"{why} Level {below} has {cb.evaluable} evaluable ({_fmt(cb)}): de-escalate "
                f"and treat {MAX_PER_LEVEL - cb.enrolled} more there.",
                next_level=below,
                slots_open=MAX_PER_LEVEL - cb.enrolled,
            )
        qualifying = [
            level
            for level in self.s.levels
            if self.counts[level].evaluable >= MAX_PER_LEVEL and self.counts[level].dlts <= 1
        ]
        if not qualifying:
            return self._result(
                "3p3.X6",
                f"{why} Level {below} already has 6 and no level has <=1 DLT in 6: stop, "
                "no tolerable dose.",
            )
        return self._declare(
            qualifying[-1],
            "3p3.X5",
            f"{why} Level {below} already has 6 ({_fmt(cb)}).",
        )
