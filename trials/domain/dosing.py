"""Body-surface area and the dose a patient's dose level allows at one administration.

BSA by Mosteller (N Engl J Med 1987;317:1098): BSA (m²) = √(height cm × weight kg / 3600),
rounded to 2 decimals as pharmacies do. A mg/m² level gives an absolute dose of
level × BSA (BSA capped when the protocol caps it, e.g. 2.2 m² for carfilzomib), rounded to
0.1 mg. A dose recorded as "given" may be up to 5% below that (dose banding, as NHS
chemotherapy services round to standard syringe sizes); anything lower must be recorded as
"reduced" with a reason, and nothing may exceed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

DOSE_BANDING_TOLERANCE = Decimal("0.05")
MG = "mg"
MG_PER_M2 = "mg/m2"
DOSE_UNITS = (MG, MG_PER_M2)


class DoseStatus(StrEnum):
    GIVEN = "given"
    REDUCED = "reduced"
    HELD = "held"
    MISSED = "missed"


DOSE_STATUS_LABELS = {
    DoseStatus.GIVEN: "Given as planned",
    DoseStatus.REDUCED: "Given, reduced",
    DoseStatus.HELD: "Held",
    DoseStatus.MISSED: "Missed",
}
#: Statuses that mean the patient received drug (count as exposure).
RECEIVED = frozenset({DoseStatus.GIVEN, DoseStatus.REDUCED})


class DoseInputError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def mosteller_bsa(height_cm: Decimal, weight_kg: Decimal) -> Decimal:
    if height_cm <= 0 or weight_kg <= 0:
        raise DoseInputError("weight_kg", "Height and weight must be positive to compute BSA.")
    bsa = (Decimal(height_cm) * Decimal(weight_kg) / Decimal(3600)).sqrt()
    return bsa.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def check_body_measurements(height_cm: Decimal | None, weight_kg: Decimal | None) -> None:
    if height_cm is not None and not Decimal(100) <= height_cm <= Decimal(230):
        raise DoseInputError("height_cm", "Height must be between 100 and 230 cm.")
    if weight_kg is not None and not Decimal(25) <= weight_kg <= Decimal(250):
        raise DoseInputError("weight_kg", "Weight must be between 25 and 250 kg.")


def absolute_dose(
    level_dose: Decimal, unit: str, *, bsa_m2: Decimal | None, bsa_cap_m2: Decimal | None = None
) -> Decimal:
    """The level's dose in mg for this patient today."""
    if unit == MG:
        return Decimal(level_dose)
    if unit != MG_PER_M2:
        raise DoseInputError("unit", f"Unknown dose unit {unit!r}; use mg or mg/m2.")
    if bsa_m2 is None:
        raise DoseInputError(
            "weight_kg",
            "This agent is dosed in mg/m²: record the patient's height and weight to compute BSA.",
        )
    bsa = min(bsa_m2, bsa_cap_m2) if bsa_cap_m2 is not None else bsa_m2
    return (Decimal(level_dose) * bsa).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class DoseEntry:
    agent: str
    status: DoseStatus
    dose_mg: Decimal | None
    reason: str


def mg(value: Decimal) -> str:
    """``3`` for 3.00, ``49.1`` for 49.10: doses as people write them."""
    return f"{Decimal(value).normalize():f}"


def check_dose(entry: DoseEntry, *, allowed_mg: Decimal) -> None:
    """Refuse a dose above the level, or a status that does not fit the dose given."""
    status = DoseStatus(entry.status)
    reason = entry.reason.strip()
    if status in (DoseStatus.HELD, DoseStatus.MISSED):
        if entry.dose_mg not in (None, Decimal(0)):
            raise DoseInputError(
                "dose", f"{entry.agent} is recorded as {status.value}: leave the dose empty."
            )
        if not reason:
            raise DoseInputError("reason", f"Say why {entry.agent} was {status.value}.")
        return
    if entry.dose_mg is None:
        raise DoseInputError("dose", f"Enter the dose of {entry.agent} given (mg).")
    if entry.dose_mg <= 0:
        raise DoseInputError(
            "dose", f"A dose of {entry.agent} must be positive; use 'held' or 'missed' for none."
        )
    if entry.dose_mg > allowed_mg:
        raise DoseInputError(
            "dose",
            f"{mg(entry.dose_mg)} mg of {entry.agent} is above what the patient's dose level "
            f"allows ({mg(allowed_mg)} mg).",
        )
    floor = (allowed_mg * (1 - DOSE_BANDING_TOLERANCE)).quantize(Decimal("0.1"))
    if status == DoseStatus.GIVEN and entry.dose_mg < floor:
        raise DoseInputError(
            "status",
            f"{mg(entry.dose_mg)} mg is below the level's {mg(allowed_mg)} mg: record it as "
            "'reduced' and give the reason.",
        )
    if status == DoseStatus.REDUCED:
        if entry.dose_mg >= allowed_mg:
            raise DoseInputError(
                "status", f"{mg(entry.dose_mg)} mg is the full dose: record it as 'given'."
            )
        if not reason:
            raise DoseInputError("reason", f"Say why the dose of {entry.agent} was reduced.")
