"""IMWG response engine for multiple myeloma (IMWG 2016; 2011 and 2006 as study settings).

Implements the International Myeloma Working Group uniform response criteria:

* Kumar S, et al. Lancet Oncol 2016;17:e328-46 (default, ``criteria="IMWG2016"``);
* Rajkumar SV, et al. Blood 2011;117:4691-5 (``"IMWG2011"``);
* Durie BGM, et al. Leukemia 2006;20:1467-73 (``"IMWG2006"``),

as specified by the TrialDesk IMWG research note, section 5, with the confirmation conventions
of the admiralonco (pharmaverse) ADRS-IMWG vignette. Every threshold lives in
:mod:`response.domain.imwg_rules`; this module is the procedure:

1. derive the measurable-disease set ``{S, U, F, B, P}`` and the involved light chain once, from
   the baseline record (note 1.2);
2. at each assessment, check PD against the per-parameter nadir **before** the response ladder
   (note 5.3), with the nadir policy a study setting (``lowest_observed``/``lowest_confirmed``);
3. otherwise grade each measurable parameter against baseline, take the lowest level, then apply
   the CR and sCR gates, carrying forward only the last marrow (note 5.2);
4. confirm calls, derive the best overall response, its date and the progression date (5.4).

Every call returns a rule trace: baseline, measurable set, the nadir used and the % changes per
parameter, and the rule row that fired. Pure: no clock, no I/O, no Django.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any, Final, Literal, NamedTuple

from response.domain.imwg_rules import (
    BMPC,
    CONFIRMATION_WARNING_DAYS,
    CRITERIA,
    DEFAULT_CRITERIA,
    DEFAULT_NADIR_POLICY,
    DFLC,
    IMAGING,
    PLASMACYTOMA,
    RULESET_VERSION,
    SERUM,
    URINE,
    URINE_SERUM_ONLY,
    Category,
    CriteriaRules,
    GateRule,
    LevelRule,
    NadirPolicy,
)

__all__ = [
    "MISSING_DATA_FLAGS",
    "NOT_APPLICABLE_RISE_FLAGS",
    "RULESET_VERSION",
    "Assessment",
    "AssessmentResult",
    "AssessmentTrace",
    "Baseline",
    "CallTrace",
    "Category",
    "ImwgInput",
    "ImwgInputError",
    "ImwgResult",
    "ImwgSettings",
    "LevelCheck",
    "NadirPolicy",
    "PdCheck",
    "evaluate",
]

Ife = Literal["positive", "negative"]
Clonality = Literal["absent", "present"]

_IFE_VALUES: Final = frozenset({"positive", "negative"})
_CLONAL_VALUES: Final = frozenset({"absent", "present"})
_NADIR_POLICIES: Final = frozenset(p.value for p in NadirPolicy)
_PLASMACYTOMA_MISSING: Final = frozenset({"hold", "ne"})
_INF: Final = math.inf

# Flags (per assessment unless noted). Missing data:
FLAG_SERUM_MISSING: Final = "SERUM_MISSING"
FLAG_URINE_MISSING: Final = "URINE_MISSING"
FLAG_FLC_MISSING: Final = "FLC_MISSING"
FLAG_MARROW_MISSING: Final = "MARROW_MISSING"
FLAG_IMAGING_MISSING: Final = "IMAGING_MISSING"
FLAG_IMAGING_HELD: Final = "IMAGING_HELD"
FLAG_VGPR_PENDING_URINE: Final = "VGPR_PENDING_URINE"
FLAG_CR_PENDING_MARROW: Final = "CR_PENDING_MARROW"
FLAG_CR_PENDING_IFE: Final = "CR_PENDING_IFE"
FLAG_CR_PENDING_FLC_RATIO: Final = "CR_PENDING_FLC_RATIO"
FLAG_CR_PENDING_IMAGING: Final = "CR_PENDING_IMAGING"
FLAG_SCR_PENDING_FLC_RATIO: Final = "SCR_PENDING_FLC_RATIO"
FLAG_SCR_PENDING_CLONALITY: Final = "SCR_PENDING_CLONALITY"
# Rises on markers that are not PD criteria for this patient (note 1.8): investigator review.
FLAG_LIGHT_CHAIN_ESCAPE: Final = "LIGHT_CHAIN_ESCAPE"
FLAG_MARROW_RISE_NOT_APPLICABLE: Final = "MARROW_RISE_NOT_APPLICABLE"
# Confirmation state:
FLAG_PD_PENDING_CONFIRMATION: Final = "PD_PENDING_CONFIRMATION"
FLAG_PD_UNCONFIRMED_NEW_THERAPY: Final = "PD_UNCONFIRMED_NEW_THERAPY"
FLAG_RESPONSE_PENDING_CONFIRMATION: Final = "RESPONSE_PENDING_CONFIRMATION"
FLAG_AFTER_NEW_THERAPY: Final = "AFTER_NEW_THERAPY"
FLAG_CONFIRMATION_OVER_84_DAYS: Final = "CONFIRMATION_INTERVAL_OVER_84_DAYS"
# Call level:
FLAG_NO_MEASURABLE_DISEASE: Final = "NO_MEASURABLE_DISEASE"
FLAG_CRITERIA_DEFAULTED: Final = "CRITERIA_DEFAULTED"
FLAG_NADIR_POLICY_DEFAULTED: Final = "NADIR_POLICY_DEFAULTED"

#: Flags meaning "the call is NE or capped because data are missing" (note 1.6).
MISSING_DATA_FLAGS: Final = frozenset(
    {
        FLAG_SERUM_MISSING,
        FLAG_URINE_MISSING,
        FLAG_FLC_MISSING,
        FLAG_MARROW_MISSING,
        FLAG_IMAGING_MISSING,
        FLAG_VGPR_PENDING_URINE,
        FLAG_CR_PENDING_MARROW,
        FLAG_CR_PENDING_IFE,
        FLAG_CR_PENDING_FLC_RATIO,
        FLAG_CR_PENDING_IMAGING,
        FLAG_SCR_PENDING_FLC_RATIO,
        FLAG_SCR_PENDING_CLONALITY,
    }
)
#: Flags meaning "a marker rose past its PD threshold but is not a PD criterion here".
NOT_APPLICABLE_RISE_FLAGS: Final = frozenset(
    {FLAG_LIGHT_CHAIN_ESCAPE, FLAG_MARROW_RISE_NOT_APPLICABLE}
)

# Levels as small ints so that the per-assessment loop compares plain ints.
_NE, _SD, _MR, _PR, _VGPR, _CR, _SCR, _PD = range(8)
_LEVEL_CATEGORY: Final = (
    Category.NE,
    Category.SD,
    Category.MR,
    Category.PR,
    Category.VGPR,
    Category.CR,
    Category.SCR,
    Category.PD,
)
_CATEGORY_LEVEL: Final = {c: i for i, c in enumerate(_LEVEL_CATEGORY)}
_LEVEL_NAMES: Final = tuple(c.value for c in _LEVEL_CATEGORY)
# Ranking for best overall response: any response or SD beats PD, which beats NE.
_BOR_RANK: Final = (0, 2, 3, 4, 5, 6, 7, 1)
# Floating-point slack for computed percentages and differences: boundaries are inclusive for
# "at least" and exclusive for "more than" on the unrounded value (note 1.8).
_EPS: Final = 1e-9
_GE, _GT, _LT = 0, 1, 2


class ImwgInputError(ValueError):
    """Bad engine input; ``field`` names the offending field (e.g. ``assessments[2].date``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _check_number(obj: object, name: str, value: object) -> None:
    """Non-negative finite int/float, or None. Decimals (from the ORM) become floats."""
    if value is None:
        return
    cls = value.__class__
    if cls is float or cls is int:
        if not 0 <= value < _INF:  # type: ignore[operator]  # also rejects NaN
            raise ImwgInputError(name, f"must be a non-negative finite number, got {value!r}")
        return
    if cls is Decimal and value.is_finite() and value >= 0:  # type: ignore[attr-defined]
        object.__setattr__(obj, name, float(value))  # type: ignore[arg-type]
        return
    raise ImwgInputError(name, f"must be a non-negative number or null, got {value!r}")


def _check_choice(name: str, value: object, allowed: frozenset[str]) -> None:
    if value is not None and value not in allowed:
        raise ImwgInputError(name, f"must be one of {sorted(allowed)} or null, got {value!r}")


def _check_date(name: str, value: object) -> None:
    if value.__class__ is not date:
        raise ImwgInputError(name, f"must be a date, got {value!r}")


def _check_bool(name: str, value: object) -> None:
    if value is not True and value is not False:
        raise ImwgInputError(name, f"must be true or false, got {value!r}")


@dataclass(frozen=True, slots=True)
class ImwgSettings:
    """Per-study rule settings (research note 1.7).

    ``criteria`` and ``nadir_policy`` have no silent default: ``None`` uses IMWG2016 /
    ``lowest_observed`` and the result carries ``CRITERIA_DEFAULTED`` /
    ``NADIR_POLICY_DEFAULTED``. ``mr_plasmacytoma_min_reduction_pct`` of ``None`` takes the
    criteria's own value (50 in 2016, 25 in 2011). ``plasmacytoma_missing_imaging`` says what a
    visit without imaging does for a baseline plasmacytoma: ``hold`` the last post-baseline SPD
    or call ``ne`` (note 1.6, "per protocol"). ``pd_two_markers_immediate`` is the opt-in Mayo
    shortcut (Blood 2025;146:802): laboratory PD on two markers at once needs no repeat.
    """

    criteria: str | None = None
    nadir_policy: str | None = None
    mr_plasmacytoma_min_reduction_pct: float | None = None
    waive_urine_for_vgpr: bool = False
    plasmacytoma_missing_imaging: str = "hold"
    pd_two_markers_immediate: bool = False

    def __post_init__(self) -> None:
        if self.criteria is not None and self.criteria not in CRITERIA:
            raise ImwgInputError(
                "settings.criteria",
                f"must be one of {sorted(CRITERIA)}, got {self.criteria!r}",
            )
        if self.nadir_policy is not None and self.nadir_policy not in _NADIR_POLICIES:
            raise ImwgInputError(
                "settings.nadir_policy",
                f"must be one of {sorted(_NADIR_POLICIES)}, got {self.nadir_policy!r}",
            )
        pct = self.mr_plasmacytoma_min_reduction_pct
        if pct is not None and (
            pct.__class__ not in (int, float) or not 0 < pct <= 100  # type: ignore[operator]
        ):
            raise ImwgInputError(
                "settings.mr_plasmacytoma_min_reduction_pct",
                f"must be a number in (0, 100], got {pct!r}",
            )
        _check_bool("settings.waive_urine_for_vgpr", self.waive_urine_for_vgpr)
        _check_bool("settings.pd_two_markers_immediate", self.pd_two_markers_immediate)
        if self.plasmacytoma_missing_imaging not in _PLASMACYTOMA_MISSING:
            raise ImwgInputError(
                "settings.plasmacytoma_missing_imaging",
                f"must be one of {sorted(_PLASMACYTOMA_MISSING)}, "
                f"got {self.plasmacytoma_missing_imaging!r}",
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ImwgSettings:
        if data is None:
            return cls()
        _reject_unknown(data, _SETTINGS_KEYS, "settings")
        kwargs = {k: v for k, v in data.items() if v is not None}
        return cls(**kwargs)


@dataclass(frozen=True, slots=True)
class Baseline:
    """The baseline record of the treatment line. Units: serum M g/dL, urine M mg/24 h, FLC
    mg/L, marrow plasma cells %, plasmacytoma SPD cm2. ``None`` = not done."""

    date: date
    serum_m_g_dl: float | None = None
    urine_m_mg_24h: float | None = None
    kappa_mg_l: float | None = None
    lambda_mg_l: float | None = None
    flc_ratio: float | None = None
    serum_ife: Ife | None = None
    urine_ife: Ife | None = None
    bmpc_percent: float | None = None
    plasmacytoma_spd_cm2: float | None = None

    def __post_init__(self) -> None:
        _check_date("date", self.date)
        for name in _BASELINE_NUMBERS:
            _check_number(self, name, getattr(self, name))
        _check_choice("serum_ife", self.serum_ife, _IFE_VALUES)
        _check_choice("urine_ife", self.urine_ife, _IFE_VALUES)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Baseline:
        return _from_dict(cls, data, "baseline", _BASELINE_KEYS)


@dataclass(frozen=True, slots=True)
class Assessment:
    """One post-baseline response assessment (same units as :class:`Baseline`).

    ``serum_m_g_dl`` 0 means not quantifiable on SPEP; ``urine_m_mg_24h`` 0 means no urine
    M-spike on a 24-h collection. ``bmpc_percent`` and ``clonal_pc`` come from a marrow done at
    this visit (the engine carries the last marrow forward). ``exclude_from_nadir`` keeps this
    assessment's values out of the nadir (a value judged spurious).
    """

    date: date
    serum_m_g_dl: float | None = None
    urine_m_mg_24h: float | None = None
    kappa_mg_l: float | None = None
    lambda_mg_l: float | None = None
    flc_ratio: float | None = None
    serum_ife: Ife | None = None
    urine_ife: Ife | None = None
    bmpc_percent: float | None = None
    clonal_pc: Clonality | None = None
    plasmacytoma_spd_cm2: float | None = None
    new_lesion: bool = False
    exclude_from_nadir: bool = False

    def __post_init__(self) -> None:
        # Inlined fast path (this runs once per assessment of every recomputation); the slow
        # helpers only run to raise, or to convert a Decimal.
        if self.date.__class__ is not date:
            _check_date("date", self.date)
        # The numbers of _ASSESSMENT_NUMBERS, read directly (no getattr by name); on the first
        # one that is not a plain valid float or int, every number is checked by name, in
        # order (_check_number passes the valid ones), to raise or convert as before.
        for v in (
            self.serum_m_g_dl,
            self.urine_m_mg_24h,
            self.kappa_mg_l,
            self.lambda_mg_l,
            self.flc_ratio,
            self.bmpc_percent,
            self.plasmacytoma_spd_cm2,
        ):
            if v is not None and (
                (v.__class__ is not float and v.__class__ is not int) or not 0 <= v < _INF
            ):
                for name in _ASSESSMENT_NUMBERS:
                    _check_number(self, name, getattr(self, name))
                break
        si, ui, cl = self.serum_ife, self.urine_ife, self.clonal_pc
        if si is not None and si not in _IFE_VALUES:
            _check_choice("serum_ife", si, _IFE_VALUES)
        if ui is not None and ui not in _IFE_VALUES:
            _check_choice("urine_ife", ui, _IFE_VALUES)
        if cl is not None and cl not in _CLONAL_VALUES:
            _check_choice("clonal_pc", cl, _CLONAL_VALUES)
        if self.new_lesion is not False and self.new_lesion is not True:
            _check_bool("new_lesion", self.new_lesion)
        if self.exclude_from_nadir is not False and self.exclude_from_nadir is not True:
            _check_bool("exclude_from_nadir", self.exclude_from_nadir)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, path: str = "assessment") -> Assessment:
        return _from_dict(cls, data, path, _ASSESSMENT_KEYS)


@dataclass(frozen=True, slots=True)
class ImwgInput:
    """Everything one evaluation needs: the command's JSON input as dataclasses.

    ``assessments`` must be in strictly increasing date order, after the baseline date.
    """

    baseline: Baseline
    assessments: tuple[Assessment, ...] = ()
    settings: ImwgSettings = field(default_factory=ImwgSettings)
    new_therapy_date: date | None = None
    death_date: date | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.assessments, tuple):
            object.__setattr__(self, "assessments", tuple(self.assessments))
        if self.baseline.__class__ is not Baseline:
            raise ImwgInputError("baseline", "must be a Baseline")
        if self.settings.__class__ is not ImwgSettings:
            raise ImwgInputError("settings", "must be an ImwgSettings")
        previous = self.baseline.date
        for i, a in enumerate(self.assessments):
            if a.__class__ is not Assessment:
                raise ImwgInputError(f"assessments[{i}]", "must be an Assessment")
            if a.date <= previous:
                what = "the baseline date" if i == 0 else f"assessments[{i - 1}].date"
                raise ImwgInputError(
                    f"assessments[{i}].date",
                    f"{a.date.isoformat()} is not after {what} ({previous.isoformat()}); "
                    "assessments must be after baseline and in strictly increasing date order",
                )
            previous = a.date
        if self.new_therapy_date is not None:
            _check_date("new_therapy_date", self.new_therapy_date)
            if self.new_therapy_date < self.baseline.date:
                raise ImwgInputError("new_therapy_date", "is before the baseline date")
        if self.death_date is not None:
            _check_date("death_date", self.death_date)
            if self.death_date < previous:
                raise ImwgInputError(
                    "death_date", f"is before the last assessment ({previous.isoformat()})"
                )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImwgInput:
        """Build from the ``imwg_response`` command's JSON shape (dates as ISO strings).

        Raises :class:`ImwgInputError` naming the field on any bad value or unknown key.
        """
        if not isinstance(data, Mapping):
            raise ImwgInputError("input", "must be a JSON object")
        _reject_unknown(data, _INPUT_KEYS, "input")
        if "baseline" not in data or not isinstance(data["baseline"], Mapping):
            raise ImwgInputError("baseline", "is required and must be an object")
        settings = data.get("settings")
        if settings is not None and not isinstance(settings, Mapping):
            raise ImwgInputError("settings", "must be an object")
        raw = data.get("assessments") or ()
        if not isinstance(raw, list | tuple):
            raise ImwgInputError("assessments", "must be a list")
        assessments = tuple(
            Assessment.from_dict(a, path=f"assessments[{i}]") for i, a in enumerate(raw)
        )
        return cls(
            baseline=Baseline.from_dict(data["baseline"]),
            assessments=assessments,
            settings=ImwgSettings.from_dict(settings),
            new_therapy_date=_parse_date(data.get("new_therapy_date"), "new_therapy_date", True),
            death_date=_parse_date(data.get("death_date"), "death_date", True),
        )


