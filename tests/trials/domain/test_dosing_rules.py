"""BSA (Mosteller) and the dose a level allows."""

from decimal import Decimal

import pytest

from trials.domain.dosing import (
    DoseEntry,
    DoseInputError,
    DoseStatus,
    absolute_dose,
    check_dose,
    mosteller_bsa,
)


def test_mosteller_bsa():
    # √(170 × 70 / 3600) = 1.818…
    assert mosteller_bsa(Decimal(170), Decimal(70)) == Decimal("1.82")


def test_mg_per_m2_gives_an_absolute_dose_with_the_cap():
    assert absolute_dose(Decimal(27), "mg/m2", bsa_m2=Decimal("1.82")) == Decimal("49.1")
    assert absolute_dose(
        Decimal(27), "mg/m2", bsa_m2=Decimal("2.5"), bsa_cap_m2=Decimal("2.2")
    ) == Decimal("59.4")
    assert absolute_dose(Decimal(4), "mg", bsa_m2=None) == Decimal(4)


def test_mg_per_m2_without_bsa_asks_for_height_and_weight():
    with pytest.raises(DoseInputError) as caught:
        absolute_dose(Decimal(27), "mg/m2", bsa_m2=None)

    assert caught.value.field == "weight_kg"


@pytest.mark.parametrize(
    ("status", "dose", "reason"),
    [
        (DoseStatus.GIVEN, Decimal(4), ""),
        (DoseStatus.GIVEN, Decimal("3.8"), ""),  # within 5% dose banding
        (DoseStatus.REDUCED, Decimal(3), "neutropenia"),
        (DoseStatus.HELD, None, "platelets 40"),
        (DoseStatus.MISSED, None, "forgot"),
    ],
)
def test_acceptable_doses(status, dose, reason):
    check_dose(DoseEntry("Ixazomib", status, dose, reason), allowed_mg=Decimal(4))


@pytest.mark.parametrize(
    ("status", "dose", "reason", "field"),
    [
        (DoseStatus.GIVEN, Decimal("4.5"), "", "dose"),
        (DoseStatus.REDUCED, Decimal(5), "x", "dose"),
        (DoseStatus.GIVEN, Decimal(3), "", "status"),
        (DoseStatus.REDUCED, Decimal(3), "", "reason"),
        (DoseStatus.REDUCED, Decimal(4), "why", "status"),
        (DoseStatus.HELD, None, "", "reason"),
        (DoseStatus.HELD, Decimal(4), "x", "dose"),
        (DoseStatus.GIVEN, None, "", "dose"),
        (DoseStatus.GIVEN, Decimal(0), "", "dose"),
    ],
)
def test_refused_doses(status, dose, reason, field):
    with pytest.raises(DoseInputError) as caught:
        check_dose(DoseEntry("Ixazomib", status, dose, reason), allowed_mg=Decimal(4))

    assert caught.value.field == field
