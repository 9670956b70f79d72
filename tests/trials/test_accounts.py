"""Login by email, Argon2 hashing, tokens, throttling and session expiry."""

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_passwords_are_hashed_with_argon2(password):
    user = UserFactory(email="argon@example.org")

    assert user.password.startswith("argon2")
    assert user.check_password(password)


def test_login_with_email_and_logout(password):
    UserFactory(email="login@example.org")
    client = Client()

    response = client.post(
        reverse("login"), {"username": "LOGIN@example.org", "password": password}
    )
    home = client.get(reverse("home"))
    client.post(reverse("logout"))
    after = client.get(reverse("home"))

    assert response.status_code == 302
    assert home.status_code == 200
    assert after.status_code == 302


def test_wrong_password_shows_a_message_not_an_error_page():
    UserFactory(email="wrong@example.org")

    response = Client().post(reverse("login"), {"username": "wrong@example.org", "password": "no"})

    assert response.status_code == 200
    assert response.context["form"].errors


def test_token_endpoint_returns_a_token_that_authenticates(password):
    UserFactory(email="api@example.org")
    client = Client()

    response = client.post(
        "/api/auth/token/",
        {"email": "api@example.org", "password": password},
        content_type="application/json",
    )
    token = response.json()["token"]
    me = client.get("/api/me/", HTTP_AUTHORIZATION=f"Token {token}")

    assert response.status_code == 200
    assert me.status_code == 200
    assert me.json()["email"] == "api@example.org"


def test_token_endpoint_rejects_bad_credentials_with_400():
    UserFactory(email="api2@example.org")

    response = Client().post(
        "/api/auth/token/",
        {"email": "api2@example.org", "password": "wrong-one"},
        content_type="application/json",
    )
    missing = Client().post("/api/auth/token/", {}, content_type="application/json")

    assert response.status_code == 400
    assert missing.status_code == 400
    assert set(missing.json()) == {"email", "password"}


def test_repeated_failures_lock_the_account_and_are_logged(password):
    UserFactory(email="locked@example.org")
    client = Client()
    from axes.models import AccessAttempt

    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": "locked@example.org", "password": "bad"})
    locked = client.post(reverse("login"), {"username": "locked@example.org", "password": password})

    assert locked.status_code == 429
    assert b"locked" in locked.content.lower()
    assert AccessAttempt.objects.filter(username="locked@example.org").exists()


def test_password_change_requires_the_old_password(password):
    user = UserFactory(email="change@example.org")
    client = Client()
    client.force_login(user)

    bad = client.post(
        reverse("password_change"),
        {
            "old_password": "nope",
            "new_password1": "a-new-long-pass-42",
            "new_password2": "a-new-long-pass-42",
        },
    )
    good = client.post(
        reverse("password_change"),
        {
            "old_password": password,
            "new_password1": "a-new-long-pass-42",
            "new_password2": "a-new-long-pass-42",
        },
    )

    assert bad.status_code == 200
    assert good.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a-new-long-pass-42")


def test_password_policy_rejects_short_passwords(password):
    user = UserFactory(email="policy@example.org")
    client = Client()
    client.force_login(user)

    response = client.post(
        reverse("password_change"),
        {"old_password": password, "new_password1": "short", "new_password2": "short"},
    )

    assert response.status_code == 200
    assert response.context["form"].errors["new_password2"]


def test_sessions_expire_after_idle_time():
    assert settings.SESSION_COOKIE_AGE <= 60 * 60
    assert settings.SESSION_SAVE_EVERY_REQUEST is True
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is True


def test_token_endpoint_requires_the_authenticator_code_when_the_account_has_one(password):
    from tests.security.helpers import confirmed_device, totp_code

    user = UserFactory(email="twofactor@example.org")
    device = confirmed_device(user)
    body = {"email": "twofactor@example.org", "password": password}

    without_code = Client().post("/api/auth/token/", body, content_type="application/json")
    with_code = Client().post(
        "/api/auth/token/",
        {**body, "otp_token": totp_code(device)},
        content_type="application/json",
    )
    # (a wrong code last: it starts django-otp's back-off, which also refuses good codes)
    wrong_code = Client().post(
        "/api/auth/token/", {**body, "otp_token": "000000"}, content_type="application/json"
    )

    assert without_code.status_code == 400
    assert "otp_token" in without_code.json()
    assert wrong_code.status_code == 400
    assert with_code.status_code == 200
    assert with_code.json()["token"]
