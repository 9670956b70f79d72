"""Suggest a CTCAE grade from a laboratory value.

Implements the laboratory cut-points of NCI CTCAE v5.0 (27 November 2017) for the terms in
``LAB_GRADING_RULES``. The cut-points are data, copied from the NCI grade texts (also in
``safety/data/ctcae_v5.0.json``), and read with these semantics:

* Ranges are half-open. For a decrease, "<1500 - 1000/mm3" means 1000 <= value < 1500; for an
  increase, ">11.5 - 12.5 mg/dL" means 11.5 < value <= 12.5.
* Grade 1 is the only grade that references the normal range: "<LLN - 1500" needs
  value < LLN *and* value >= 1500 (">ULN - 11.5" needs value > ULN). Grades 2-4 do not
  reference the LLN/ULN, so with a site ANC LLN of 1.4 x 10^9/L a value of 1.45 is grade 2.
* A semicolon in the NCI text means "or": Creatinine increased is graded against the ULN and,
  when a baseline is given, against the baseline, and the higher grade wins.
* Lab values never give grade 5, and stop where NCI's text needs clinical input: Anemia reaches
  grade 3 at most ("transfusion indicated", grades 4-5 are clinical). The result is a
  suggestion that an investigator confirms.

Units are explicit. A value is converted once, exactly (rational arithmetic, so a value that
sits on a cut-point is graded as on it), into the unit whose cut-points NCI states. Where NCI
states cut-points for several units that are not exact multiples of each other (haemoglobin
6.2 mmol/L vs 10.0 g/dL, corrected calcium 2.9 mmol/L vs 11.5 mg/dL), each unit keeps NCI's
own cut-points instead of being converted. Site LLN/ULN and the baseline are given in the same
unit as the value; without them the documented typical adult limits in the table are used.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from types import MappingProxyType
from typing import Any, Literal, cast

from safety.domain.ctcae import DEFAULT_VERSION, load_dictionary

Direction = Literal["decreased", "increased"]
Reference = Literal["absolute", "LLN", "ULN", "baseline"]
Number = int | float | Decimal | Fraction | str


class LabGradingError(ValueError):
    """A lab value cannot be graded as given."""


class UnknownLabTermError(LabGradingError):
    """No lab grading rule for the term in this CTCAE version."""


class UnknownUnitError(LabGradingError):
    """The unit is not one the term's rule accepts."""


class InvalidLabValueError(LabGradingError):
    """The value, a normal limit or the baseline is not a usable number."""


@dataclass(frozen=True, slots=True)
class Bound:
    """A cut-point: ``multiple`` times a reference (LLN, ULN, baseline) or an absolute value."""

    multiple: Fraction
    reference: Reference = "absolute"
    label: str = field(default="", compare=False)  # the cut-point as NCI writes it

    def resolve(self, limits: Mapping[Reference, Fraction | None]) -> Fraction | None:
        if self.reference == "absolute":
            return self.multiple
        base = limits.get(self.reference)
        return None if base is None else self.multiple * base

    def describe(self, limits: Mapping[Reference, Fraction | None]) -> str:
        if self.reference == "absolute":
            return self.label or _fmt(self.multiple)
        resolved = self.resolve(limits)
        shown = "?" if resolved is None else _fmt(resolved)
        if self.multiple == 1:
            return f"{self.reference} ({shown})"
        return f"{self.label.split('x')[0] or _fmt(self.multiple)} x {self.reference} ({shown})"


@dataclass(frozen=True, slots=True)
class Criterion:
    """One range of one grade. ``start`` is the cut-point nearer to normal.

    For a decrease the range is ``end <= value < start``; for an increase
    ``start < value <= end``. ``end=None`` leaves the range open towards the extreme.
    """

    grade: int
    start: Bound
    end: Bound | None = None

    @property
    def references(self) -> frozenset[Reference]:
        bounds = (self.start,) if self.end is None else (self.start, self.end)
        return frozenset(b.reference for b in bounds)


@dataclass(frozen=True, slots=True)
class Scale:
    """NCI's cut-points for one grading unit, with default normal limits in that unit."""

    unit: str
    criteria: tuple[Criterion, ...]
    default_lln: Fraction | None = None
    default_uln: Fraction | None = None


