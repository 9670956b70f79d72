"""Turn a database outage into a clear 503 instead of a 500 page, wherever it is met.

An outage can surface in three places, and each needs its own catch:

1. in a view (a query fails): ``process_exception`` answers 503 directly;
2. in a middleware or in the error handlers — loading the session or the user, saving the
   session on the way out, the history or login-throttling middleware. Django turns those into
   a 500 response inside its middleware chain, so no exception ever reaches this middleware.
   A ``got_request_exception`` receiver remembers the outage on the request and
   :class:`DatabaseUnavailableMiddleware`, which sits outside the session and auth middleware,
   replaces that 500 (or the debug page) with the 503;
3. in ``handler500`` itself: ``config.errors.server_error`` renders without the database.

Recovery needs nothing special: a connection that failed is flagged by Django and closed at the
end of the request (and health-checked at the start of the next one, ``CONN_HEALTH_CHECKS``), so
the first request after the server is back opens a fresh connection. Nothing is half-saved
either: every write runs in one transaction (services own ``transaction.atomic``), and
PostgreSQL rolls back any transaction whose connection died before COMMIT.
"""

from __future__ import annotations

import logging
import sys

from django.core.signals import got_request_exception
from django.db import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    ProgrammingError,
)
from django.http import HttpResponse, JsonResponse
from django.template import loader

logger = logging.getLogger(__name__)

OUTAGE_MESSAGE = (
    "The database is temporarily unavailable, so this request could not be completed. "
    "Changes are saved all at once or not at all: nothing was saved partially. "
    "Please try again in a moment."
)
RETRY_AFTER_SECONDS = 10
_REQUEST_ATTR = "_trialdesk_database_outage"

# SQLSTATEs that mean "the server is gone or going": class 08 (connection exception) and the
# operator-intervention codes for shutdown and start-up. Errors with these codes, or with no code
# and a lost connection (the client library could not reach the server, or lost it), are outages.
# Other operational errors (deadlock, serialization failure, lock or statement timeout) are not:
# they are the app's to handle.
_OUTAGE_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})
# Errors about the statement or the data, never about the server being away.
_NEVER_OUTAGES = (IntegrityError, DataError, ProgrammingError, NotSupportedError, InternalError)
_OUTAGE_TEXT = (
    "could not connect",
    "connection refused",
    "server closed the connection",
    "terminating connection",
    "the database system is",
    "connection already closed",
    "no such file or directory",
    "connection to server",
    "ssl connection has been closed",
    "could not receive data from server",
    "could not send data to server",
)


def is_database_outage(exc: BaseException | None) -> bool:
    """True for the errors a stopped, restarting or unreachable PostgreSQL server causes.

    Those are ``InterfaceError`` (the connection is already closed), ``OperationalError``
    (could not connect, server shut down) and, when the server dies in the middle of a query,
    a plain ``DatabaseError`` ("server closed the connection unexpectedly", no SQLSTATE).
    """
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, DatabaseError) or isinstance(exc, _NEVER_OUTAGES):
        return False
    cause = exc.__cause__
    pgcode = getattr(cause, "pgcode", None)
    if pgcode:
        return pgcode.startswith("08") or pgcode in _OUTAGE_SQLSTATES
    if _driver_connection_closed(cause):
        return True
    text = str(exc).lower()
    return any(marker in text for marker in _OUTAGE_TEXT)


def caused_by_outage(exc: BaseException | None) -> bool:
    """True when ``exc`` or an exception it was raised from, or while handling, is an outage.

    Django sometimes re-raises an outage as something else: a session that cannot be saved
    becomes ``UpdateError`` and then ``SessionInterrupted`` (a 400).
    """
    seen = 0
    while exc is not None and seen < 8:
        if is_database_outage(exc):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _driver_connection_closed(cause: BaseException) -> bool:
    connection = getattr(getattr(cause, "cursor", None), "connection", None)
    return bool(getattr(connection, "closed", 0))


def wants_json(request) -> bool:
    return request.path.startswith(("/api/", "/health/"))


def outage_response(request) -> HttpResponse:
    """The 503: JSON for the API and health check, a plain page (no database needed) elsewhere."""
    if wants_json(request):
        response: HttpResponse = JsonResponse({"detail": OUTAGE_MESSAGE}, status=503)
    else:
        try:
            html = loader.render_to_string("503.html", {"message": OUTAGE_MESSAGE})
        except Exception:  # noqa: BLE001 - the outage page itself must never fail
            html = (
                "<!doctype html><html lang=en><head><meta charset=utf-8><title>Temporarily "
                f"unavailable · TrialDesk</title></head><body><h1>Temporarily unavailable</h1>"
                f"<p>{OUTAGE_MESSAGE}</p></body></html>"
            )
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def _remember_outage(sender, request=None, **kwargs) -> None:
    exc = sys.exc_info()[1]
    if request is not None and caused_by_outage(exc):
        setattr(request, _REQUEST_ATTR, exc)


got_request_exception.connect(_remember_outage, dispatch_uid="trialdesk-database-outage")


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        outage = getattr(request, _REQUEST_ATTR, None)
        if outage is not None and response.status_code >= 500 and response.status_code != 503:
            _log_outage(request, outage)
            return outage_response(request)
        return response

    def process_exception(self, request, exception):
        if not caused_by_outage(exception):
            return None
        _log_outage(request, exception)
        return outage_response(request)


def _log_outage(request, exc: BaseException) -> None:
    logger.warning(
        "database unavailable",
        extra={
            "path": request.path,
            "method": request.method,
            "error": exc.__class__.__name__,
            "detail": str(exc).strip().splitlines()[0] if str(exc).strip() else "",
        },
    )


class RejectNulCharactersMiddleware:
    """Answer 400 to a request whose path or query string carries a NUL character.

    PostgreSQL text cannot hold NUL, so a query parameter with one, passed on to a filter,
    fails deep in the driver (a 500). No legitimate request has one; refusing it up front
    turns that whole class of crash into a clear 400.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in value for value in values)
            for key, values in request.GET.lists()
        ):
            message = "The request contains a NUL character, which is never valid here."
            if wants_json(request):
                return JsonResponse({"detail": message}, status=400)
            return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
