"""A trial's design settings: the schema every other app reads through ``trial_design()``.

The design is stored as a JSON document per protocol version (``ProtocolVersion.design``) and
validated here, so that a design change is an amendment (versioned, dated, with a reason) and
never a code change. Sources for the defaults: trial A's registration (21-day DLT window,
28-day cycles, Simon optimal two-stage design), CTCAE v5.0 (NCI 2017), the SAE reporting clock
of CTEP (24-hour notice, full report within 5 days), IMWG 2016 (Kumar et al., Lancet Oncol
2016;17:e328-46) and RECIST 1.0 / 1.1 (Therasse 2000; Eisenhauer 2009).

Pure Python: no Django import. ``TrialDesign.from_dict`` refuses unknown keys and wrong types
with a :class:`DesignError` naming the field, so a typo in an amendment is caught, not stored.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1

RULE_SETS = ("3+3", "rolling6")
RESPONSE_CRITERIA = ("IMWG2016", "RECIST1.0", "RECIST1.1")
NADIR_POLICIES = ("lowest_observed", "lowest_confirmed")
PLASMACYTOMA_MISSING = ("hold", "not_evaluable")
CTCAE_VERSIONS = ("5.0", "6.0")


class DesignError(ValueError):
    """A design document that cannot be used; ``field`` is the dotted path of the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _require(condition: bool, field_name: str, message: str) -> None:
    if not condition:
        raise DesignError(field_name, message)


@dataclass(frozen=True)
class VisitSchedule:
    """When patients are seen. Days are cycle days (day 1 = first dose of the cycle)."""

    cycle_1_visit_days: tuple[int, ...] = (1, 8, 15, 22)
    visit_days: tuple[int, ...] = (1, 15)  # cycles 2 and later
    window_days: int = 2  # ± days around a planned visit
    day_1_window_days: int = 3  # ± days for day 1 of cycles 2+ (cycle 1 day 1 is the anchor)
    response_assessment_day: int = 1
    response_first_cycle: int = 2  # assessment at day 1 of cycle 2 covers cycle 1
    response_every_cycles: int = 1
    end_of_treatment_within_days: int = 30
    follow_up_every_weeks: int = 12
    follow_up_window_days: int = 14
    follow_up_months: int = 60
    max_cycles: int | None = None  # None: until progression or toxicity
    required_labs: tuple[str, ...] = ("ANC", "PLT", "HGB", "WBC", "CREAT", "CA")
    response_labs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("cycle_1_visit_days", "visit_days"):
            days = getattr(self, name)
            _require(len(days) > 0, f"visit_schedule.{name}", "list at least one day")
            _require(1 in days, f"visit_schedule.{name}", "day 1 must be a visit day")
            _require(
                list(days) == sorted(set(days)) and all(d >= 1 for d in days),
                f"visit_schedule.{name}",
                "days must be positive, increasing and not repeated",
            )
        _require(0 <= self.window_days <= 14, "visit_schedule.window_days", "0 to 14 days")
        _require(
            0 <= self.day_1_window_days <= 14, "visit_schedule.day_1_window_days", "0 to 14 days"
        )
        _require(
            self.response_assessment_day >= 1,
            "visit_schedule.response_assessment_day",
            "must be a cycle day (1 or more)",
        )
        _require(self.response_first_cycle >= 1, "visit_schedule.response_first_cycle", "1 or more")
        _require(
            self.response_every_cycles >= 1, "visit_schedule.response_every_cycles", "1 or more"
        )
        _require(
            self.end_of_treatment_within_days >= 0,
            "visit_schedule.end_of_treatment_within_days",
            "0 or more",
        )
        _require(
            1 <= self.follow_up_every_weeks <= 52,
            "visit_schedule.follow_up_every_weeks",
            "1 to 52 weeks",
        )
        _require(
            self.follow_up_window_days >= 0, "visit_schedule.follow_up_window_days", "0 or more"
        )
        _require(self.follow_up_months >= 0, "visit_schedule.follow_up_months", "0 or more")
        _require(
            self.max_cycles is None or self.max_cycles >= 1,
            "visit_schedule.max_cycles",
            "1 or more, or empty for 'until progression'",
        )

    def days_of_cycle(self, cycle: int) -> tuple[int, ...]:
        days = self.cycle_1_visit_days if cycle == 1 else self.visit_days
        if self.is_response_cycle(cycle) and self.response_assessment_day not in days:
            days = tuple(sorted({*days, self.response_assessment_day}))
        return days

    def is_response_cycle(self, cycle: int) -> bool:
        return (
            cycle >= self.response_first_cycle
            and (cycle - self.response_first_cycle) % self.response_every_cycles == 0
        )


