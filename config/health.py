"""GET /health/: the database, the broker, and a real round trip through a Celery worker."""

from __future__ import annotations

import logging
import time
import uuid

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "down", with its reason
        connection.close()
        return f"down: {exc.__class__.__name__}"
    return "ok"


@never_cache
@require_GET
def health(request):
    from config.celery import app
    from trials.models import WorkerHeartbeat
    from trials.tasks import health_ping

    timeout_s = settings.HEALTH_WORKER_TIMEOUT
    result = {"database": _check_database(), "broker": "unknown", "worker": "unknown"}
    token = uuid.uuid4().hex
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
            health_ping.apply_async(
                args=[token],
                expires=60,
                retry=False,
                connection=conn,
                queue=settings.CELERY_TASK_DEFAULT_QUEUE,
            )
        result["broker"] = "ok"
    except Exception as exc:  # noqa: BLE001
        logger.warning("health: broker publish failed", extra={"error": str(exc)})
        result["broker"] = f"down: {exc.__class__.__name__}"

    if result["broker"] == "ok" and result["database"] == "ok":
        deadline = time.monotonic() + timeout_s
        answered = False
        while time.monotonic() < deadline:
            if WorkerHeartbeat.objects.filter(token=token).exists():
                answered = True
                break
            time.sleep(0.1)
        result["worker"] = "ok" if answered else f"down: no worker answered within {timeout_s:g} s"
        WorkerHeartbeat.objects.filter(token=token).delete()

    healthy = all(value == "ok" for value in result.values())
    return JsonResponse(result, status=200 if healthy else 503)