_BASELINE_NUMBERS: Final = (
    "serum_m_g_dl",
    "urine_m_mg_24h",
    "kappa_mg_l",
    "lambda_mg_l",
    "flc_ratio",
    "bmpc_percent",
    "plasmacytoma_spd_cm2",
)
_ASSESSMENT_NUMBERS: Final = _BASELINE_NUMBERS
_BASELINE_KEYS: Final = frozenset(Baseline.__dataclass_fields__)
_ASSESSMENT_KEYS: Final = frozenset(Assessment.__dataclass_fields__)
# Keys the command reads beside the engine fields (investigator entries for discrepancies).
ENTRY_KEYS: Final = frozenset({"entered_response", "entered_pd_basis"})
_ASSESSMENT_JSON_KEYS: Final = _ASSESSMENT_KEYS | ENTRY_KEYS
_SETTINGS_KEYS: Final = frozenset(ImwgSettings.__dataclass_fields__)
_INPUT_KEYS: Final = frozenset(
    {
        "settings",
        "baseline",
        "assessments",
        "new_therapy_date",
        "death_date",
        "entered_best_overall_response",
    }
)


def _reject_unknown(data: Mapping[str, Any], allowed: frozenset[str], path: str) -> None:
    if not data.keys() <= allowed:
        unknown = sorted(set(data) - allowed)
        raise ImwgInputError(f"{path}.{unknown[0]}", "unknown field")


