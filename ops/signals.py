"""The account-security log: sign-ins, failed sign-ins, sign-outs and account locks.

Each event is one line on the ``trialdesk.security`` logger with structured fields (``event``,
``username``, ``ip``, ``path`` …). django-axes keeps the database side: ``AccessAttempt`` (the
counters that lock), ``AccessFailureLog`` (every failure, kept) and ``AccessLog`` (sign-ins).
"""

from __future__ import annotations

import logging

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

security_log = logging.getLogger("trialdesk.security")


def _ip(request) -> str | None:
    if request is None:
        return None
    return getattr(request, "axes_ip_address", None) or request.META.get("REMOTE_ADDR")


def _path(request) -> str | None:
    return getattr(request, "path", None) if request is not None else None


def on_locked_out(sender, request=None, username=None, ip_address=None, **kwargs) -> None:
    security_log.warning(
        "account locked",
        extra={
            "event": "account_locked",
            "username": username,
            "ip": ip_address or _ip(request),
            "path": _path(request),
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "cooloff_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
        },
    )


def on_login_failed(sender, credentials=None, request=None, **kwargs) -> None:
    security_log.warning(
        "sign-in failed",
        extra={
            "event": "login_failed",
            "username": (credentials or {}).get("username"),
            "ip": _ip(request),
            "path": _path(request),
        },
    )


def on_logged_in(sender, request=None, user=None, **kwargs) -> None:
    security_log.info(
        "signed in",
        extra={
            "event": "login",
            "user_id": getattr(user, "pk", None),
            "username": user.get_username() if user is not None else None,
            "ip": _ip(request),
            "path": _path(request),
        },
    )


def on_logged_out(sender, request=None, user=None, **kwargs) -> None:
    security_log.info(
        "signed out",
        extra={
            "event": "logout",
            "user_id": getattr(user, "pk", None),
            "ip": _ip(request),
        },
    )


def connect() -> None:
    user_locked_out.connect(on_locked_out, dispatch_uid="trialdesk-security-locked-out")
    user_login_failed.connect(on_login_failed, dispatch_uid="trialdesk-security-login-failed")
    user_logged_in.connect(on_logged_in, dispatch_uid="trialdesk-security-logged-in")
    user_logged_out.connect(on_logged_out, dispatch_uid="trialdesk-security-logged-out")
