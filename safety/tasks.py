"""Celery entry points of the safety app: thin, ids in, one service call, idempotent.

``close_dlt_windows`` runs daily and ``sae_reminders`` hourly (declared in config/celery.py);
``grade_lab_results`` is enqueued after a lab save commits. Each tolerates a row that has gone
and can run twice without doing anything twice (status guards and unique constraints).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from celery import shared_task

from safety import services
from trials.models import Patient, User

logger = logging.getLogger(__name__)


@shared_task(
    name="safety.close_dlt_windows", ignore_result=True, soft_time_limit=300, time_limit=330
)
def close_dlt_windows() -> int:
    """Re-evaluate every pending DLT window; the closing ones enqueue the escalation."""
    changed = services.dlt_windows_sweep()
    logger.info("DLT window sweep", extra={"changed": changed})
    return changed


@shared_task(name="safety.sae_reminders", ignore_result=True, soft_time_limit=240, time_limit=270)
def sae_reminders() -> int:
    """Send the SAE reminders that are due and not yet sent (each one recorded, once)."""
    return services.sae_reminders_send()


@shared_task(name="safety.grade_lab_results", ignore_result=True, soft_time_limit=60, time_limit=90)
def grade_lab_results(
    patient_id: int, lab_result_ids: Sequence[int], acting_user_id: int | None = None
) -> int:
    """Grade lab rows after their save committed (suggest grade >= 3 as adverse events)."""
    patient = Patient.objects.filter(pk=patient_id).first()
    if patient is None:
        return 0
    user = User.objects.filter(pk=acting_user_id).first() if acting_user_id else None
    return len(
        services.safety_grade_lab_results(
            patient=patient, lab_result_ids=list(lab_result_ids), acting_user=user
        )
    )
