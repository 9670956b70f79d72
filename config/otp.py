"""Two-factor authentication (TOTP, django-otp) and the electronic-signature check.

Who needs what:

- Investigators and trial admins (an active membership with either role, in any trial) must
  have a confirmed authenticator (a TOTP device) before they can sign: :func:`user_requires_otp`.
  Until they have one, every page shows a banner linking to the set-up page.
- Anyone who has confirmed an authenticator enters its code at every sign-in. The session is
  "verified" only after that second step; until then :class:`SecondFactorMiddleware` sends every
  page back to the second step (and answers 403 under /api/), so a sign-in that skips it — the
  password form, the admin's login form, a forged redirect — gets nowhere.

An electronic signature (21 CFR 11.200) is the signer's password re-entered plus, for those
roles and for anyone with an authenticator, a current TOTP code, checked at the moment of
signing by :func:`verify_signature`. It is checked the same way whatever way the signer signed
in (session or API token), so no login method bypasses it or breaks it. Every attempt is logged
on the ``trialdesk.security`` logger.

Signing views use, in this order::

    # DRF: permission_classes = [IsAuthenticated, OtpVerifiedForSigning]
    # HTML: @otp_verified_for_signing
    verify_signature(request, password=..., otp_token=..., action="escalation_decision:42 approve")
    with transaction.atomic(): ...  # the service that stores the signature

:func:`verify_signature` must run *before* the signing transaction, not inside it: failed
attempts are counted (login throttling, TOTP back-off) in rows that a rolled-back transaction
would erase.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission

from trials.models import Role
from trials.selectors import user_roles

security_log = logging.getLogger("trialdesk.security")

#: Roles that must have a confirmed authenticator to sign.
OTP_REQUIRED_ROLES = frozenset({Role.INVESTIGATOR, Role.TRIAL_ADMIN})

TOKEN_DIGITS = 6

MSG_SETUP_NEEDED = (
    "Your role requires two-factor authentication to sign. Set up an authenticator app "
    "(Account → Two-factor authentication) first."
)
MSG_SECOND_STEP = "Finish signing in: enter the code from your authenticator app."
MSG_BAD_PASSWORD = "The password is not correct. Nothing was signed."  # noqa: S105 - a message
MSG_WRONG_CODE = (
    "The authenticator code is not correct, or it was already used. Enter the current "
    "6-digit code from your authenticator app. Nothing was signed."
)
MSG_CODE_FORMAT = "Enter the 6-digit code from your authenticator app."
MSG_LOCKED = "Too many failed attempts: this account is locked for a while. Nothing was signed."


# --- Who needs a second factor, and who has one ------------------------------------------------


def user_requires_otp(user: Any) -> bool:
    """True when the user is an investigator or trial admin in any active membership."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return bool(user_roles(user) & OTP_REQUIRED_ROLES)


def confirmed_devices(user: Any) -> list[TOTPDevice]:
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    return list(TOTPDevice.objects.devices_for_user(user, confirmed=True))


def user_has_confirmed_device(user: Any) -> bool:
    """True when the user has a confirmed authenticator. Cached on the user object per request."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    cached = getattr(user, "_trialdesk_has_otp_device", None)
    if cached is None:
        cached = TOTPDevice.objects.devices_for_user(user, confirmed=True).exists()
        user._trialdesk_has_otp_device = cached
    return cached


def request_is_verified(request: Any) -> bool:
    """True when the request's user passed the second sign-in step in this session.

    A session that signed in with the password only is not verified, and neither is an API
    request authenticated with a token (tokens carry no second factor: signing through the API
    proves it with a fresh code in :func:`verify_signature`).
    """
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    is_verified = getattr(user, "is_verified", None)
    return bool(callable(is_verified) and is_verified())


# --- Checking a code ---------------------------------------------------------------------------


class OtpCheck:
    """The outcome of checking one code: the device that accepted it, or why none did."""

    def __init__(self, device: TOTPDevice | None, outcome: str, message: str | None = None) -> None:
        self.device = device
        self.outcome = outcome
        self.message = message

    @property
    def ok(self) -> bool:
        return self.device is not None


def normalise_token(token: str | None) -> str | None:
    cleaned = "".join((token or "").split())
    if len(cleaned) != TOKEN_DIGITS or not cleaned.isdigit():
        return None
    return cleaned


def check_otp_token(user: Any, token: str | None, *, confirmed: bool = True) -> OtpCheck:
    """Check a TOTP code against the user's (confirmed or pending) authenticators.

    A code is accepted once (django-otp remembers the last time step used), and wrong codes
    slow further tries down exponentially (1 s, 2 s, 4 s, …). The devices are locked for the
    check so that two requests cannot both use the same code.
    """
    cleaned = normalise_token(token)
    if cleaned is None:
        return OtpCheck(None, "bad_format", MSG_CODE_FORMAT)
    with transaction.atomic():
        devices = list(
            TOTPDevice.objects.devices_for_user(user, confirmed=confirmed)
            .select_for_update()
            .order_by("pk")
        )
        if not devices:
            return OtpCheck(None, "no_device", MSG_SETUP_NEEDED)
        throttled_until = None
        for device in devices:
            allowed, info = device.verify_is_allowed()
            if not allowed:
                throttled_until = (info or {}).get("locked_until")
                continue
            if device.verify_token(cleaned):
                return OtpCheck(device, "ok")
    if throttled_until is not None:
        wait = max(1, int((throttled_until - timezone.now()).total_seconds()) + 1)
        return OtpCheck(
            None,
            "throttled",
            f"Too many wrong codes. Wait {wait} seconds, then enter the current code.",
        )
    return OtpCheck(None, "bad_token", MSG_WRONG_CODE)


# --- The electronic signature -----------------------------------------------------------------


def _client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR")


def verify_signature(
    request: Any, *, password: str | None, otp_token: str | None, action: str = ""
) -> None:
    """Check an electronic signature: the password re-entered and, when needed, a TOTP code.

    ``request`` is a Django or DRF request whose user is signing. ``action`` says what is being
    signed (for the log), e.g. ``"escalation_decision:42 approve"``. Returns ``None`` when the
    signature is valid; raises :class:`~django.core.exceptions.ValidationError` with a
    ``password`` or ``otp_token`` message otherwise (the API turns it into a 400). Wrong
    passwords count towards the login lock (django-axes), exactly like wrong sign-ins.
    """
    django_request = getattr(request, "_request", request)
    user = getattr(request, "user", None)

    def log(outcome: str, level: int = logging.WARNING) -> None:
        security_log.log(
            level,
            "signature attempt",
            extra={
                "event": "signature_attempt",
                "outcome": outcome,
                "user_id": getattr(user, "pk", None),
                "user_email": getattr(user, "email", None),
                "action": action,
                "ip": _client_ip(django_request),
            },
        )

    if user is None or not user.is_authenticated or not user.is_active:
        log("not_signed_in")
        raise ValidationError({"password": "Sign in to sign."})

    from axes.exceptions import AxesBackendPermissionDenied

    try:
        authenticated = authenticate(
            django_request, username=user.get_username(), password=password or ""
        )
    except AxesBackendPermissionDenied:
        log("locked_out")
        raise ValidationError({"password": MSG_LOCKED}) from None
    if getattr(django_request, "axes_locked_out", False):
        log("locked_out")
        raise ValidationError({"password": MSG_LOCKED})
    if authenticated is None or authenticated.pk != user.pk:
        log("bad_password")
        raise ValidationError({"password": MSG_BAD_PASSWORD})

    needs_code = user_requires_otp(user) or user_has_confirmed_device(user)
    if needs_code:
        check = check_otp_token(user, otp_token)
        if not check.ok:
            log(check.outcome)
            raise ValidationError({"otp_token": check.message})
    log("ok" if needs_code else "ok_password_only", logging.INFO)


# --- Guards for signing views -------------------------------------------------------------------


def signing_block_reason(request: Any) -> str | None:
    """Why this request may not sign (a message), or None when it may."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return "Sign in to sign."
    has_device = user_has_confirmed_device(user)
    if user_requires_otp(user) and not has_device:
        return MSG_SETUP_NEEDED
    uses_session = isinstance(
        getattr(request, "successful_authenticator", None), SessionAuthentication
    )
    is_api_request = hasattr(request, "successful_authenticator")
    if has_device and (uses_session or not is_api_request) and not request_is_verified(request):
        return MSG_SECOND_STEP
    return None