@dataclass(frozen=True, slots=True)
class UnitConversion:
    """An accepted input unit: multiply by ``factor`` to get ``scale_unit``."""

    unit: str
    scale_unit: str
    factor: Fraction
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LabGradingRule:
    ctcae_version: str
    term: str
    analyte: str
    direction: Direction
    scales: Mapping[str, Scale] = field(hash=False)
    units: tuple[UnitConversion, ...]
    max_lab_grade: int
    note: str = ""

    @property
    def accepted_units(self) -> tuple[str, ...]:
        return tuple(u.unit for u in self.units)

    def conversion_for(self, unit: str) -> UnitConversion:
        wanted = _normalise_unit(unit)
        for conversion in self.units:
            names = (conversion.unit, *conversion.aliases)
            if any(_normalise_unit(name) == wanted for name in names):
                return conversion
        accepted = ", ".join(
            f"{u.unit!r}" + (f" (also {', '.join(u.aliases)})" if u.aliases else "")
            for u in self.units
        )
        raise UnknownUnitError(
            f"unit {unit!r} is not accepted for {self.term!r} ({self.analyte}); "
            f"accepted units: {accepted}"
        )


@dataclass(frozen=True, slots=True)
class LabGrade:
    """A suggested CTCAE grade (0 = within normal limits / not gradable as abnormal).

    ``value_converted``, ``lln``, ``uln`` and ``baseline`` are in ``unit``, the unit NCI's
    cut-points are stated in; ``rule_text`` says which range matched and why.
    """

    grade: int
    term: str
    value_converted: float
    unit: str
    rule_text: str
    lln: float | None
    uln: float | None
    ctcae_version: str = DEFAULT_VERSION
    input_value: str = ""
    input_unit: str = ""
    baseline: float | None = None
    defaults_used: tuple[str, ...] = ()  # "LLN"/"ULN" taken from the table, not the site


# --- the table ------------------------------------------------------------------------------
#
# Each grade row is (grade, start, end) as in the NCI text, read from the normal side:
# "<1500 - 1000/mm3" is (2, "1.5", "1.0") in 10^9/L; ">1.5 - 3.0 x ULN" is (2, "1.5xULN",
# "3.0xULN"). A bound is a number, "LLN", "ULN" or "<multiple>x<LLN|ULN|baseline>".
#
# Default normal limits: typical adult reference intervals, used only when the site's
# laboratory supplies none (sites configure their own). ANC 2.0, WBC 4.0, lymphocytes 1.0,
# platelets 150 x 10^9/L; haemoglobin 12.0 g/dL (the WHO threshold for non-pregnant women,
# the lower of the sex-specific limits, so a default never over-grades); creatinine ULN
# 1.2 mg/dL (106 umol/L); corrected calcium ULN 10.5 mg/dL / 2.6 mmol/L.

_COUNT_UNITS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("10^9/L", "10^9/L", "1", ("10e9/L", "x10^9/L", "10*9/L", "10^3/uL", "K/uL")),
    ("/mm3", "10^9/L", "1/1000", ("cells/mm3", "/uL", "cells/uL", "cells/µL", "/µL")),
)

