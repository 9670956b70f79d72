"""Electronic signatures: password re-entry plus a TOTP code, the same for every login method.

The signing endpoints here are stand-ins built only from config.otp's public helpers
(tests/security/signing_urls.py), the way dose-escalation signing views will use them.
"""

import logging

import pytest
from django.conf import settings
from django.test import Client, override_settings
from rest_framework.authtoken.models import Token

from config.otp import MSG_SETUP_NEEDED
from tests.conftest import TwoSiteTrial, client_for
from tests.security.helpers import confirmed_device, totp_code, wrong_code
from tests.security.test_two_factor import VERIFY_URL, sign_in_with_password

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.urls("tests.security.signing_urls"),
]

SIGN_API = "/api/test-sign/"
SIGN_PAGE = "/test-sign/"


def signature_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == "signature_attempt"]


@pytest.fixture
def signing_investigator(two_site_trial: TwoSiteTrial, password):
    """An investigator who signed in with password and authenticator code."""
    user = two_site_trial.investigator
    device = confirmed_device(user)
    client = sign_in_with_password(user, password)
    client.post(VERIFY_URL, {"otp_token": totp_code(device)})
    return client, device


def test_password_and_current_code_sign(signing_investigator, password, caplog):
    client, device = signing_investigator

    with caplog.at_level(logging.INFO, logger="trialdesk.security"):
        response = client.post(
            SIGN_API,
            {"password": password, "otp_token": totp_code(device, steps_ahead=1)},
            content_type="application/json",
        )

    assert response.status_code == 200
    assert [r.outcome for r in signature_records(caplog)] == ["ok"]
    assert signature_records(caplog)[0].action == "test-decision:1 approve"


def test_a_wrong_password_does_not_sign_and_is_logged(signing_investigator, caplog):
    client, device = signing_investigator

    with caplog.at_level(logging.INFO, logger="trialdesk.security"):
        response = client.post(
            SIGN_API,
            {"password": "not-my-password", "otp_token": totp_code(device, steps_ahead=1)},
            content_type="application/json",
        )

    assert response.status_code == 400
    assert "password is not correct" in response.json()["password"][0]
    assert [r.outcome for r in signature_records(caplog)] == ["bad_password"]


def test_a_wrong_code_does_not_sign(signing_investigator, password, caplog):
    client, device = signing_investigator

    with caplog.at_level(logging.INFO, logger="trialdesk.security"):
        response = client.post(
            SIGN_API,
            {"password": password, "otp_token": wrong_code(device)},
            content_type="application/json",
        )

    assert response.status_code == 400
    assert "authenticator code is not correct" in response.json()["otp_token"][0]
    assert [r.outcome for r in signature_records(caplog)] == ["bad_token"]


def test_a_missing_code_does_not_sign(signing_investigator, password):
    client, _ = signing_investigator

    response = client.post(SIGN_API, {"password": password}, content_type="application/json")

    assert response.status_code == 400
    assert "6-digit code" in response.json()["otp_token"][0]


def test_a_code_cannot_be_used_twice(signing_investigator, password):
    client, device = signing_investigator
    code = totp_code(device, steps_ahead=1)

    first = client.post(
        SIGN_API, {"password": password, "otp_token": code}, content_type="application/json"
    )
    replay = client.post(
        SIGN_API, {"password": password, "otp_token": code}, content_type="application/json"
    )

    assert first.status_code == 200
    assert replay.status_code == 400


def test_an_investigator_without_a_device_cannot_sign(two_site_trial: TwoSiteTrial, password):
    client = client_for(two_site_trial.investigator)

    api = client.post(SIGN_API, {"password": password}, content_type="application/json")
    page = client.get(SIGN_PAGE)

    assert api.status_code == 403
    assert api.json()["detail"] == MSG_SETUP_NEEDED
    assert page.status_code == 302
    assert page["Location"].startswith("/accounts/two-factor/")


def test_a_session_that_skipped_the_second_step_cannot_sign(two_site_trial: TwoSiteTrial, password):
    user = two_site_trial.investigator
    device = confirmed_device(user)
    client = sign_in_with_password(user, password)

    api = client.post(
        SIGN_API,
        {"password": password, "otp_token": totp_code(device)},
        content_type="application/json",
    )
    page = client.get(SIGN_PAGE)

    assert api.status_code == 403
    assert page.status_code == 302
    assert page["Location"].startswith(VERIFY_URL)


def test_a_token_client_signs_with_password_and_code(two_site_trial: TwoSiteTrial, password):
    user = two_site_trial.investigator
    device = confirmed_device(user)
    token = Token.objects.create(user=user)
    client = Client(HTTP_AUTHORIZATION=f"Token {token.key}")

    without_code = client.post(SIGN_API, {"password": password}, content_type="application/json")
    with_code = client.post(
        SIGN_API,
        {"password": password, "otp_token": totp_code(device)},
        content_type="application/json",
    )

    assert without_code.status_code == 400
    assert with_code.status_code == 200


def test_roles_without_two_factor_sign_with_the_password(
    two_site_trial: TwoSiteTrial, password, caplog
):
    client = client_for(two_site_trial.coordinator_a)

    with caplog.at_level(logging.INFO, logger="trialdesk.security"):
        response = client.post(SIGN_API, {"password": password}, content_type="application/json")

    assert response.status_code == 200
    assert [r.outcome for r in signature_records(caplog)] == ["ok_password_only"]


@override_settings(AXES_FAILURE_LIMIT=3)
def test_repeated_wrong_signature_passwords_lock_the_account(signing_investigator):
    client, device = signing_investigator

    responses = [
        client.post(
            SIGN_API,
            {"password": "guess", "otp_token": totp_code(device, steps_ahead=1)},
            content_type="application/json",
        )
        for _ in range(settings.AXES_FAILURE_LIMIT)
    ]

    assert [r.status_code for r in responses[:-1]] == [400, 400]
    assert responses[-1].status_code == 429
    assert "locked" in responses[-1].json()["detail"]
