"""Account security pages: setting up an authenticator, and the second sign-in step.

The QR code is drawn on the server as inline SVG (segno), so no script or image comes from
anywhere else; the ``otpauth://`` address and the base32 secret are shown as text too, for
authenticator apps that take them typed or pasted.
"""

from __future__ import annotations

import logging
from base64 import b32encode

import segno
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from config.otp import (
    check_otp_token,
    request_is_verified,
    security_log,
    user_has_confirmed_device,
    user_requires_otp,
)

DEVICE_NAME = "Authenticator app"


class OtpTokenForm(forms.Form):
    otp_token = forms.CharField(
        label="Authenticator code",
        max_length=12,
        help_text="The 6-digit code your authenticator app shows now.",
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autofocus": True,
            }
        ),
    )


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("home")


def _log(event: str, request: HttpRequest, level: int = logging.INFO, **fields) -> None:
    security_log.log(
        level,
        event.replace("_", " "),
        extra={
            "event": event,
            "user_id": request.user.pk,
            "user_email": request.user.email,
            "ip": request.META.get("REMOTE_ADDR"),
            **fields,
        },
    )


@sensitive_post_parameters("otp_token")
@never_cache
@login_required
def login_verify(request: HttpRequest) -> HttpResponse:
    """The second sign-in step for users with a confirmed authenticator."""
    next_url = _next_url(request)
    if request_is_verified(request) or not user_has_confirmed_device(request.user):
        return redirect(next_url)
    form = OtpTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        check = check_otp_token(request.user, form.cleaned_data["otp_token"])
        if check.ok:
            otp_login(request, check.device)
            # A new session key for the now fully signed-in session.
            request.session.cycle_key()
            _log("second_factor_verified", request)
            return redirect(next_url)
        _log("second_factor_failed", request, logging.WARNING, outcome=check.outcome)
        form.add_error("otp_token", check.message)
    return render(request, "registration/login_verify.html", {"form": form, "next": next_url})


def _pending_device(user) -> TOTPDevice:
    """The user's unconfirmed authenticator, created on first visit and kept until confirmed,
    so that reloading the page shows the same secret."""
    device = TOTPDevice.objects.devices_for_user(user, confirmed=False).order_by("-pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def _qr_svg(uri: str) -> str:
    qr = segno.make(uri, error="m")
    return qr.svg_inline(scale=5, border=2, title="Authenticator set-up code", dark="#12263f")


@sensitive_post_parameters("otp_token")
@never_cache
@login_required
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Set up (or replace) an authenticator: show its secret, confirm it with a code."""
    user = request.user
    confirmed = TOTPDevice.objects.devices_for_user(user, confirmed=True).order_by("-pk").first()
    replacing = request.GET.get("replace") == "1" or request.POST.get("replace") == "1"
    context: dict = {
        "confirmed_device": confirmed,
        "required": user_requires_otp(user),
        "next": _next_url(request) if (request.GET.get("next") or request.POST.get("next")) else "",
        "hide_two_factor_banner": True,
    }
    if confirmed is not None and not replacing:
        return render(request, "registration/two_factor_setup.html", context)

    device = _pending_device(user)
    form = OtpTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        check = check_otp_token(user, form.cleaned_data["otp_token"], confirmed=False)
        if check.ok and check.device.pk == device.pk:
            with transaction.atomic():
                TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
                device.refresh_from_db()
                device.confirmed = True
                device.save(update_fields=["confirmed"])
            otp_login(request, device)
            _log("two_factor_enabled", request, replaced=confirmed is not None)
            messages.success(request, "Two-factor authentication is on for your account.")
            return redirect(context["next"] or reverse("two_factor_setup"))
        _log("two_factor_setup_failed", request, logging.WARNING, outcome=check.outcome)
        form.add_error("otp_token", check.message)

    secret = b32encode(device.bin_key).decode("ascii")
    context.update(
        {
            "form": form,
            "replacing": confirmed is not None,
            "otpauth_uri": device.config_url,
            "secret": secret,
            "secret_groups": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            "qr_svg": mark_safe(_qr_svg(device.config_url)),  # noqa: S308 - segno's own SVG
        }
    )
    return render(request, "registration/two_factor_setup.html", context)