_V5_TABLE: dict[str, dict[str, Any]] = {
    "Neutrophil count decreased": {
        "analyte": "absolute neutrophil count (ANC)",
        "direction": "decreased",
        "units": _COUNT_UNITS,
        "scales": {
            "10^9/L": {
                "default_lln": "2.0",
                "grades": ((1, "LLN", "1.5"), (2, "1.5", "1.0"), (3, "1.0", "0.5"), (4, "0.5")),
            }
        },
        "max_lab_grade": 4,
    },
    "Platelet count decreased": {
        "analyte": "platelet count",
        "direction": "decreased",
        "units": _COUNT_UNITS,
        "scales": {
            "10^9/L": {
                "default_lln": "150",
                "grades": ((1, "LLN", "75"), (2, "75", "50"), (3, "50", "25"), (4, "25")),
            }
        },
        "max_lab_grade": 4,
    },
    "White blood cell decreased": {
        "analyte": "white blood cell count (WBC)",
        "direction": "decreased",
        "units": _COUNT_UNITS,
        "scales": {
            "10^9/L": {
                "default_lln": "4.0",
                "grades": ((1, "LLN", "3.0"), (2, "3.0", "2.0"), (3, "2.0", "1.0"), (4, "1.0")),
            }
        },
        "max_lab_grade": 4,
    },
    "Lymphocyte count decreased": {
        "analyte": "absolute lymphocyte count (ALC)",
        "direction": "decreased",
        "units": _COUNT_UNITS,
        "scales": {
            "10^9/L": {
                "default_lln": "1.0",
                "grades": ((1, "LLN", "0.8"), (2, "0.8", "0.5"), (3, "0.5", "0.2"), (4, "0.2")),
            }
        },
        "max_lab_grade": 4,
    },
    "Anemia": {
        "analyte": "haemoglobin (Hgb)",
        "direction": "decreased",
        "units": (
            ("g/dL", "g/dL", "1", ()),
            ("g/L", "g/L", "1", ()),
            ("mmol/L", "mmol/L", "1", ()),
        ),
        "scales": {
            "g/dL": {
                "default_lln": "12.0",
                "grades": ((1, "LLN", "10.0"), (2, "10.0", "8.0"), (3, "8.0")),
            },
            "g/L": {
                "default_lln": "120",
                "grades": ((1, "LLN", "100"), (2, "100", "80"), (3, "80")),
            },
            "mmol/L": {
                "default_lln": "7.4",
                "grades": ((1, "LLN", "6.2"), (2, "6.2", "4.9"), (3, "4.9")),
            },
        },
        "max_lab_grade": 3,
        "note": (
            "lab values alone reach grade 3 at most; 'transfusion indicated' (grade 3) and "
            "grades 4-5 need the investigator's clinical assessment"
        ),
    },
    "Creatinine increased": {
        "analyte": "serum creatinine",
        "direction": "increased",
        "units": (
            ("mg/dL", "mg/dL", "1", ()),
            ("umol/L", "mg/dL", "10/884", ("µmol/L", "micromol/L")),
        ),
        "scales": {
            "mg/dL": {
                "default_uln": "1.2",
                "grades": (
                    (1, "ULN", "1.5xULN"),
                    (2, "1.5xULN", "3.0xULN"),
                    (2, "1.5xbaseline", "3.0xbaseline"),
                    (3, "3.0xULN", "6.0xULN"),
                    (3, "3.0xbaseline"),
                    (4, "6.0xULN"),
                ),
            }
        },
        "max_lab_grade": 4,
        "note": "graded against the ULN and, when given, the baseline; the higher grade wins",
    },
    "Hypercalcemia": {
        "analyte": "serum calcium corrected for albumin",
        "direction": "increased",
        "units": (("mg/dL", "mg/dL", "1", ()), ("mmol/L", "mmol/L", "1", ())),
        "scales": {
            "mg/dL": {
                "default_uln": "10.5",
                "grades": (
                    (1, "ULN", "11.5"),
                    (2, "11.5", "12.5"),
                    (3, "12.5", "13.5"),
                    (4, "13.5"),
                ),
            },
            "mmol/L": {
                "default_uln": "2.6",
                "grades": ((1, "ULN", "2.9"), (2, "2.9", "3.1"), (3, "3.1", "3.4"), (4, "3.4")),
            },
        },
        "max_lab_grade": 4,
        "note": (
            "corrected (total) calcium only, not ionized calcium; 'symptomatic', "
            "'hospitalization indicated' and grade 5 need clinical assessment"
        ),
    },
}

_BOUND_PATTERN = re.compile(r"^(?:(?P<multiple>\d+(?:\.\d+)?)x)?(?P<ref>LLN|ULN|baseline)$")


def _parse_bound(text: str) -> Bound:
    match = _BOUND_PATTERN.match(text)
    if match is None:
        return Bound(Fraction(text), label=text)
    multiple = match.group("multiple")
    return Bound(
        Fraction(multiple) if multiple else Fraction(1),
        cast(Reference, match.group("ref")),
        label=text,
    )


