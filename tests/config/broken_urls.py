"""Views that fail on purpose, for the error-page tests."""

from django.db import OperationalError
from django.urls import path

from config.urls import handler400, handler403, handler404, handler500
from config.urls import urlpatterns as site_urlpatterns

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


def bug(request):
    raise RuntimeError("a bug, not an outage")


def deadlock(request):
    raise OperationalError("deadlock detected")


urlpatterns = [
    path("bug/", bug),
    path("deadlock/", deadlock),
    path("api/bug/", bug),
    *site_urlpatterns,
]