def _parse_date(value: object, name: str, optional: bool) -> date | None:
    if value is None:
        if optional:
            return None
        raise ImwgInputError(name, "is required")
    if value.__class__ is date:
        return value  # type: ignore[return-value]
    if not isinstance(value, str):
        raise ImwgInputError(name, f"must be an ISO date string (YYYY-MM-DD), got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ImwgInputError(
            name, f"must be an ISO date string (YYYY-MM-DD), got {value!r}"
        ) from None


def _from_dict(cls: Any, data: Mapping[str, Any], path: str, keys: frozenset[str]) -> Any:
    if data.__class__ is not dict and not isinstance(data, Mapping):
        raise ImwgInputError(path, "must be an object")
    allowed = _ASSESSMENT_JSON_KEYS if keys is _ASSESSMENT_KEYS else keys
    if not data.keys() <= allowed:
        _reject_unknown(data, allowed, path)
    kwargs = {k: v for k, v in data.items() if v is not None and k in keys}
    d = data.get("date")
    if d.__class__ is str and len(d) == 10:
        try:
            kwargs["date"] = date.fromisoformat(d)
        except ValueError:
            kwargs["date"] = _parse_date(d, f"{path}.date", False)
    else:
        kwargs["date"] = _parse_date(d, f"{path}.date", False)
    try:
        return cls(**kwargs)
    except ImwgInputError as exc:
        raise ImwgInputError(f"{path}.{exc.field}", exc.message) from None


# --------------------------------------------------------------------------------------------
# Results and trace


class PdCheck(NamedTuple):
    """One PD test against the nadir (note 5.3). ``applicable`` is False for a marker that is
    not a PD criterion for this patient (its rise is flagged for review, never called PD)."""

    parameter: str
    value: float
    nadir: float
    increase: float
    increase_pct: float | None  # None when the nadir is 0 or below
    met: bool
    applicable: bool
    rule_id: str