class OtpVerifiedForSigning(BasePermission):
    """DRF permission for signing endpoints.

    Refuses (403) investigators and trial admins without a confirmed authenticator, and
    browser sessions that skipped the second sign-in step. Token clients pass: their signature
    carries a fresh TOTP code, checked by :func:`verify_signature`.
    """

    message = MSG_SETUP_NEEDED

    def has_permission(self, request, view) -> bool:
        reason = signing_block_reason(request)
        if reason is None:
            return True
        self.message = reason
        return False


def otp_verified_for_signing(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Decorator for HTML signing views: sends the user to set up or finish two-factor first."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        reason = signing_block_reason(request)
        if reason is None:
            return view(request, *args, **kwargs)
        if not request.user.is_authenticated:
            return redirect(f"{reverse('login')}?{urlencode({'next': request.get_full_path()})}")
        messages.warning(request, reason)
        target = "two_factor_setup" if reason == MSG_SETUP_NEEDED else "login_verify"
        return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")

    return wrapper


# --- Enforcing the second sign-in step ----------------------------------------------------------


class SecondFactorMiddleware:
    """Send a signed-in user who has an authenticator, but has not entered its code in this
    session, to the second step. Under /api/ answer 403 instead of redirecting.

    Exempt: the second step itself, signing out, static files and the health check.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self._exempt_paths: tuple[str, ...] | None = None

    def _exempt(self, path: str) -> bool:
        if self._exempt_paths is None:
            from django.conf import settings

            self._exempt_paths = (
                reverse("login_verify"),
                reverse("logout"),
                reverse("health"),
                settings.STATIC_URL,
            )
        return path.startswith(self._exempt_paths)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request_is_verified(request)
            and not self._exempt(request.path)
            and user_has_confirmed_device(user)
        ):
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": MSG_SECOND_STEP}, status=403)
            query = urlencode({"next": request.get_full_path()})
            return redirect(f"{reverse('login_verify')}?{query}")
        return self.get_response(request)


# --- The banner ----------------------------------------------------------------------------------


def two_factor_status(request: HttpRequest) -> dict[str, Any]:
    """Template context: ``two_factor_setup_needed`` drives the banner in base.html."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"two_factor_setup_needed": False}
    return {
        "two_factor_setup_needed": SimpleLazyObject(
            lambda: user_requires_otp(user) and not user_has_confirmed_device(user)
        )
    }


def signed_payload(request: Any, serializer_class: type, *, action: Callable[[dict], str]) -> dict:
    """The validated body of an API signing request, after the signer's password (and
    authenticator code) has been checked by :func:`verify_signature` for ``action(data)``, the
    label the security log records.

    Call it before the signing service's transaction: failed-attempt counters must not be
    rolled back with it."""
    payload = serializer_class(data=request.data)
    payload.is_valid(raise_exception=True)
    data = payload.validated_data
    verify_signature(
        request,
        password=data["password"],
        otp_token=data.get("otp_token"),
        action=action(data),
    )
    return data
