"""Celery entry points of the survival app: thin, id-only, idempotent.

``run_export`` is enqueued after commit by ``survival.services.export_job_start``; a job that
is already done or failed is left as it is, and a job re-delivered after a worker died starts
over (its files are deterministic). ``sweep_export_jobs`` (beat) sends again the jobs whose
message was lost while the broker was down and fails those that outlived the time limit.
"""

from __future__ import annotations

from celery import shared_task

EXPORT_SOFT_TIME_LIMIT = 10 * 60
EXPORT_TIME_LIMIT = 11 * 60


@shared_task(
    name="survival.run_export",
    ignore_result=True,
    acks_late=True,
    soft_time_limit=EXPORT_SOFT_TIME_LIMIT,
    time_limit=EXPORT_TIME_LIMIT,
)
def run_export(job_id: int) -> None:
    from survival import services

    services.export_job_run(job_id=job_id)


@shared_task(
    name="survival.sweep_export_jobs", ignore_result=True, soft_time_limit=110, time_limit=120
)
def sweep_export_jobs() -> None:
    from survival import services

    services.export_jobs_sweep()
