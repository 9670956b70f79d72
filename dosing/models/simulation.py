"""Monte Carlo operating characteristics of a trial's 3+3 settings, run as a Celery job."""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Q

from trials.models import Trial, audited_events

MAX_SIMULATIONS = 200_000


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


# Progress moves about a hundred times per run: it is left out of the audit trail (the status
# changes, the inputs and the result are kept).
@pghistory.track(
    *audited_events(), exclude=["progress", "updated_at"], model_name="OcSimulationJobEvent"
)
class OcSimulationJob(models.Model):
    """A simulation of the design's operating characteristics under assumed true DLT rates."""

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="oc_simulations")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    settings = models.JSONField(help_text="The engine settings simulated (EscalationSettings).")
    true_dlt_rates = models.JSONField()
    n_sims = models.PositiveIntegerField()
    seed = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(progress__lte=100), name="ocjob_progress_0_100"),
            models.CheckConstraint(
                condition=Q(n_sims__gte=1) & Q(n_sims__lte=MAX_SIMULATIONS),
                name="ocjob_n_sims_range",
            ),
            models.CheckConstraint(
                condition=~Q(status="done") | Q(result__isnull=False), name="ocjob_done_has_result"
            ),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"OC simulation #{self.pk} ({self.status}, {self.progress}%)"

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.DONE, JobStatus.FAILED)
