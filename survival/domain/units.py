"""Time units shared by the survival domain.

Source: TrialDesk survival conventions (the survival.md research note, "Kaplan–Meier
conventions"): months = days / 30.4375 (the mean Gregorian month, 365.25 / 12), stated on
every table and plot; days are kept as well.
"""

from __future__ import annotations

DAYS_PER_MONTH: float = 30.4375
"""Mean Gregorian month (365.25 / 12); the only day→month factor used in TrialDesk."""


def days_to_months(days: float) -> float:
    """Convert a duration in days to months (days / 30.4375)."""
    return days / DAYS_PER_MONTH


def months_to_days(months: float) -> float:
    """Convert a duration in months to days (months × 30.4375)."""
    return months * DAYS_PER_MONTH