class LevelCheck(NamedTuple):
    """One parameter's level against baseline (note 5.2)."""

    parameter: str
    value: float | None
    baseline: float | None
    reduction_pct: float | None  # reduction from baseline; None when not computed
    level: Category
    rule_id: str


class AssessmentTrace(NamedTuple):
    """Why an assessment got its timepoint call."""

    rule_id: str  # the rule row that fixed the timepoint call
    pd_checks: tuple[PdCheck, ...]
    level_checks: tuple[LevelCheck, ...]
    gate: tuple[str, ...]  # CR/sCR gate rows, e.g. "CR-GATE:BMPC>=5"
    marrow_date: date | None  # the marrow the gates used (carried forward)


class CallTrace(NamedTuple):
    """Call-level trace: what the whole evaluation rested on."""

    ruleset_version: str
    criteria: str
    criteria_citation: str
    nadir_policy: str
    mr_plasmacytoma_min_reduction_pct: float
    waive_urine_for_vgpr: bool
    baseline: Baseline
    measurable: tuple[str, ...]
    involved_light_chain: str | None
    baseline_dflc: float | None
    bor_rule: str


def _decode_trace(raw: tuple[Any, ...]) -> AssessmentTrace:
    """Expand the flat trace the engine keeps (one tuple of atoms per assessment, so that a
    large recomputation does not pay garbage-collector time for thousands of small objects)."""
    rule_id, marrow_date, n_pd, n_lv = raw[0], raw[1], raw[2], raw[3]
    pos = 4
    pd_checks = []
    for _ in range(n_pd):
        param, value, nadir, met, applicable, rid = raw[pos : pos + 6]
        pos += 6
        increase = value - nadir
        pct = increase / nadir * 100.0 if nadir > 0 else None
        pd_checks.append(PdCheck(param, value, nadir, increase, pct, met, applicable, rid))
    level_checks = []
    for _ in range(n_lv):
        param, value, base, level, rid = raw[pos : pos + 5]
        pos += 5
        pct = None
        if value is not None and base and param != URINE_SERUM_ONLY:
            pct = (base - value) / base * 100.0
        level_checks.append(LevelCheck(param, value, base, pct, _LEVEL_CATEGORY[level], rid))
    return AssessmentTrace(rule_id, tuple(pd_checks), tuple(level_checks), raw[pos:], marrow_date)


@dataclass(frozen=True, slots=True)
class AssessmentResult:
    """The calls for one assessment.

    ``timepoint`` is the call at this assessment alone; ``confirmed`` the confirmed call for it
    (``None`` while pending, and always ``None`` on or after new therapy); ``status`` the best
    confirmed response known at this date (it moves down only to confirmed PD);
    ``confirmation_rule`` the convention that fixed ``confirmed`` (see
    :data:`response.domain.imwg_rules.CONFIRMATION_RULES`). ``trace`` explains ``timepoint``.
    """

    date: date
    timepoint: Category
    confirmed: Category | None
    status: Category | None
    after_new_therapy: bool
    confirmation_rule: str
    flags: tuple[str, ...]
    trace_data: tuple[Any, ...] = field(repr=False)

    @property
    def trace(self) -> AssessmentTrace:
        return _decode_trace(self.trace_data)

    def trace_dict(self) -> dict[str, Any]:
        """The trace as JSON-ready data, for storing beside the call."""
        return _trace_to_dict(self)


@dataclass(frozen=True, slots=True)
class ImwgResult:
    """The outcome of :func:`evaluate`. Store it with :attr:`ruleset_version`."""

    assessments: tuple[AssessmentResult, ...]
    best_overall_response: Category
    best_response_date: date | None
    progression_date: date | None
    flags: tuple[str, ...]
    trace: CallTrace
    ruleset_version: str = RULESET_VERSION

    @property
    def measurable(self) -> tuple[str, ...]:
        return self.trace.measurable

    def to_dict(self, *, include_trace: bool = True) -> dict[str, Any]:
        """The command's JSON output (dates as ISO strings)."""
        out: dict[str, Any] = {
            "assessments": [_assessment_to_dict(a, include_trace) for a in self.assessments],
            "best_overall_response": self.best_overall_response.value,
            "best_response_date": _iso(self.best_response_date),
            "progression_date": _iso(self.progression_date),
            "flags": list(self.flags),
            "ruleset_version": self.ruleset_version,
        }
        if include_trace:
            t = self.trace
            out["trace"] = {
                "ruleset_version": t.ruleset_version,
                "criteria": t.criteria,
                "criteria_citation": t.criteria_citation,
                "nadir_policy": t.nadir_policy,
                "mr_plasmacytoma_min_reduction_pct": t.mr_plasmacytoma_min_reduction_pct,
                "waive_urine_for_vgpr": t.waive_urine_for_vgpr,
                "baseline": _baseline_to_dict(t.baseline),
                "measurable": list(t.measurable),
                "involved_light_chain": t.involved_light_chain,
                "baseline_dflc_mg_l": _r(t.baseline_dflc),
                "best_overall_response_rule": t.bor_rule,
            }
        return out