def _build_rule(version: str, term: str, spec: Mapping[str, Any]) -> LabGradingRule:
    scales: dict[str, Scale] = {}
    for unit, scale_spec in spec["scales"].items():
        criteria = tuple(
            Criterion(
                grade=row[0],
                start=_parse_bound(row[1]),
                end=_parse_bound(row[2]) if len(row) > 2 else None,
            )
            for row in scale_spec["grades"]
        )
        lln, uln = scale_spec.get("default_lln"), scale_spec.get("default_uln")
        scales[unit] = Scale(
            unit=unit,
            criteria=criteria,
            default_lln=None if lln is None else Fraction(lln),
            default_uln=None if uln is None else Fraction(uln),
        )
    units = tuple(
        UnitConversion(unit=u, scale_unit=s, factor=Fraction(f), aliases=a)
        for u, s, f, a in spec["units"]
    )
    for conversion in units:
        if conversion.scale_unit not in scales:
            raise ValueError(f"{term}: unit {conversion.unit} maps to unknown scale")
    rule = LabGradingRule(
        ctcae_version=version,
        term=term,
        analyte=str(spec["analyte"]),
        direction=spec["direction"],
        scales=MappingProxyType(scales),
        units=units,
        max_lab_grade=int(spec["max_lab_grade"]),
        note=str(spec.get("note", "")),
    )
    # A rule must name a real term, and never suggest a grade NCI does not allow.
    ctcae_term = load_dictionary(version).get(term)
    for scale in scales.values():
        for criterion in scale.criteria:
            if not ctcae_term.is_allowed(criterion.grade) or criterion.grade > rule.max_lab_grade:
                raise ValueError(f"{term}: grade {criterion.grade} cannot come from a lab value")
    return rule


LAB_GRADING_RULES: Mapping[tuple[str, str], LabGradingRule] = MappingProxyType(
    {("5.0", term): _build_rule("5.0", term, spec) for term, spec in _V5_TABLE.items()}
)


# --- grading --------------------------------------------------------------------------------


def lab_gradable_terms(ctcae_version: str = DEFAULT_VERSION) -> tuple[str, ...]:
    load_dictionary(ctcae_version)  # unknown version -> UnknownCtcaeVersionError
    return tuple(sorted(t for v, t in LAB_GRADING_RULES if v == ctcae_version))


def get_lab_rule(term: str, ctcae_version: str = DEFAULT_VERSION) -> LabGradingRule:
    dictionary = load_dictionary(ctcae_version)  # unknown version -> UnknownCtcaeVersionError
    wanted = term.strip().casefold()
    for (version, name), rule in LAB_GRADING_RULES.items():
        if version == ctcae_version and name.casefold() == wanted:
            return rule
    terms = lab_gradable_terms(ctcae_version)
    gradable = ", ".join(repr(t) for t in terms)
    close = [t for t in terms if wanted and wanted in t.casefold()]
    if close:
        gradable = (
            f"did you mean {' or '.join(repr(t) for t in close)}? lab-gradable terms: {gradable}"
        )
        raise UnknownLabTermError(f"unknown CTCAE v{ctcae_version} term {term!r}; {gradable}")
    if term in dictionary:
        reason = f"CTCAE v{ctcae_version} term {dictionary.get(term).term!r} is not graded from a lab value"
    else:
        reason = f"unknown CTCAE v{ctcae_version} term {term!r}"
    raise UnknownLabTermError(f"{reason}; lab-gradable terms: {gradable}")


def grade_lab_value(
    term: str,
    value: Number,
    unit: str,
    *,
    lln: Number | None = None,
    uln: Number | None = None,
    baseline: Number | None = None,
    ctcae_version: str = DEFAULT_VERSION,
) -> LabGrade:
    """Suggest the CTCAE grade of ``value`` (in ``unit``) for ``term``.

    ``lln``, ``uln`` and ``baseline`` are in the same unit as ``value``; a missing LLN/ULN
    falls back to the rule's documented default. Raises UnknownLabTermError,
    UnknownUnitError, InvalidLabValueError or UnknownCtcaeVersionError.
    """
    rule = get_lab_rule(term, ctcae_version)
    conversion = rule.conversion_for(unit)
    scale = rule.scales[conversion.scale_unit]

    raw = _to_fraction(value, "value")
    converted = raw * conversion.factor
    limits: dict[Reference, Fraction | None] = {
        "LLN": _convert_limit(lln, "LLN", conversion, scale.default_lln),
        "ULN": _convert_limit(uln, "ULN", conversion, scale.default_uln),
        "baseline": _convert_limit(baseline, "baseline", conversion, None),
    }

    matched = [c for c in scale.criteria if _in_range(converted, c, rule.direction, limits)]
    best = max(matched, key=lambda c: c.grade, default=None)
    grade = 0 if best is None else best.grade
    uses_baseline = any("baseline" in c.references for c in scale.criteria)
    return LabGrade(
        grade=grade,
        term=rule.term,
        value_converted=float(converted),
        unit=scale.unit,
        rule_text=_explain(rule, scale, converted, best, limits),
        lln=_as_float(limits["LLN"]),
        uln=_as_float(limits["ULN"]),
        ctcae_version=rule.ctcae_version,
        input_value=_fmt(raw),
        input_unit=conversion.unit,
        baseline=_as_float(limits["baseline"]) if uses_baseline else None,
        defaults_used=tuple(
            name
            for name, given, default in (
                ("LLN", lln, scale.default_lln),
                ("ULN", uln, scale.default_uln),
            )
            if given is None and default is not None
        ),
    )


