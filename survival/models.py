"""The statistician's export log and the named data cuts.

Every export (from the page, the API or ``export_endpoints``) is an :class:`ExportJob` row:
who asked, when, for which trial, data cut and format, how far it got, and the SHA-256 of every
file it wrote. The rows are the export log (who exported what, for data-protection reporting),
and django-pghistory keeps each change of them in the audit trail.

A :class:`DataCut` freezes the analysis datasets of a trial as they were on the day it was
created, so that the cut can be exported again later (in any format) with byte-identical files,
even after the clinical data behind it has been corrected.
"""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from survival.domain.jobs import EXPORT_FORMATS, JobSource, JobStatus
from trials.models import Trial, audited_events

CUT_NAME_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,59}$",
    "Letters, digits, dots, hyphens and underscores (e.g. DBL-2025-06 or interim1).",
)


@pghistory.track(*audited_events(), model_name="DataCutEvent")
class DataCut(models.Model):
    """A named, frozen data cut of one trial (e.g. the primary analysis, an interim look).

    ``frozen_files`` maps each frozen dataset file (Parquet, under ``settings.MEDIA_ROOT`` in
    ``frozen_dir``) to its SHA-256; a re-export checks them before using the files.
    """

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="data_cuts")
    name = models.CharField(max_length=60, validators=[CUT_NAME_VALIDATOR])
    cut_date = models.DateField(help_text="Records dated after this day are not used.")
    frozen_dir = models.CharField(max_length=300, editable=False)
    frozen_files = models.JSONField(default=dict, editable=False)
    row_counts = models.JSONField(default=dict, editable=False)
    software_version = models.CharField(max_length=200, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["trial", "name"], name="datacut_unique_name"),
        ]
        ordering = ["trial", "-cut_date", "name"]

    def __str__(self) -> str:
        return f"{self.trial.code} cut {self.name} ({self.cut_date:%Y-%m-%d})"


FORMAT_CHOICES = [(f, f) for f in EXPORT_FORMATS]


@pghistory.track(*audited_events(), model_name="ExportJobEvent")
class ExportJob(models.Model):
    """One export of one trial's analysis datasets: the log row and the background job.

    ``files`` lists what was written (``name``, ``sha256``, ``bytes``, ``rows``); ``zip_path``
    (relative to ``settings.MEDIA_ROOT``) is the download of a page or API export.
    """

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="export_jobs")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty for an export run on the command line.",
    )
    source = models.CharField(
        max_length=10, choices=[(s.value, s.label) for s in JobSource], default=JobSource.WEB.value
    )
    format = models.CharField(max_length=8, choices=FORMAT_CHOICES, default="csv")
    data_cut = models.DateField()
    named_cut = models.ForeignKey(
        DataCut, on_delete=models.PROTECT, null=True, blank=True, related_name="exports"
    )
    cut_name = models.CharField(
        max_length=60,
        blank=True,
        help_text="The named data cut asked for (frozen by the job when it is new).",
    )
    status = models.CharField(
        max_length=10,
        choices=[(s.value, s.label) for s in JobStatus],
        default=JobStatus.QUEUED.value,
        editable=False,
    )
    progress = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(100)], editable=False
    )
    step = models.CharField(max_length=100, blank=True, editable=False)
    error = models.TextField(blank=True, editable=False)
    attempts = models.PositiveSmallIntegerField(default=0, editable=False)
    output_dir = models.CharField(max_length=500, blank=True, editable=False)
    files = models.JSONField(default=list, blank=True, editable=False)
    row_counts = models.JSONField(default=dict, blank=True, editable=False)
    zip_path = models.CharField(max_length=300, blank=True, editable=False)
    zip_sha256 = models.CharField(max_length=64, blank=True, editable=False)
    software_version = models.CharField(max_length=200, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(progress__lte=100), name="exportjob_progress_max"),
            models.CheckConstraint(
                condition=~Q(status=JobStatus.DONE.value) | Q(progress=100),
                name="exportjob_done_is_complete",
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"])]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.trial.code} export #{self.pk} ({self.format}, {self.status})"

    @property
    def scope(self) -> str:
        """What was exported, in words: the trial, the cut and the format."""
        cut = f"cut {self.cut_name} " if self.cut_name else ""
        return f"{self.trial.code} {cut}at {self.data_cut:%Y-%m-%d}, {self.format}"

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.DONE, JobStatus.FAILED)
