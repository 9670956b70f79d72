"""Hooks for other apps to add rows to a patient's timeline (adverse events, responses, …).

An app registers a provider in its ``AppConfig.ready()``::

    from trials import timeline
    timeline.register("adverse_events", my_provider)

A provider takes ``(patient, *, today)`` and returns an iterable of :class:`TimelineItem`. The
patient page shows each provider's items in its own section of the timeline, in date order;
the template blocks ``timeline_adverse_events`` and ``timeline_responses`` of
``trials/patient_detail.html`` mark where they appear.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from trials.models import Patient


@dataclass(frozen=True)
class TimelineItem:
    on: date
    title: str
    detail: str = ""
    url: str = ""
    severity: str = ""  # "", "warn" or "bad": how the row is highlighted


Provider = Callable[..., Iterable[TimelineItem]]
_providers: dict[str, Provider] = {}


def register(section: str, provider: Provider) -> None:
    _providers[section] = provider


def collect(patient: Patient, *, today: date) -> dict[str, list[TimelineItem]]:
    return {
        section: sorted(provider(patient, today=today), key=lambda item: item.on)
        for section, provider in _providers.items()
    }