def _iso(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def _baseline_to_dict(b: Baseline) -> dict[str, Any]:
    out: dict[str, Any] = {name: getattr(b, name) for name in b.__dataclass_fields__}
    out["date"] = b.date.isoformat()
    return out


def _assessment_to_dict(a: AssessmentResult, include_trace: bool) -> dict[str, Any]:
    c = a.confirmed
    s = a.status
    out: dict[str, Any] = {
        "date": a.date.isoformat(),
        "timepoint": a.timepoint.value,
        "confirmed": None if c is None else c.value,
        "status": None if s is None else s.value,
        "flags": list(a.flags),
    }
    if include_trace:
        out["trace"] = a.trace_dict()
    return out


def _trace_to_dict(a: AssessmentResult) -> dict[str, Any]:
    """JSON form of the trace, straight from the flat tuple (no intermediate objects)."""
    raw = a.trace_data
    n_pd, n_lv = raw[2], raw[3]
    pos = 4
    pd_checks = []
    for _ in range(n_pd):
        param, value, nadir, met, applicable, rid = raw[pos : pos + 6]
        pos += 6
        increase = value - nadir
        pd_checks.append(
            {
                "parameter": param,
                "value": value,
                "nadir": nadir,
                "increase": round(increase, 2),
                "increase_pct": round(increase / nadir * 100.0, 2) if nadir > 0 else None,
                "met": met,
                "applicable": applicable,
                "rule": rid,
            }
        )
    levels = []
    for _ in range(n_lv):
        param, value, base, level, rid = raw[pos : pos + 5]
        pos += 5
        pct = None
        if value is not None and base and param != URINE_SERUM_ONLY:
            pct = round((base - value) / base * 100.0, 2)
        levels.append(
            {
                "parameter": param,
                "value": value,
                "baseline": base,
                "reduction_pct": pct,
                "level": _LEVEL_NAMES[level],
                "rule": rid,
            }
        )
    marrow_date = raw[1]
    return {
        "rule": raw[0],
        "confirmation_rule": a.confirmation_rule,
        "after_new_therapy": a.after_new_therapy,
        "pd_checks": pd_checks,
        "levels": levels,
        "gate": list(raw[pos:]),
        "marrow_date": None if marrow_date is None else marrow_date.isoformat(),
    }


# --------------------------------------------------------------------------------------------
# Compiled rule table

_Row = tuple[int, bool, int, float, str]


class _Table(NamedTuple):
    criteria: CriteriaRules
    mr_pct: float
    serum: tuple[_Row, ...]
    urine: tuple[_Row, ...]
    urine_serum_only: tuple[_Row, ...]
    dflc: tuple[_Row, ...]
    bmpc: tuple[_Row, ...]
    plasmacytoma: tuple[_Row, ...]


def _compile_rows(rows: Iterable[LevelRule], mr_pct: float) -> tuple[_Row, ...]:
    out = []
    for r in rows:
        threshold = mr_pct if r.threshold is None else r.threshold
        use_value = r.metric == "value"
        op = {">=": _GE, ">": _GT, "<": _LT}[r.comparator]
        if not use_value:  # computed percentages get the rounding slack
            threshold = threshold - _EPS if op == _GE else threshold + _EPS
        out.append((_CATEGORY_LEVEL[r.level], use_value, op, threshold, r.rule_id))
    return tuple(out)


@lru_cache(maxsize=64)
def _table(criteria: str, mr_pct: float | None) -> _Table:
    rules = CRITERIA[criteria]
    pct = rules.default_mr_plasmacytoma_pct if mr_pct is None else float(mr_pct)
    lv = rules.levels
    return _Table(
        criteria=rules,
        mr_pct=pct,
        serum=_compile_rows(lv[SERUM], pct),
        urine=_compile_rows(lv[URINE], pct),
        urine_serum_only=_compile_rows(lv[URINE_SERUM_ONLY], pct),
        dflc=_compile_rows(lv[DFLC], pct),
        bmpc=_compile_rows(lv[BMPC], pct),
        plasmacytoma=_compile_rows(lv[PLASMACYTOMA], pct),
    )


def _grade(rows: tuple[_Row, ...], value: float, pct: float, sd_rule: str) -> tuple[int, str]:
    """First row (best level first) whose comparison holds; none gives SD."""
    for level, use_value, op, threshold, rule_id in rows:
        x = value if use_value else pct
        if op == _GE:
            if x >= threshold:
                return level, rule_id
        elif op == _GT:
            if x > threshold:
                return level, rule_id
        elif x < threshold:
            return level, rule_id
    return _SD, sd_rule


def _pd_met(value: float, nadir: float, pct_min: float, abs_min: float, strict: bool) -> bool:
    """+pct_min % **and** +abs_min from the nadir (note 5.3); from a nadir of 0 any rise counts
    as a relative increase."""
    increase = value - nadir
    if nadir > 0:
        if increase < nadir * pct_min / 100.0 - _EPS:
            return False
    elif increase <= 0:
        return False
    return increase > abs_min + _EPS if strict else increase >= abs_min - _EPS


def _flc_ratio(kappa: float | None, lam: float | None, ratio: float | None) -> float | None:
    if ratio is not None:
        return ratio
    if kappa is not None and lam:
        return kappa / lam
    return None


# --------------------------------------------------------------------------------------------
# The engine


class _Baseline(NamedTuple):
    """Everything derived once from the baseline record (note 1.2)."""

    measurable: tuple[str, ...]
    m_s: bool
    m_u: bool
    m_f: bool
    m_b: bool
    m_p: bool
    involved: str | None
    dflc: float | None


def _derive_baseline(b: Baseline, rules: CriteriaRules) -> _Baseline:
    """Measurable set {S, U, F, B, P} and the involved light chain, frozen for the line."""
    meas = rules.measurable
    s, u, bm, spd = b.serum_m_g_dl, b.urine_m_mg_24h, b.bmpc_percent, b.plasmacytoma_spd_cm2
    m_s = s is not None and s >= meas[SERUM].threshold
    m_u = u is not None and u >= meas[URINE].threshold
    ratio = _flc_ratio(b.kappa_mg_l, b.lambda_mg_l, b.flc_ratio)
    involved: str | None = None
    if ratio is not None:
        if ratio > rules.flc_ratio_abnormal_high:
            involved = "kappa"
        elif ratio < rules.flc_ratio_abnormal_low:
            involved = "lambda"
    dflc: float | None = None
    iflc: float | None = None
    if involved is not None:
        iflc = b.kappa_mg_l if involved == "kappa" else b.lambda_mg_l
        if b.kappa_mg_l is not None and b.lambda_mg_l is not None:
            dflc = b.kappa_mg_l - b.lambda_mg_l
            if involved == "lambda":
                dflc = -dflc
    m_f = (
        not m_s
        and not m_u
        and iflc is not None
        and iflc >= meas[DFLC].threshold
        and dflc is not None
        and dflc > 0
    )
    m_b = not (m_s or m_u or m_f) and bm is not None and bm >= meas[BMPC].threshold
    m_p = spd is not None and spd > meas[PLASMACYTOMA].threshold
    measurable = tuple(
        name
        for name, on in ((SERUM, m_s), (URINE, m_u), (DFLC, m_f), (BMPC, m_b), (PLASMACYTOMA, m_p))
        if on
    )
    return _Baseline(measurable, m_s, m_u, m_f, m_b, m_p, involved, dflc)


def evaluate(case: ImwgInput) -> ImwgResult:
    """Compute IMWG timepoint and confirmed calls, best overall response and progression for one
    patient's treatment line.

    IMWG 2016 (Kumar, Lancet Oncol 2016;17:e328-46) unless the study settings say 2011 or 2006;
    thresholds from :mod:`response.domain.imwg_rules`, procedure as in the module docstring.
    """
    settings = case.settings
    call_flags: list[str] = []
    criteria = settings.criteria
    if criteria is None:
        criteria = DEFAULT_CRITERIA
        call_flags.append(FLAG_CRITERIA_DEFAULTED)
    policy = settings.nadir_policy
    if policy is None:
        policy = DEFAULT_NADIR_POLICY.value
        call_flags.append(FLAG_NADIR_POLICY_DEFAULTED)
    table = _table(criteria, settings.mr_plasmacytoma_min_reduction_pct)
    rules = table.criteria
    confirmed_policy = policy == "lowest_confirmed"
    waive_urine = settings.waive_urine_for_vgpr
    hold_imaging = settings.plasmacytoma_missing_imaging == "hold"
    two_markers = settings.pd_two_markers_immediate

    b = case.baseline
    base = _derive_baseline(b, rules)
    measurable = base.measurable
    m_s, m_u, m_f, m_b, m_p = base.m_s, base.m_u, base.m_f, base.m_b, base.m_p
    m_ucap = m_s and not m_u
    involved, b_dflc = base.involved, base.dflc
    kappa_involved = involved == "kappa"
    b_s, b_u, b_bm, b_spd = b.serum_m_g_dl, b.urine_m_mg_24h, b.bmpc_percent, b.plasmacytoma_spd_cm2
    if not measurable:
        call_flags.append(FLAG_NO_MEASURABLE_DISEASE)
    # PD markers restricted by what is measurable (note 5.3)
    dflc_pd_applies = not m_s and not m_u
    bmpc_pd_applies = not (m_s or m_u or m_f)

    prog = rules.progression
    ps, pu, pf, pb = prog[SERUM], prog[URINE], prog[DFLC], prog[BMPC]
    s_pct, s_abs, s_rule = ps.min_increase_pct, ps.min_increase_abs, ps.rule_id
    u_pct, u_abs, u_rule = pu.min_increase_pct, pu.min_increase_abs, pu.rule_id
    f_pct, f_abs, f_strict, f_rule = (
        pf.min_increase_pct,
        pf.min_increase_abs,
        pf.abs_strict,
        pf.rule_id,
    )
    bm_pct, bm_abs, bm_rule = pb.min_increase_pct, pb.min_increase_abs, pb.rule_id
    high = rules.serum_high
    high_on_nadir = high.reference == "nadir"
    high_min, high_inc, high_rule = high.reference_min, high.sufficient_increase, high.rule_id
    high_baseline_ok = not high_on_nadir and b_s is not None and b_s >= high_min
    img = rules.imaging
    spd_ratio, new_lesion_rule, spd_rule = img.spd_ratio, img.rule_id_new_lesion, img.rule_id_spd
    gates = rules.gates
    rows_s, rows_u, rows_u1 = table.serum, table.urine, table.urine_serum_only
    rows_f, rows_b, rows_p = table.dflc, table.bmpc, table.plasmacytoma

    # running state: nadirs (baseline included), carried marrow, held imaging
    n_s, n_u, n_f, n_bm, n_spd = b_s, b_u, b_dflc, b_bm, b_spd
    prev_s = prev_u = prev_f = None  # last post-baseline value, for lowest_confirmed pairs
    bm_cur: float | None = None
    clonal_cur: str | None = None
    bm_date: date | None = None
    spd_cur: float | None = None
    new_therapy = case.new_therapy_date

    assessments = case.assessments
    n = len(assessments)
    tps = [0] * n
    immediate_pd = [False] * n
    all_flags: list[list[str] | None] = [None] * n
    traces: list[tuple[Any, ...]] = [()] * n
    cut = n  # index of the first assessment on or after new therapy

    for i in range(n):
        a = assessments[i]
        if new_therapy is not None and cut == n and a.date >= new_therapy:
            cut = i
        flags: list[str] | None = None
        s = a.serum_m_g_dl
        u = a.urine_m_mg_24h
        dflc: float | None = None
        if involved is not None:
            kap = a.kappa_mg_l
            lam = a.lambda_mg_l
            if kap is not None and lam is not None:
                dflc = kap - lam if kappa_involved else lam - kap
        bm = a.bmpc_percent
        spd = a.plasmacytoma_spd_cm2
        if bm is not None or a.clonal_pc is not None:
            bm_cur, clonal_cur, bm_date = bm, a.clonal_pc, a.date
        # flat trace: rule, marrow date, #pd checks, #levels, pd checks, levels, gate rows
        tr: list[Any] = [None, None, 0, 0]
        n_pd = 0

        # ---- PD check against the nadir, before the ladder (note 5.3)
        lab_hits = 0
        pd_rule: str | None = None
        imm = False
        if s is not None and n_s is not None:
            rid = s_rule
            met = _pd_met(s, n_s, s_pct, s_abs, False)
            if (
                not met
                and (high_baseline_ok or (high_on_nadir and n_s >= high_min))
                and s - n_s >= high_inc - _EPS
            ):
                met, rid = True, high_rule  # +1 g/dL is sufficient on a high reference
            tr += (SERUM, s, n_s, met, True, rid)
            n_pd += 1
            if met:
                lab_hits += 1
                pd_rule = rid
        if u is not None and n_u is not None:
            met = _pd_met(u, n_u, u_pct, u_abs, False)
            tr += (URINE, u, n_u, met, True, u_rule)
            n_pd += 1
            if met:
                lab_hits += 1
                pd_rule = pd_rule or u_rule
        if dflc is not None and n_f is not None:
            met = _pd_met(dflc, n_f, f_pct, f_abs, f_strict)
            tr += (DFLC, dflc, n_f, met, dflc_pd_applies, f_rule)
            n_pd += 1
            if met:
                if dflc_pd_applies:
                    lab_hits += 1
                    pd_rule = pd_rule or f_rule
                else:
                    flags = [FLAG_LIGHT_CHAIN_ESCAPE]
        if bm is not None and n_bm is not None:
            met = _pd_met(bm, n_bm, bm_pct, bm_abs, False)
            tr += (BMPC, bm, n_bm, met, bmpc_pd_applies, bm_rule)
            n_pd += 1
            if met:
                if bmpc_pd_applies:
                    imm = True
                    pd_rule = pd_rule or bm_rule
                else:
                    flags = _add(flags, FLAG_MARROW_RISE_NOT_APPLICABLE)
        if spd is not None and n_spd is not None:
            met = spd > 0 and spd >= n_spd * spd_ratio - _EPS
            tr += (IMAGING, spd, n_spd, met, True, spd_rule)
            n_pd += 1
            if met:
                imm = True
                pd_rule = pd_rule or spd_rule
        if a.new_lesion:
            imm = True
            pd_rule = pd_rule or new_lesion_rule
        if two_markers and lab_hits >= 2:
            imm = True  # opt-in: two markers at once need no repeat (Blood 2025;146:802)
        tr[2] = n_pd

        if pd_rule is not None:
            tp = _PD
            rule_id = pd_rule
            immediate_pd[i] = imm
        elif not measurable:
            tp = _NE
            rule_id = "NE-NO-MEASURABLE-DISEASE"
        else:
            # ---- response ladder against baseline (note 5.2): overall = the lowest level
            tp = _SCR
            rule_id = ""
            at_ceiling = True
            others = _SCR  # lowest level of the parameters other than the urine cap
            n_lv = 0
            urine_cap_missing = False
            if m_s:
                if s is None:
                    lvl, rid = _NE, "NE-SERUM-MISSING"
                    flags = _add(flags, FLAG_SERUM_MISSING)
                else:
                    lvl, rid = _grade(rows_s, s, (b_s - s) / b_s * 100.0, "S-SD")
                tr += (SERUM, s, b_s, lvl, rid)
                n_lv += 1
                tp, rule_id, others = lvl, rid, lvl
                at_ceiling = lvl == _VGPR
            if m_ucap:
                if u is None:
                    if waive_urine:
                        lvl, rid = _VGPR, "U1-WAIVED"
                    else:
                        lvl, rid = _PR, "U1-MISSING-CAP-PR"
                        urine_cap_missing = True
                elif u < rows_u1[0][3]:
                    lvl, rid = _VGPR, rows_u1[0][4]
                else:
                    lvl, rid = _PR, "U1-CAP-PR"
                tr += (URINE_SERUM_ONLY, u, b_u, lvl, rid)
                n_lv += 1
                if lvl < tp:
                    tp, rule_id = lvl, rid
                at_ceiling = at_ceiling and lvl == _VGPR
            if m_u:
                if u is None:
                    lvl, rid = _NE, "NE-URINE-MISSING"
                    flags = _add(flags, FLAG_URINE_MISSING)
                else:
                    lvl, rid = _grade(rows_u, u, (b_u - u) / b_u * 100.0, "U-SD")  # type: ignore[operator]
                tr += (URINE, u, b_u, lvl, rid)
                n_lv += 1
                if lvl < tp:
                    tp, rule_id = lvl, rid
                if lvl < others:
                    others = lvl
                at_ceiling = at_ceiling and lvl == _VGPR
            if m_f:  # only without S and U
                if dflc is None:
                    lvl, rid = _NE, "NE-FLC-MISSING"
                    flags = _add(flags, FLAG_FLC_MISSING)
                else:
                    lvl, rid = _grade(rows_f, dflc, (b_dflc - dflc) / b_dflc * 100.0, "F-SD")  # type: ignore[operator]
                tr += (DFLC, dflc, b_dflc, lvl, rid)
                n_lv += 1
                tp, rule_id, others = lvl, rid, lvl
                at_ceiling = lvl == _VGPR
            if m_b:  # only without S, U and F; the last marrow carries forward
                if bm_cur is None:
                    lvl, rid = _NE, "NE-MARROW-MISSING"
                    flags = _add(flags, FLAG_MARROW_MISSING)
                else:
                    lvl, rid = _grade(rows_b, bm_cur, (b_bm - bm_cur) / b_bm * 100.0, "B-SD")  # type: ignore[operator]
                tr += (BMPC, bm_cur, b_bm, lvl, rid)
                n_lv += 1
                tp, rule_id, others = lvl, rid, lvl
                at_ceiling = lvl == _PR  # marrow-only disease has no VGPR level
            if m_p:
                p_val = spd
                if p_val is None and hold_imaging and spd_cur is not None:
                    p_val = spd_cur
                    flags = _add(flags, FLAG_IMAGING_HELD)
                if p_val is None:
                    lvl, rid = _NE, "NE-IMAGING-MISSING"
                    flags = _add(flags, FLAG_IMAGING_MISSING)
                else:
                    lvl, rid = _grade(rows_p, p_val, (b_spd - p_val) / b_spd * 100.0, "P-SD")  # type: ignore[operator]
                tr += (PLASMACYTOMA, p_val, b_spd, lvl, rid)
                n_lv += 1
                if lvl < tp:
                    tp, rule_id = lvl, rid
                if lvl < others:
                    others = lvl
                at_ceiling = at_ceiling and lvl == _VGPR
            tr[3] = n_lv
            if urine_cap_missing and tp == _PR and others >= _VGPR:
                flags = _add(flags, FLAG_VGPR_PENDING_URINE)  # the urine is all that caps it
            if at_ceiling and tp != _NE:
                tp, gate_rule, flags = _gates(
                    tp, a, s, u, m_p, m_f, spd if spd is not None else spd_cur,
                    bm_cur, clonal_cur, gates, flags, tr,
                )  # fmt: skip
                if gate_rule is not None:
                    rule_id = gate_rule

        tr[0] = rule_id
        tr[1] = bm_date
        tps[i] = tp
        all_flags[i] = flags
        traces[i] = tuple(tr)

        # ---- nadir update: this assessment's values count from the next one on (note 5.3)
        if spd is not None:
            spd_cur = spd
        if not a.exclude_from_nadir:
            # marrow and imaging need no confirmation: lowest observed under either policy
            if bm is not None and (n_bm is None or bm < n_bm):
                n_bm = bm
            if spd is not None and (n_spd is None or spd < n_spd):
                n_spd = spd
            if not confirmed_policy:
                if s is not None and (n_s is None or s < n_s):
                    n_s = s
                if u is not None and (n_u is None or u < n_u):
                    n_u = u
                if dflc is not None and (n_f is None or dflc < n_f):
                    n_f = dflc
            else:
                # "lowest confirmed value" [I]: a value counts once the next measurement of the
                # same marker confirms it, at the higher of the pair
                if s is not None:
                    if prev_s is not None:
                        c = s if s > prev_s else prev_s
                        if n_s is None or c < n_s:
                            n_s = c
                    prev_s = s
                if u is not None:
                    if prev_u is not None:
                        c = u if u > prev_u else prev_u
                        if n_u is None or c < n_u:
                            n_u = c
                    prev_u = u
                if dflc is not None:
                    if prev_f is not None:
                        c = dflc if dflc > prev_f else prev_f
                        if n_f is None or c < n_f:
                            n_f = c
                    prev_f = dflc

    return _finish(case, table, policy, tps, immediate_pd, all_flags, traces, cut, base, call_flags)


def _add(flags: list[str] | None, flag: str) -> list[str]:
    if flags is None:
        return [flag]
    flags.append(flag)
    return flags


def _gates(
    level: int,
    a: Assessment,
    s: float | None,
    u: float | None,
    m_p: bool,
    m_f: bool,
    spd: float | None,
    bm: float | None,
    clonal: str | None,
    gates: GateRule,
    flags: list[str] | None,
    tr: list[Any],
) -> tuple[int, str | None, list[str] | None]:
    """CR and sCR gates (note 5.2). CR: serum and urine IFE negative, a post-baseline marrow
    < 5% on file (carried forward), SPD 0 if a plasmacytoma was present, and in FLC-only disease
    a normal ratio. sCR: CR plus a normal ratio and no clonal plasma cells. Otherwise the call
    stays at the ladder's level (VGPR; PR in marrow-only disease). Gate rows go into ``tr``."""
    failed: list[str] = []
    missing: list[str] = []
    si, ui = a.serum_ife, a.urine_ife
    if si == "positive" or ui == "positive":
        failed.append("CR-GATE:IFE-POSITIVE")
    elif si is None or ui is None:
        missing.append(FLAG_CR_PENDING_IFE)
    if bm is None:
        missing.append(FLAG_CR_PENDING_MARROW)
    elif bm >= gates.cr_bmpc_below:
        failed.append("CR-GATE:BMPC>=5")
    if m_p:
        if spd is None:
            missing.append(FLAG_CR_PENDING_IMAGING)
        elif spd > 0:
            failed.append("CR-GATE:PLASMACYTOMA-PRESENT")
    ratio = _flc_ratio(a.kappa_mg_l, a.lambda_mg_l, a.flc_ratio)
    ratio_normal = (
        ratio is not None and gates.flc_ratio_normal_low <= ratio <= gates.flc_ratio_normal_high
    )
    if m_f:
        if ratio is None:
            missing.append(FLAG_CR_PENDING_FLC_RATIO)
        elif not ratio_normal:
            failed.append("CR-GATE:FLC-RATIO-ABNORMAL")
    if failed or missing:
        # Pending flags only when missing data are all that stand between the call and CR and
        # no electrophoresis still shows an M-spike (CR is out of reach then anyway).
        if not failed and not s and not u:
            for f in missing:
                flags = _add(flags, f)
        tr += failed
        tr += ["CR-GATE:" + m for m in missing]
        return level, None, flags  # the ladder row stays the rule; the gate rows say why
    tr.append("CR-GATE:PASS")
    if clonal == "present":
        tr.append("SCR-GATE:CLONAL-PRESENT")
        return _CR, "CR-GATE:PASS", flags
    if ratio is not None and not ratio_normal:
        tr.append("SCR-GATE:FLC-RATIO-ABNORMAL")
        return _CR, "CR-GATE:PASS", flags
    if ratio is None or clonal is None:
        if ratio is None:
            flags = _add(flags, FLAG_SCR_PENDING_FLC_RATIO)
        if clonal is None:
            flags = _add(flags, FLAG_SCR_PENDING_CLONALITY)
        tr.append("SCR-GATE:PENDING")
        return _CR, "CR-GATE:PASS", flags
    tr.append("SCR-GATE:PASS")
    return _SCR, "SCR-GATE:PASS", flags


def _finish(
    case: ImwgInput,
    table: _Table,
    policy: str,
    tps: list[int],
    immediate_pd: list[bool],
    all_flags: list[list[str] | None],
    traces: list[tuple[Any, ...]],
    cut: int,
    base: _Baseline,
    call_flags: list[str],
) -> ImwgResult:
    """Confirmation, status, best overall response and progression date (note 5.4 and the
    command's conventions, after the admiralonco ADRS-IMWG vignette)."""
    assessments = case.assessments
    n = len(assessments)
    death = case.death_date
    new_therapy = case.new_therapy_date
    death_confirms = death is not None and (new_therapy is None or death < new_therapy)
    closed = death is not None or new_therapy is not None
    lab_disease = base.m_s or base.m_u or base.m_f

    confirmed: list[int | None] = [None] * n
    conf_rule = ["CONF-AFTER-NEW-THERAPY"] * n
    known_at = [n] * n  # index of the assessment at which the confirmed call became known
    nxt = -1  # next pre-therapy assessment whose timepoint is not NE
    for i in range(cut - 1, -1, -1):
        tp = tps[i]
        if tp == _NE:
            confirmed[i], conf_rule[i], known_at[i] = _NE, "CONF-NE", i
            continue  # NE is skipped when looking for the confirming assessment
        if tp == _SD:
            confirmed[i], conf_rule[i], known_at[i] = _SD, "CONF-SD", i
        elif tp == _PD:
            if immediate_pd[i]:
                confirmed[i], conf_rule[i], known_at[i] = _PD, "CONF-PD-IMMEDIATE", i
            elif nxt >= 0:
                if tps[nxt] == _PD:
                    confirmed[i], conf_rule[i] = _PD, "CONF-PD-NEXT"
                else:
                    confirmed[i], conf_rule[i] = _NE, "CONF-PD-NOT-CONFIRMED"
                known_at[i] = nxt
            elif death_confirms:
                confirmed[i], conf_rule[i], known_at[i] = _PD, "CONF-PD-DEATH", cut - 1
            elif new_therapy is not None:
                confirmed[i], conf_rule[i], known_at[i] = _NE, "CONF-PD-CUT-OFF", cut - 1
                all_flags[i] = _add(all_flags[i], FLAG_PD_UNCONFIRMED_NEW_THERAPY)
            else:
                conf_rule[i] = "CONF-PENDING"
                all_flags[i] = _add(all_flags[i], FLAG_PD_PENDING_CONFIRMATION)
        elif not lab_disease:
            confirmed[i], conf_rule[i], known_at[i] = tp, "CONF-IMMEDIATE", i
        elif nxt >= 0:
            t_next = tps[nxt]
            if t_next >= _MR and t_next <= _SCR:
                confirmed[i] = tp if tp < t_next else t_next
                conf_rule[i] = "CONF-LOWER-OF-TWO"
            else:
                confirmed[i], conf_rule[i] = _SD, "CONF-NEXT-BELOW-MR"
            known_at[i] = nxt
            if (assessments[nxt].date - assessments[i].date).days > CONFIRMATION_WARNING_DAYS:
                all_flags[i] = _add(all_flags[i], FLAG_CONFIRMATION_OVER_84_DAYS)
        elif closed:
            confirmed[i], conf_rule[i], known_at[i] = _SD, "CONF-CUT-OFF", cut - 1
        else:
            conf_rule[i] = "CONF-PENDING"
            all_flags[i] = _add(all_flags[i], FLAG_RESPONSE_PENDING_CONFIRMATION)
        nxt = i

    # best overall response: the best confirmed call before confirmed PD and new therapy; a
    # response still waiting for its confirmation counts as SD (note 5.4)
    prog_idx = -1
    best_rank = -1
    best_idx = -1
    best_level = _NE
    for i in range(cut):
        c = confirmed[i]
        if c == _PD:
            prog_idx = i
            break
        if c is None:
            if tps[i] == _PD:
                continue
            c = _SD
        rank = _BOR_RANK[c]
        if rank > best_rank:
            best_rank, best_idx, best_level = rank, i, c
    if prog_idx >= 0 and best_rank < _BOR_RANK[_SD]:
        best_level, best_idx, bor_rule = _PD, prog_idx, "BOR-PD"
    elif best_idx < 0:
        bor_rule = "BOR-NO-ASSESSMENT"
    elif best_level == _NE:
        best_idx, bor_rule = -1, "BOR-NE"
    elif confirmed[best_idx] is None:
        bor_rule = "BOR-UNCONFIRMED-AS-SD"
    else:
        bor_rule = "BOR-BEST-CONFIRMED"

    # current status per assessment: the best confirmed call known by then; confirmed PD sticks
    results = []
    status_level = -1
    after = (FLAG_AFTER_NEW_THERAPY,)
    flag_set = set(call_flags)
    for i in range(n):
        a = assessments[i]
        flags = all_flags[i]
        if i < cut:
            if status_level != _PD:
                for j in range(i + 1):
                    c = confirmed[j]
                    if known_at[j] == i and c is not None:
                        if c == _PD:
                            status_level = _PD
                            break
                        if status_level < 0 or _BOR_RANK[c] > _BOR_RANK[status_level]:
                            status_level = c
            c = confirmed[i]
            flag_tuple = tuple(flags) if flags else ()
            results.append(
                AssessmentResult(
                    a.date,
                    _LEVEL_CATEGORY[tps[i]],
                    None if c is None else _LEVEL_CATEGORY[c],
                    None if status_level < 0 else _LEVEL_CATEGORY[status_level],
                    False,
                    conf_rule[i],
                    flag_tuple,
                    traces[i],
                )
            )
        else:
            flag_tuple = after + tuple(flags) if flags else after
            results.append(
                AssessmentResult(
                    a.date,
                    _LEVEL_CATEGORY[tps[i]],
                    None,
                    None,
                    True,
                    "CONF-AFTER-NEW-THERAPY",
                    flag_tuple,
                    traces[i],
                )
            )
        if flag_tuple:
            flag_set.update(flag_tuple)

    rules = table.criteria
    trace = CallTrace(
        RULESET_VERSION,
        rules.version,
        rules.citation,
        policy,
        table.mr_pct,
        case.settings.waive_urine_for_vgpr,
        case.baseline,
        base.measurable,
        base.involved,
        base.dflc,
        bor_rule,
    )
    return ImwgResult(
        assessments=tuple(results),
        best_overall_response=_LEVEL_CATEGORY[best_level],
        best_response_date=assessments[best_idx].date if best_idx >= 0 else None,
        progression_date=assessments[prog_idx].date if prog_idx >= 0 else None,
        flags=tuple(sorted(flag_set)) if flag_set else (),
        trace=trace,
    )
