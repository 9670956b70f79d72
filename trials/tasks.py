"""Celery entry points of the trials app: thin, id-only, idempotent."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from celery import shared_task
from django.db import IntegrityError
from django.utils import timezone

from trials.models import WorkerHeartbeat

logger = logging.getLogger(__name__)


@shared_task(name="trials.health_ping", ignore_result=True, soft_time_limit=25, time_limit=30)
def health_ping(token: str) -> None:
    """Answer a /health/ probe: the row proves a worker consumed the message and reached the DB."""
    try:
        WorkerHeartbeat.objects.get_or_create(token=token, defaults={"kind": "ping"})
    except IntegrityError:  # a redelivered ping: already answered
        pass


@shared_task(name="trials.beat_heartbeat", ignore_result=True, soft_time_limit=25, time_limit=30)
def beat_heartbeat() -> None:
    WorkerHeartbeat.objects.create(token=f"beat-{uuid.uuid4().hex}", kind="beat")


@shared_task(
    name="trials.purge_health_pings", ignore_result=True, soft_time_limit=110, time_limit=120
)
def purge_health_pings() -> int:
    cutoff = timezone.now() - timedelta(hours=1)
    deleted, _ = WorkerHeartbeat.objects.filter(created_at__lt=cutoff).delete()
    return deleted
