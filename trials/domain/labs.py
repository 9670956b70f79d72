"""The lab analyte catalogue: canonical units, accepted units with their factors, plausible
ranges and default reference limits.

Units are explicit and converted once, at entry: a result keeps the value and unit as entered
and the canonical value and unit. Conversion factors: cell counts /mm³ = cells/µL = 10⁶/L, so
÷1000 gives 10⁹/L (CTCAE v5.0 §3.2: "Convert /mm3 to 10^9/L (divide by 1000)"); haemoglobin
1 mmol/L (Fe, monomer) = 1.611 g/dL; creatinine 88.4 µmol/L = 1 mg/dL; calcium 1 mmol/L =
4.008 mg/dL (molar mass 40.08 g/mol); 1 g/L = 0.1 g/dL; 1 mg/dL = 10 mg/L.

Plausible ranges catch typing and unit slips (a negative count, a platelet count entered in
/mm³ under 10⁹/L); they are not clinical limits. Default LLN/ULN are typical adult reference
intervals; a site's own limits override them, and one result may override both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum

CANONICAL_PLACES = Decimal("0.0001")


class LabGroup(StrEnum):
    BLOOD_COUNT = "blood_count"
    CHEMISTRY = "chemistry"
    MYELOMA = "myeloma"


GROUP_LABELS = {
    LabGroup.BLOOD_COUNT: "Blood counts",
    LabGroup.CHEMISTRY: "Chemistry",
    LabGroup.MYELOMA: "Myeloma labs",
}


class LabInputError(ValueError):
    """A lab entry that cannot be stored; ``field`` is "value" or "unit"."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Analyte:
    code: str
    name: str
    group: LabGroup
    canonical_unit: str
    # unit as shown -> factor to multiply by to reach the canonical unit
    units: dict[str, Decimal] = field(default_factory=dict)
    plausible_min: Decimal | None = None
    plausible_max: Decimal | None = None
    lln: Decimal | None = None
    uln: Decimal | None = None
    categories: tuple[str, ...] = ()  # categorical results (immunofixation)

    @property
    def is_categorical(self) -> bool:
        return bool(self.categories)

    @property
    def accepted_units(self) -> list[str]:
        return list(self.units)


def _alias(unit: str) -> str:
    """The lookup form of a unit: case, spaces, µ/u, ³/3, x10^9 spellings folded."""
    folded = unit.strip().replace("µ", "u").replace("μ", "u").replace("³", "3")
    folded = folded.replace(" ", "").replace("×", "x").replace("*", "^").lower()
    folded = folded.removeprefix("x")
    return folded.replace("10e", "10^")


_COUNT_UNITS = {
    "10^9/L": Decimal(1),
    "10^3/uL": Decimal(1),
    "/mm3": Decimal("0.001"),
    "cells/uL": Decimal("0.001"),
}


ANALYTES: dict[str, Analyte] = {
    a.code: a
    for a in (
        Analyte(
            "ANC",
            "Absolute neutrophil count",
            LabGroup.BLOOD_COUNT,
            "10^9/L",
            dict(_COUNT_UNITS),
            Decimal(0),
            Decimal(100),
            Decimal("1.8"),
            Decimal("7.5"),
        ),
        Analyte(
            "PLT",
            "Platelets",
            LabGroup.BLOOD_COUNT,
            "10^9/L",
            dict(_COUNT_UNITS),
            Decimal(0),
            Decimal(2000),
            Decimal(150),
            Decimal(400),
        ),
        Analyte(
            "HGB",
            "Haemoglobin",
            LabGroup.BLOOD_COUNT,
            "g/dL",
            {"g/dL": Decimal(1), "g/L": Decimal("0.1"), "mmol/L": Decimal("1.611")},
            Decimal("1"),
            Decimal(25),
            Decimal("12.0"),
            Decimal("16.0"),
        ),
        Analyte(
            "WBC",
            "White blood cells",
            LabGroup.BLOOD_COUNT,
            "10^9/L",
            dict(_COUNT_UNITS),
            Decimal(0),
            Decimal(500),
            Decimal("4.0"),
            Decimal("11.0"),
        ),
        Analyte(
            "LYMPH",
            "Lymphocytes",
            LabGroup.BLOOD_COUNT,
            "10^9/L",
            dict(_COUNT_UNITS),
            Decimal(0),
            Decimal(500),
            Decimal("1.0"),
            Decimal("4.0"),
        ),
        Analyte(
            "CREAT",
            "Creatinine",
            LabGroup.CHEMISTRY,
            "mg/dL",
            {"mg/dL": Decimal(1), "umol/L": Decimal(1) / Decimal("88.4")},
            Decimal("0.1"),
            Decimal(30),
            Decimal("0.6"),
            Decimal("1.2"),
        ),
        Analyte(
            "CA",
            "Calcium (corrected)",
            LabGroup.CHEMISTRY,
            "mg/dL",
            {"mg/dL": Decimal(1), "mmol/L": Decimal("4.008")},
            Decimal(2),
            Decimal(25),
            Decimal("8.5"),
            Decimal("10.5"),
        ),
        Analyte(
            "SPEP_M",
            "Serum M-protein",
            LabGroup.MYELOMA,
            "g/dL",
            {"g/dL": Decimal(1), "g/L": Decimal("0.1")},
            Decimal(0),
            Decimal(15),
        ),
        Analyte(
            "UPEP_M",
            "Urine M-protein (24 h)",
            LabGroup.MYELOMA,
            "mg/24h",
            {"mg/24h": Decimal(1), "g/24h": Decimal(1000)},
            Decimal(0),
            Decimal(50000),
        ),
        Analyte(
            "FLC_KAPPA",
            "Serum free light chain kappa",
            LabGroup.MYELOMA,
            "mg/L",
            {"mg/L": Decimal(1), "mg/dL": Decimal(10)},
            Decimal(0),
            Decimal(100000),
            Decimal("3.3"),
            Decimal("19.4"),
        ),
        Analyte(
            "FLC_LAMBDA",
            "Serum free light chain lambda",
            LabGroup.MYELOMA,
            "mg/L",
            {"mg/L": Decimal(1), "mg/dL": Decimal(10)},
            Decimal(0),
            Decimal(100000),
            Decimal("5.7"),
            Decimal("26.3"),
        ),
        Analyte(
            "SIFE",
            "Serum immunofixation",
            LabGroup.MYELOMA,
            "",
            categories=("positive", "negative"),
        ),
        Analyte(
            "UIFE",
            "Urine immunofixation",
            LabGroup.MYELOMA,
            "",
            categories=("positive", "negative"),
        ),
        Analyte(
            "BMPC",
            "Bone-marrow plasma cells",
            LabGroup.MYELOMA,
            "%",
            {"%": Decimal(1)},
            Decimal(0),
            Decimal(100),
        ),
    )
}

