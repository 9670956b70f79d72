"""The CTCAE dictionary as rows: one row per term and version, loaded from the shipped file.

The data file (``safety/data/ctcae_v<version>.json``, NCI's exact strings) is the source; a data
migration loads it, so adverse events can point at their term with a foreign key and the
database itself refuses a grade the term does not allow (see ``AdverseEventGrade``). A new
CTCAE version is a new file and a new migration: rows of other versions are never changed, so
an event keeps the dictionary it was graded with.
"""

from __future__ import annotations

import pghistory
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from trials.models import audited_events


@pghistory.track(*audited_events(), model_name="CtcaeTermEvent")
class CtcaeTerm(models.Model):
    version = models.CharField(max_length=10, help_text="CTCAE version, e.g. 5.0")
    meddra_code = models.PositiveIntegerField("MedDRA code")
    term = models.CharField(max_length=200)
    soc = models.CharField("system organ class", max_length=200)
    definition = models.TextField(blank=True)
    navigational_note = models.TextField(blank=True)
    grade_1 = models.TextField(null=True, blank=True)
    grade_2 = models.TextField(null=True, blank=True)
    grade_3 = models.TextField(null=True, blank=True)
    grade_4 = models.TextField(null=True, blank=True)
    grade_5 = models.TextField(null=True, blank=True)
    allowed_grades = ArrayField(
        models.PositiveSmallIntegerField(),
        help_text="Grades NCI gives a text for; a '-' grade is not selectable.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "meddra_code"], name="ctcae_unique_code"),
            models.UniqueConstraint("version", Lower("term"), name="ctcae_unique_term"),
            models.CheckConstraint(
                condition=Q(allowed_grades__contained_by=[1, 2, 3, 4, 5])
                & Q(allowed_grades__len__gte=1),
                name="ctcae_allowed_grades_valid",
            ),
        ]
        indexes = [models.Index(fields=["version", "soc"])]
        ordering = ["version", "term"]
        verbose_name = "CTCAE term"

    def __str__(self) -> str:
        return f"{self.term} (CTCAE v{self.version})"

    def grade_text(self, grade: int) -> str | None:
        return getattr(self, f"grade_{grade}", None)

    @property
    def grades(self) -> list[tuple[int, str | None, bool]]:
        """``(grade, text, allowed)`` for grades 1..5, for pickers and forms."""
        return [(g, self.grade_text(g), g in self.allowed_grades) for g in range(1, 6)]
