"""The real URLs plus /probe/batch/<id>/: one transaction that writes BATCH_SIZE audited rows,
slowly, so that a database crash can land in the middle of it."""

import time

from django.db import transaction
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from config.urls import handler400, handler403, handler404, handler500
from config.urls import urlpatterns as site_urlpatterns
from trials.audit import audited
from trials.models import Site

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]

BATCH_SIZE = 5


@csrf_exempt
def write_batch(request, batch: str):
    with transaction.atomic(), audited(acting_user=None, reason="outage probe"):
        for i in range(BATCH_SIZE):
            Site.objects.create(code=f"P{batch}-{i}", name=f"Probe {batch} {i}")
            time.sleep(0.02)
    return JsonResponse({"batch": batch, "rows": BATCH_SIZE})


urlpatterns = [
    path("probe/batch/<str:batch>/", write_batch),
    *site_urlpatterns,
]
