"""Celery entry points of the response app: thin, id-only, idempotent.

``evaluate_patient`` is enqueued after commit (``config.enqueue.enqueue_on_commit``) by every
entry that can change a patient's response: a response lab or marrow result (the trials lab
service), a RECIST lesion or assessment (``response.services``). When the stored calls change,
the evaluation enqueues ``update_simon_monitor`` for the patient's trial. ``sweep`` (beat) runs
both for every active trial, so a message lost to a broker outage is made up for. Running any of
them twice on the same data stores nothing new (input hashes, unique constraints).
"""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError


@shared_task(
    name="response.evaluate_patient",
    ignore_result=True,
    acks_late=True,
    soft_time_limit=60,
    time_limit=90,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def evaluate_patient(patient_id: int) -> None:
    from response import services

    services.response_evaluate_patient(patient_id=patient_id)


@shared_task(
    name="response.update_simon_monitor",
    ignore_result=True,
    acks_late=True,
    soft_time_limit=60,
    time_limit=90,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def update_simon_monitor(trial_id: int) -> None:
    from response import services

    services.simon_monitor_update(trial_id=trial_id)


@shared_task(name="response.sweep", ignore_result=True, soft_time_limit=1700, time_limit=1800)
def sweep() -> int:
    from response import services

    return services.response_sweep()
