"""Error pages: JSON under /api/, HTML elsewhere. Never a debug page in production.

The 500 and 503 pages render without the request's context processors, so they never touch the
database: they must work when the database is the thing that failed.
"""

from __future__ import annotations

import sys

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader

from config.middleware import caused_by_outage, outage_response


def _wants_json(request) -> bool:
    return request.path.startswith("/api/")


def bad_request(request, exception=None):
    # A session that could not be saved because the database went away arrives here as
    # SessionInterrupted (a 400); it is an outage, not a bad request.
    if caused_by_outage(exception):
        return outage_response(request)
    if _wants_json(request):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return HttpResponse(loader.render_to_string("400.html", {}), status=400)


def not_found(request, exception=None):
    if _wants_json(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return render(request, "404.html", status=404)


def forbidden(request, exception=None):
    if _wants_json(request):
        return JsonResponse({"detail": "You do not have permission for this."}, status=403)
    return render(request, "403.html", {"message": str(exception or "")}, status=403)


def server_error(request):
    # Django calls this while handling the exception, so it is still in sys.exc_info().
    if caused_by_outage(sys.exc_info()[1]):
        return outage_response(request)
    if _wants_json(request):
        return JsonResponse({"detail": "Server error. It has been logged."}, status=500)
    try:
        html = loader.render_to_string("500.html", {})
    except Exception:  # noqa: BLE001 - the error page itself must never fail
        html = FALLBACK_500
    return HttpResponse(html, status=500)


FALLBACK_500 = (
    "<!doctype html><html lang=en><head><meta charset=utf-8><title>Server error · TrialDesk"
    "</title></head><body><h1>Something went wrong</h1><p>The error has been logged. Nothing "
    "you entered was saved partially; please try again.</p></body></html>"
)


def locked_out(request, original_response=None, credentials=None):
    """django-axes' answer to a locked account (AXES_LOCKOUT_CALLABLE)."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = (
        f"Too many failed sign-in attempts: this account is locked for {minutes} minutes. "
        "The lock has been logged; ask your trial admin if you need it lifted sooner."
    )
    if _wants_json(request):
        return JsonResponse({"detail": message}, status=429)
    return render(
        request,
        "registration/locked_out.html",
        {"message": message, "cooloff_minutes": minutes},
        status=429,
    )
