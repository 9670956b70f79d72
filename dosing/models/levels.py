"""Dose levels: a dose level is a set of agent doses, versioned with the protocol.

A level is introduced by a protocol version and retired by a later one (an amendment that
changes its doses retires the row and introduces a new one), so a patient's assigned level and
every dose checked against it stay traceable to the protocol they were given under.
"""

from __future__ import annotations

import pghistory
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from trials.models import ProtocolVersion, Trial, TrialAgent, audited_events
from trials.models.protocol import DOSE_UNIT_CHOICES


@pghistory.track(*audited_events(), model_name="DoseLevelEvent")
class DoseLevel(models.Model):
    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="dose_levels")
    number = models.SmallIntegerField(help_text="1, 2, …; −1 for the level below the start.")
    label = models.CharField(max_length=60, blank=True)
    is_starting = models.BooleanField(default=False)
    introduced_in = models.ForeignKey(
        ProtocolVersion, on_delete=models.PROTECT, related_name="dose_levels_introduced"
    )
    retired_in = models.ForeignKey(
        ProtocolVersion,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="dose_levels_retired",
    )
    notes = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(number=0), name="doselevel_no_level_zero"),
            models.UniqueConstraint(
                fields=["trial", "number"],
                condition=Q(retired_in__isnull=True),
                name="doselevel_unique_current_number",
            ),
        ]
        ordering = ["trial", "number"]

    def __str__(self) -> str:
        return self.display_label

    @property
    def display_label(self) -> str:
        return self.label or f"DL{self.number}"


@pghistory.track(*audited_events(), model_name="DoseLevelDoseEvent")
class DoseLevelDose(models.Model):
    dose_level = models.ForeignKey(DoseLevel, on_delete=models.PROTECT, related_name="doses")
    agent = models.ForeignKey(TrialAgent, on_delete=models.PROTECT, related_name="level_doses")
    dose = models.DecimalField(max_digits=8, decimal_places=2, validators=[MinValueValidator(0)])
    unit = models.CharField(max_length=6, choices=DOSE_UNIT_CHOICES)
    schedule = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dose_level", "agent"], name="doselevel_dose_unique"),
            models.CheckConstraint(condition=Q(dose__gte=0), name="doselevel_dose_not_negative"),
        ]
        ordering = ["dose_level", "agent__position"]

    def __str__(self) -> str:
        return f"{self.agent.code} {self.dose.normalize():f} {self.unit}"
