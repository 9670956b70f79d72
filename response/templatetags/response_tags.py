"""Template filters of the response pages."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def percent(value: float | None, places: int = 1) -> str:
    """0.4812 → "48.1%"; ``None`` → "—"."""
    if value is None:
        return "—"
    return f"{value * 100:.{int(places)}f}%"


@register.filter
def signed(value: float | None, places: int = 1) -> str:
    """1.1 → "+1.1", -1.4 → "−1.4"; ``None`` → "—"."""
    if value is None:
        return "—"
    text = f"{abs(value):.{int(places)}f}"
    return f"−{text}" if value < 0 else f"+{text}"
