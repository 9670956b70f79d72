"""The rolling six rule set (Skolnik JM et al., J Clin Oncol 2008;26:190-195).

Two to six patients may be on study at a level at once; each new patient is assigned from the
number enrolled (evaluable + pending), the number evaluable and the number with a DLT. Grid
used (rolling-6 column of Frankel et al., JAMA Netw Open 2020;3(5):e204787, Table 2; V1 in
the dose-finding.md research note section 1.4):

- 0 DLT: all of >=3 enrolled evaluable, or 6 enrolled with >=5 evaluable -> escalate
  (at the top level: MTD once >=5 are evaluable); otherwise same level, or hold at 6;
- 1 DLT: fewer than 6 enrolled -> same level; 6 enrolled, <=5 evaluable -> hold; 6/6 -> escalate;
- >=2 DLTs -> de-escalate (decided at once, pending patients cannot undo it).

Interpretations where the grid is silent (its footnotes were not retrieved): a level below one
with >=2 DLTs is declared MTD only with <=1 DLT in 6 evaluable ("highest dose with <=1/6 DLT
where the next higher level was intolerable"), so accrual there continues to six; at the top
level 3/3 or 4/4 without DLT keep accruing until five are evaluable; de-escalation passes over
levels that already had >=2 DLTs and ends in "no tolerable dose" below the lowest level;
``require_six_at_mtd`` demands six evaluable at the top level too. Rolling six always
de-escalates, so ``allow_deescalate`` does not apply. Same interface as the 3+3 engine
(``three_plus_three.recommend`` dispatches here on ``rule_set="rolling6"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from dosing.domain.escalation import (
    MAX_PER_LEVEL,
    DLTStatus,
    EscalationAction,
    EscalationRecommendation,
    EscalationSettings,
    EscalationState,
    LevelCounts,
    LevelPatients,
    PatientDLTState,
    Rule,
)

if TYPE_CHECKING:
    from dosing.domain.decision_table import DecisionTableRow

A = EscalationAction

RULES: Mapping[str, Rule] = MappingProxyType(
    {
        r.rule_id: r
        for r in (
            Rule("r6.P1", "fewer than 6 enrolled, no decision yet -> enrol at this level", A.ENROL),
            Rule("r6.P2", "6 enrolled, DLT evaluation pending -> hold accrual", A.WAIT),
            Rule(
                "r6.E1",
                "0 DLT, all of >=3 enrolled evaluable (or 6 enrolled, >=5 evaluable) -> escalate",
                A.ESCALATE,
            ),
            Rule("r6.E2", "6 evaluable, 1 DLT -> escalate", A.ESCALATE),
            Rule(
                "r6.M1",
                "top level: 0 DLT in >=5 evaluable or <=1 DLT in 6 -> stop, MTD = this level",
                A.STOP_MTD,
            ),
            Rule(
                "r6.M2",
                "next level had >=2 DLTs: <=1 DLT in 6 evaluable -> stop, MTD = this level",
                A.STOP_MTD,
            ),
            Rule(
                "r6.M3",
                "top level or next level intolerable, MTD not yet confirmed -> enrol at this "
                "level up to 6",
                A.ENROL,
            ),
            Rule(
                "r6.D1", ">=2 DLTs -> de-escalate, enrol up to 6 at the level below", A.DEESCALATE
            ),
            Rule(
                "r6.D2",
                ">=2 DLTs, level below has <=1 DLT in 6 evaluable -> stop, MTD = level below",
                A.STOP_MTD,
            ),
            Rule(
                "r6.D3",
                ">=2 DLTs at the lowest level -> stop, no tolerable dose",
                A.STOP_NO_TOLERABLE_DOSE,
            ),
            Rule(
                "r6.D4",
                ">=2 DLTs, level below full with DLT evaluation pending -> hold accrual",
                A.WAIT,
            ),
            Rule(
                "r6.D5",
                ">=2 DLTs, level below untested (e.g. level -1) -> de-escalate",
                A.DEESCALATE,
            ),
        )
    }
)


def _fmt(c: LevelCounts) -> str:
    return f"{c.enrolled} enrolled, {c.evaluable} evaluable, {c.dlts} DLT"


def recommend_rolling_six(
    settings: EscalationSettings, state: EscalationState
) -> EscalationRecommendation:
    counts = state.counts(settings)
    d = settings.start_level if state.current_level is None else state.current_level
    c = counts[d]

    def result(
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
            rule_set=settings.rule_set,
            action=rule.action,
            current_level=d,
            next_level=None if terminal else next_level,
            recommended_level=recommended_level if rule.action is A.STOP_MTD else None,
            continue_trial=not terminal,
            slots_open=0 if terminal else max(0, slots_open),
            rule_id=rule_id,
            rule=rule.label,
            explanation=explanation,
            early_determination=c.dlts >= 2 and c.pending > 0,
            level_counts=tuple(counts[level] for level in settings.levels),
        )

    if c.dlts >= 2:
        why = f"Level {d}: {_fmt(c)}; the MTD is exceeded."
        target = settings.level_below(d)
        # Levels that already failed are passed over on the way down.
        while target is not None and counts[target].dlts >= 2:
            target = settings.level_below(target)
        if target is None:
            return result("r6.D3", f"{why} No lower level is tolerable: stop, no tolerable dose.")
        ct = counts[target]
        if not ct.tested:
            return result(
                "r6.D5",
                f"{why} Level {target} is untested: de-escalate.",
                next_level=target,
                slots_open=MAX_PER_LEVEL,
            )
        if ct.evaluable == MAX_PER_LEVEL and ct.dlts <= 1:
            return result(
                "r6.D2",
                f"{why} Level {target} ({_fmt(ct)}) is the MTD: stop.",
                recommended_level=target,
            )
        if ct.enrolled < MAX_PER_LEVEL:
            return result(
                "r6.D1",
                f"{why} De-escalate to level {target} ({_fmt(ct)}).",
                next_level=target,
                slots_open=MAX_PER_LEVEL - ct.enrolled,
            )
        return result(
            "r6.D4",
            f"{why} Level {target} is full ({_fmt(ct)}): hold until its DLT windows close.",
            next_level=target,
        )

    above = settings.level_above(d)
    ceiling = above is None or counts[above].dlts >= 2 or counts[above].evaluable >= MAX_PER_LEVEL
    if c.dlts == 0:
        ready = (c.evaluable == c.enrolled and c.enrolled >= 3) or (
            c.enrolled == MAX_PER_LEVEL and c.evaluable >= MAX_PER_LEVEL - 1
        )
    else:
        ready = c.evaluable == MAX_PER_LEVEL
    if ready and not ceiling:
        assert above is not None
        return result(
            "r6.E1" if c.dlts == 0 else "r6.E2",
            f"Level {d}: {_fmt(c)}; escalate to level {above}.",
            next_level=above,
            slots_open=MAX_PER_LEVEL - counts[above].enrolled,
        )
    if ready:
        six_ok = c.evaluable == MAX_PER_LEVEL and c.dlts <= 1
        five_ok = (
            above is None
            and not settings.require_six_at_mtd
            and c.dlts == 0
            and c.evaluable >= MAX_PER_LEVEL - 1
        )
        if six_ok or five_ok:
            return result(
                "r6.M1" if above is None else "r6.M2",
                f"Level {d}: {_fmt(c)}; stop, MTD = level {d}.",
                recommended_level=d,
            )
        if c.enrolled < MAX_PER_LEVEL:
            where = "the top level" if above is None else f"below failed level {above}"
            return result(
                "r6.M3",
                f"Level {d} ({_fmt(c)}) is {where}; enrol up to 6 to confirm the MTD.",
                next_level=d,
                slots_open=MAX_PER_LEVEL - c.enrolled,
            )
    if c.enrolled < MAX_PER_LEVEL:
        return result(
            "r6.P1",
            f"Level {d}: {_fmt(c)}; {MAX_PER_LEVEL - c.enrolled} slot(s) open at level {d}.",
            next_level=d,
            slots_open=MAX_PER_LEVEL - c.enrolled,
        )
    return result(
        "r6.P2",
        f"Level {d}: {_fmt(c)}; 6 enrolled, hold accrual until DLT windows close.",
        next_level=d,
    )


# (enrolled, evaluable, DLTs, situation, where the level sits)
_GRID: tuple[tuple[int, int, int, str, str], ...] = (
    (3, 3, 0, "higher level untested", "middle"),
    (4, 4, 0, "higher level untested", "middle"),
    (5, 5, 0, "higher level untested", "middle"),
    (6, 5, 0, "higher level untested", "middle"),
    (6, 6, 0, "higher level untested", "middle"),
    (5, 5, 0, "top level", "top"),
    (6, 5, 0, "top level", "top"),
    (3, 3, 0, "top level", "top"),
    (2, 1, 0, "fewer evaluable than enrolled", "middle"),
    (6, 4, 0, "DLT windows open", "middle"),
    (4, 3, 1, "fewer than 6 enrolled", "middle"),
    (6, 5, 1, "DLT window open", "middle"),
    (6, 6, 1, "higher level untested", "middle"),
    (6, 6, 1, "top level", "top"),
    (3, 3, 0, "higher level had >=2 DLTs", "below_failed"),
    (6, 6, 1, "higher level had >=2 DLTs", "below_failed"),
    (3, 2, 2, "level below has fewer than 6", "second"),
    (6, 6, 3, "level below has <=1 DLT in 6", "second_six"),
    (3, 3, 2, "lowest level", "lowest"),
)


def rolling_six_decision_table(settings: EscalationSettings) -> tuple[DecisionTableRow, ...]:
    """The rolling-six grid for these settings, evaluated by the engine row by row."""
    from dosing.domain.decision_table import DecisionTableRow

    levels = settings.levels
    start = levels.index(settings.start_level)
    rows = []
    for enrolled, evaluable, dlts, situation, where in _GRID:
        patients: dict[int, list[DLTStatus]] = {}
        if where == "top":
            d = levels[-1]
        elif where == "lowest":
            d = levels[0]
            if d != settings.start_level:
                patients[settings.start_level] = [DLTStatus.DLT] * 2 + [DLTStatus.NO_DLT]
        elif where in ("second", "second_six"):
            if start + 1 >= len(levels):
                continue
            d = levels[start + 1]
            below = [DLTStatus.NO_DLT] * 3
            if where == "second_six":
                below = [DLTStatus.NO_DLT] * 5 + [DLTStatus.DLT]
            patients[levels[start]] = below
        else:
            if start + 1 >= len(levels):
                continue
            d = levels[start]
            if where == "below_failed":
                patients[levels[start + 1]] = [DLTStatus.DLT] * 2 + [DLTStatus.NO_DLT]
        if where == "top" and d != levels[start]:
            for level in levels[start : levels.index(d)]:
                patients[level] = [DLTStatus.NO_DLT] * 3
        patients[d] = (
            [DLTStatus.DLT] * dlts
            + [DLTStatus.NO_DLT] * (evaluable - dlts)
            + [DLTStatus.PENDING] * (enrolled - evaluable)
        )
        state = EscalationState(
            current_level=d,
            levels=tuple(
                LevelPatients(level=level, patients=tuple(PatientDLTState(s) for s in statuses))
                for level, statuses in patients.items()
            ),
        )
        rec = recommend_rolling_six(settings, state)
        if not rec.continue_trial:
            step = "stop"
        elif rec.next_level == d:
            step = "same level"
        else:
            step = "one level up" if (rec.next_level or 0) > d else "one level down"
        rows.append(
            DecisionTableRow(
                evaluable=str(evaluable),
                dlts=str(dlts),
                pending=str(enrolled - evaluable),
                situation=f"{enrolled} enrolled; {situation}",
                action=rec.action.value,
                rule_id=rec.rule_id,
                decision=rec.rule.split(": ", 1)[1],
                next_level=step,
            )
        )
    return tuple(rows)