@dataclass(frozen=True)
class MinimumExposure:
    """What a patient without a DLT must have received to be DLT-evaluable (protocol rule)."""

    min_fraction_of_planned_doses: float = 0.75
    doses_held_for_toxicity_count: bool = False
    off_treatment_for_toxicity_is_evaluable: bool = True

    def __post_init__(self) -> None:
        _require(
            0 <= self.min_fraction_of_planned_doses <= 1,
            "escalation.minimum_exposure.min_fraction_of_planned_doses",
            "a fraction between 0 and 1",
        )


@dataclass(frozen=True)
class EscalationDesign:
    """The dose-escalation variant (Storer 1989; Korn 1994; Skolnik 2008 for rolling six)."""

    rule_set: str = "3+3"
    allow_deescalate: bool = False
    require_six_at_mtd: bool = False
    has_level_minus_one: bool = False
    early_determination: bool = True
    minimum_exposure: MinimumExposure = field(default_factory=MinimumExposure)

    def __post_init__(self) -> None:
        _require(
            self.rule_set in RULE_SETS,
            "escalation.rule_set",
            f"one of {', '.join(RULE_SETS)}",
        )


@dataclass(frozen=True)
class SimonParameters:
    """A Simon (1989) two-stage design: stop after n1 if ≤ r1 respond; promising if > r of n.

    ``assumed`` marks parameters the protocol does not state (trial A's paper does not): every
    page that shows them must show ``label``.
    """

    p0: float
    p1: float
    alpha: float
    beta: float
    r1: int
    n1: int
    r: int
    n: int
    assumed: bool = False
    label: str = ""

    def __post_init__(self) -> None:
        _require(0 < self.p0 < self.p1 < 1, "simon.p0", "need 0 < p0 < p1 < 1")
        _require(0 < self.alpha < 0.5, "simon.alpha", "between 0 and 0.5")
        _require(0 < self.beta < 0.5, "simon.beta", "between 0 and 0.5")
        _require(0 < self.n1 < self.n, "simon.n1", "need 0 < n1 < n")
        _require(0 <= self.r1 < self.n1, "simon.r1", "need 0 ≤ r1 < n1")
        _require(self.r1 <= self.r < self.n, "simon.r", "need r1 ≤ r < n")
        _require(
            not self.assumed or bool(self.label.strip()),
            "simon.label",
            "assumed parameters need a label saying so",
        )


@dataclass(frozen=True)
class ResponseSettings:
    """Response criteria and their study settings (read by the response app)."""

    criteria: str = "IMWG2016"
    nadir_policy: str = "lowest_observed"
    mr_plasmacytoma_min_reduction_pct: float | None = None
    waive_urine_for_vgpr: bool = False
    plasmacytoma_missing_imaging: str = "hold"
    confirmation_required: bool = True
    confirmation_min_days: int = 28  # RECIST: confirmation ≥ 4 weeks after first response
    pr_threshold_pct: float = 30.0  # RECIST: ≥ 30% decrease in the sum of diameters
    pd_threshold_pct: float = 20.0  # RECIST: ≥ 20% increase over the nadir
    pd_min_absolute_mm: float | None = None  # RECIST 1.1 adds 5 mm; 1.0 has none
    max_target_lesions: int | None = None  # 10 (1.0) or 5 (1.1)
    max_target_lesions_per_organ: int | None = None  # 5 (1.0) or 2 (1.1)

    def __post_init__(self) -> None:
        _require(
            self.criteria in RESPONSE_CRITERIA,
            "response.criteria",
            f"one of {', '.join(RESPONSE_CRITERIA)}",
        )
        _require(
            self.nadir_policy in NADIR_POLICIES,
            "response.nadir_policy",
            f"one of {', '.join(NADIR_POLICIES)}",
        )
        pct = self.mr_plasmacytoma_min_reduction_pct
        _require(
            pct is None or 0 < pct <= 100,
            "response.mr_plasmacytoma_min_reduction_pct",
            "between 0 and 100, or empty for the criteria's own value",
        )
        _require(
            self.plasmacytoma_missing_imaging in PLASMACYTOMA_MISSING,
            "response.plasmacytoma_missing_imaging",
            f"one of {', '.join(PLASMACYTOMA_MISSING)}",
        )
        _require(self.confirmation_min_days >= 0, "response.confirmation_min_days", "0 or more")
        _require(0 < self.pr_threshold_pct < 100, "response.pr_threshold_pct", "0 to 100")
        _require(0 < self.pd_threshold_pct <= 100, "response.pd_threshold_pct", "0 to 100")

    @property
    def is_recist(self) -> bool:
        return self.criteria.startswith("RECIST")