_UNIT_LOOKUP: dict[str, dict[str, str]] = {
    code: {_alias(u): u for u in analyte.units} for code, analyte in ANALYTES.items()
}
# Common spellings beyond the folded forms.
for _code in ("ANC", "PLT", "WBC", "LYMPH"):
    _UNIT_LOOKUP[_code].update({"k/ul": "10^3/uL", "/ul": "cells/uL", "cells/mm3": "/mm3"})


@dataclass(frozen=True)
class ConvertedLab:
    analyte: str
    value_as_entered: str
    unit_as_entered: str
    value: Decimal | None  # canonical (None for categorical results)
    unit: str
    category: str  # categorical result ("" for numeric)


def analyte(code: str) -> Analyte:
    try:
        return ANALYTES[code]
    except KeyError:
        known = ", ".join(ANALYTES)
        raise LabInputError("analyte", f"Unknown lab test {code!r}. Known: {known}.") from None


def normalise_unit(code: str, unit: str) -> str:
    """The catalogue spelling of ``unit`` for analyte ``code``, or a clear error."""
    a = analyte(code)
    if a.is_categorical:
        return ""
    if not (unit or "").strip():
        raise LabInputError(
            "unit", f"Give the unit for {a.name}. Accepted: {', '.join(a.accepted_units)}."
        )
    found = _UNIT_LOOKUP[code].get(_alias(unit))
    if found is None:
        raise LabInputError(
            "unit",
            f"{unit!r} is not a unit for {a.name}. Accepted: {', '.join(a.accepted_units)}.",
        )
    return found


def convert(code: str, value: str | Decimal | int | float, unit: str) -> ConvertedLab:
    """Check and convert one entry to the canonical unit (the only conversion it ever gets)."""
    a = analyte(code)
    text = str(value).strip() if value is not None else ""
    if a.is_categorical:
        category = text.lower()
        if category not in a.categories:
            raise LabInputError(
                "value", f"{a.name} is {' or '.join(a.categories)}; got {text or 'nothing'!r}."
            )
        return ConvertedLab(code, text, "", None, "", category)
    if not text:
        raise LabInputError("value", f"Enter a value for {a.name}.")
    try:
        number = Decimal(text.replace(",", ""))
    except InvalidOperation:
        raise LabInputError("value", f"{text!r} is not a number.") from None
    if not number.is_finite():
        raise LabInputError("value", f"{text!r} is not a number.")
    shown_unit = normalise_unit(code, unit)
    canonical = (number * a.units[shown_unit]).quantize(CANONICAL_PLACES)
    if number < 0:
        raise LabInputError("value", f"{a.name} cannot be negative ({text} {shown_unit}).")
    if a.plausible_min is not None and canonical < a.plausible_min:
        raise LabInputError(
            "value",
            f"{text} {shown_unit} is below the plausible range for {a.name} "
            f"({a.plausible_min}–{a.plausible_max} {a.canonical_unit}). Check the value and unit.",
        )
    if a.plausible_max is not None and canonical > a.plausible_max:
        raise LabInputError(
            "value",
            f"{text} {shown_unit} is above the plausible range for {a.name} "
            f"({a.plausible_min}–{a.plausible_max} {a.canonical_unit}). Check the value and unit.",
        )
    return ConvertedLab(code, text, shown_unit, canonical, a.canonical_unit, "")


def convert_limit(code: str, value: str | Decimal | None, unit: str) -> Decimal | None:
    """A reference limit (LLN/ULN) in the canonical unit; ``None`` stays ``None``."""
    if value is None or str(value).strip() == "":
        return None
    a = analyte(code)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise LabInputError("value", f"{value!r} is not a number.") from None
    if number < 0:
        raise LabInputError("value", "A reference limit cannot be negative.")
    return (number * a.units[normalise_unit(code, unit)]).quantize(CANONICAL_PLACES)


def check_limits(lln: Decimal | None, uln: Decimal | None) -> None:
    if lln is not None and uln is not None and lln >= uln:
        raise LabInputError("lln", "The lower limit of normal must be below the upper limit.")


def flag(value: Decimal | None, lln: Decimal | None, uln: Decimal | None) -> str:
    """ "L", "H" or "" against the reference limits."""
    if value is None:
        return ""
    if lln is not None and value < lln:
        return "L"
    if uln is not None and value > uln:
        return "H"
    return ""
