"""GET /health/: the database, the broker, and a real round trip through a Celery worker."""

from __future__ import annotations

import logging
import os
import time
import uuid

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

WORKER_TIMEOUT_S = float(os.environ.get("HEALTH_WORKER_TIMEOUT", "10"))


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
    from trials.models import WorkerHeartbeat
    from trials.tasks import health_ping

    result = {"database": _check_database(), "broker": "unknown", "worker": "unknown"}
    token = uuid.uuid4().hex
    try:
        health_ping.apply_async(args=[token], expires=60, retry=False)
        result["broker"] = "ok"
    except Exception as exc:  # noqa: BLE001
        logger.warning("health: broker publish failed", extra={"error": str(exc)})
        result["broker"] = f"down: {exc.__class__.__name__}"

    if result["broker"] == "ok" and result["database"] == "ok":
        deadline = time.monotonic() + WORKER_TIMEOUT_S
        answered = False
        while time.monotonic() < deadline:
            if WorkerHeartbeat.objects.filter(token=token).exists():
                answered = True
                break
            time.sleep(0.1)
        result["worker"] = (
            "ok" if answered else f"down: no worker answered within {WORKER_TIMEOUT_S:g} s"
        )
        WorkerHeartbeat.objects.filter(token=token).delete()

    healthy = all(value == "ok" for value in result.values())
    return JsonResponse(result, status=200 if healthy else 503)