@dataclass(frozen=True)
class TrialDesign:
    """Everything a trial's protocol fixes that the software acts on."""

    dlt_window_days: int = 21
    cycle_length_days: int = 28
    ctcae_version: str = "5.0"
    sae_full_report_days: int = 5
    bsa_cap_m2: float | None = None  # mg/m² dosing: cap the BSA (e.g. 2.2 m²) if the protocol says
    visit_schedule: VisitSchedule = field(default_factory=VisitSchedule)
    escalation: EscalationDesign | None = None
    simon: SimonParameters | None = None
    response: ResponseSettings = field(default_factory=ResponseSettings)

    def __post_init__(self) -> None:
        _require(1 <= self.dlt_window_days <= 120, "dlt_window_days", "1 to 120 days")
        _require(7 <= self.cycle_length_days <= 84, "cycle_length_days", "7 to 84 days")
        _require(
            self.ctcae_version in CTCAE_VERSIONS,
            "ctcae_version",
            f"one of {', '.join(CTCAE_VERSIONS)}",
        )
        _require(1 <= self.sae_full_report_days <= 30, "sae_full_report_days", "1 to 30 days")
        _require(
            self.bsa_cap_m2 is None or 1.0 <= self.bsa_cap_m2 <= 3.0,
            "bsa_cap_m2",
            "between 1.0 and 3.0 m², or empty",
        )
        last_day = max(self.visit_schedule.cycle_1_visit_days + self.visit_schedule.visit_days)
        _require(
            last_day <= self.cycle_length_days,
            "visit_schedule.visit_days",
            f"day {last_day} is past the end of a {self.cycle_length_days}-day cycle",
        )

    # --- (de)serialisation -----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return _to_jsonable(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrialDesign:
        return _build(cls, data, path="")

    def with_changes(self, changes: Mapping[str, Any]) -> TrialDesign:
        """A new design with ``changes`` (a partial document) merged in, validated again."""
        return TrialDesign.from_dict(_deep_merge(self.to_dict(), changes, path=""))

    def diff(self, other: TrialDesign) -> dict[str, list[Any]]:
        """``{"dotted.path": [old, new]}`` for every leaf that differs."""
        return _diff(self.to_dict(), other.to_dict(), prefix="")


# --- generic helpers --------------------------------------------------------------------------


def _to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_to_jsonable(v) for v in value]
    return value


def _deep_merge(base: dict[str, Any], changes: Mapping[str, Any], *, path: str) -> dict[str, Any]:
    if not isinstance(changes, Mapping):
        raise DesignError(path or "design", "expected an object")
    merged = dict(base)
    for key, value in changes.items():
        here = f"{path}.{key}" if path else key
        if key not in base:
            raise DesignError(here, "unknown setting")
        if isinstance(base[key], dict) and isinstance(value, Mapping):
            merged[key] = _deep_merge(base[key], value, path=here)
        else:
            merged[key] = value
    return merged


def _diff(old: Any, new: Any, *, prefix: str) -> dict[str, list[Any]]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: dict[str, list[Any]] = {}
        for key in sorted(set(old) | set(new)):
            here = f"{prefix}.{key}" if prefix else key
            out.update(_diff(old.get(key), new.get(key), prefix=here))
        return out
    return {} if old == new else {prefix: [old, new]}


def _build(cls: type, data: Any, *, path: str) -> Any:
    if not isinstance(data, Mapping):
        raise DesignError(path or "design", "expected an object")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names - {"schema_version"})
    if unknown:
        raise DesignError(f"{path}{unknown[0]}", "unknown setting")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        here = f"{path}{f.name}"
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise DesignError(here, "required")
            continue
        kwargs[f.name] = _coerce(hints[f.name], data[f.name], path=here)
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, *, path: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, path=path)
    if value is None:
        raise DesignError(path, "required")
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, path=f"{path}.")
    if origin is tuple:
        (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
        if not isinstance(value, list | tuple):
            raise DesignError(path, "expected a list")
        return tuple(_coerce(item, v, path=path) for v in value)
    if hint is bool:
        if not isinstance(value, bool):
            raise DesignError(path, "expected true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise DesignError(path, "expected a whole number")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DesignError(path, "expected a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise DesignError(path, "expected text")
        return value
    raise DesignError(path, f"unsupported type {hint!r}")  # pragma: no cover - schema bug