def _in_range(
    value: Fraction,
    criterion: Criterion,
    direction: Direction,
    limits: Mapping[Reference, Fraction | None],
) -> bool:
    start = criterion.start.resolve(limits)
    if start is None:  # references a baseline that was not given
        return False
    end = None if criterion.end is None else criterion.end.resolve(limits)
    if criterion.end is not None and end is None:
        return False
    if direction == "decreased":
        return value < start and (end is None or value >= end)
    return value > start and (end is None or value <= end)


def _explain(
    rule: LabGradingRule,
    scale: Scale,
    value: Fraction,
    best: Criterion | None,
    limits: Mapping[Reference, Fraction | None],
) -> str:
    shown = f"{_fmt(value)} {scale.unit}"
    prefix = f"CTCAE v{rule.ctcae_version} {rule.term}"
    if best is None:
        limit = "LLN" if rule.direction == "decreased" else "ULN"
        text = f"{prefix}: grade 0, {shown} is within the grading limits ({limit} {_fmt_limit(limits[limit])})"
        return text + ("" if not rule.note else f"; {rule.note}")
    start = best.start.describe(limits)
    if rule.direction == "decreased":
        lower = "" if best.end is None else f"{best.end.describe(limits)} <= "
        condition = f"{lower}{shown} < {start}"
    else:
        upper = "" if best.end is None else f" <= {best.end.describe(limits)}"
        condition = f"{start} < {shown}{upper}"
    nci_text = load_dictionary(rule.ctcae_version).get(rule.term).grade_text(best.grade)
    parts = [f"{prefix}: grade {best.grade}, {condition}", f'NCI grade {best.grade}: "{nci_text}"']
    lln = limits["LLN"]
    if rule.direction == "decreased" and best.grade > 1 and lln is not None and value >= lln:
        parts.append(f"at or above the LLN ({_fmt(lln)}) but grades 2-4 do not reference the LLN")
    if rule.note:
        parts.append(rule.note)
    return "; ".join(parts)


def _to_fraction(value: Number | None, name: str) -> Fraction:
    if isinstance(value, bool) or value is None:
        raise InvalidLabValueError(f"{name} must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidLabValueError(f"{name} must be a finite number, got {value!r}")
    try:
        # str() of a float is its shortest repr, so 1.45 is read as 1.45, not 1.4499999...
        number = (
            Fraction(value)
            if isinstance(value, Fraction)
            else Fraction(Decimal(str(value).strip()))
        )
    except (InvalidOperation, ValueError, TypeError, OverflowError) as exc:
        raise InvalidLabValueError(f"{name} must be a number, got {value!r}") from exc
    if number < 0:
        raise InvalidLabValueError(f"{name} cannot be negative, got {value!r}")
    return number


def _convert_limit(
    given: Number | None, name: str, conversion: UnitConversion, default: Fraction | None
) -> Fraction | None:
    if given is None:
        return default
    limit = _to_fraction(given, name) * conversion.factor
    if limit == 0:
        raise InvalidLabValueError(f"{name} must be greater than zero, got {given!r}")
    return limit


def _as_float(value: Fraction | None) -> float | None:
    return None if value is None else float(value)


def _fmt_limit(value: Fraction | None) -> str:
    return "not set" if value is None else _fmt(value)


def _fmt(value: Fraction) -> str:
    """Exact decimal when there is one, else 4 decimal places; no exponent, no trailing 0s."""
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    if denominator == 1:
        number = Decimal(value.numerator) / Decimal(value.denominator)
    else:
        number = round(Decimal(value.numerator) / Decimal(value.denominator), 4)
    return format(number.normalize(), "f")


def _normalise_unit(unit: str) -> str:
    text = "".join(unit.split()).replace("µ", "u").replace("μ", "u").replace("×", "x")
    text = text.replace("³", "3").casefold()
    return text.removeprefix("x")
