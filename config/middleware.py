"""Turn a database outage into a clear 503 instead of a 500 page."""

from __future__ import annotations

import logging

from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import JsonResponse
from django.template.response import SimpleTemplateResponse

logger = logging.getLogger(__name__)


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        if isinstance(exception, DatabaseError) and not _looks_like_outage(exception):
            return None
        logger.warning("database unavailable", extra={"path": request.path})
        message = "The database is unavailable. Nothing was saved; please try again shortly."
        if request.path.startswith("/api/") or request.path.startswith("/health/"):
            response = JsonResponse({"detail": message}, status=503)
        else:
            response = SimpleTemplateResponse("503.html", {"message": message}, status=503)
            response.render()
        response["Retry-After"] = "10"
        return response


def _looks_like_outage(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(
        marker in text
        for marker in (
            "could not connect",
            "connection refused",
            "server closed the connection",
            "terminating connection",
            "the database system is",
            "connection already closed",
            "no such file or directory",
            "connection to server",
            "ssl connection has been closed",
        )
    )
