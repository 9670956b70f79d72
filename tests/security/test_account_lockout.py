"""An account locked after repeated failed sign-ins is logged: a structured log line on the
security logger, and django-axes' AccessAttempt and AccessFailureLog rows."""

import logging

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from config.log import KeyValueFormatter
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_locked_account_is_logged_with_structured_fields(caplog):
    UserFactory(email="locked@example.org")
    client = Client(REMOTE_ADDR="10.1.2.3")

    with caplog.at_level(logging.INFO, logger="trialdesk.security"):
        for _ in range(settings.AXES_FAILURE_LIMIT):
            client.post(reverse("login"), {"username": "locked@example.org", "password": "bad"})

    locks = [r for r in caplog.records if getattr(r, "event", None) == "account_locked"]
    failures = [r for r in caplog.records if getattr(r, "event", None) == "login_failed"]
    assert len(locks) == 1
    assert locks[0].name == "trialdesk.security"
    assert locks[0].levelno == logging.WARNING
    assert locks[0].username == "locked@example.org"
    assert locks[0].ip == "10.1.2.3"
    assert locks[0].failure_limit == settings.AXES_FAILURE_LIMIT
    assert len(failures) == settings.AXES_FAILURE_LIMIT
    attempt = AccessAttempt.objects.get(username="locked@example.org")
    assert attempt.failures_since_start == settings.AXES_FAILURE_LIMIT
    failure_log = AccessFailureLog.objects.filter(username="locked@example.org")
    assert failure_log.count() == settings.AXES_FAILURE_LIMIT
    assert failure_log.filter(locked_out=True).exists()


def test_the_structured_fields_reach_the_log_output(caplog):
    UserFactory(email="fields@example.org")
    client = Client(REMOTE_ADDR="10.9.9.9")
    formatter = KeyValueFormatter(settings.LOGGING["formatters"]["plain"]["format"])

    with caplog.at_level(logging.INFO, logger="trialdesk.security"):
        for _ in range(settings.AXES_FAILURE_LIMIT):
            client.post(reverse("login"), {"username": "fields@example.org", "password": "bad"})

    lock = next(r for r in caplog.records if getattr(r, "event", None) == "account_locked")
    line = formatter.format(lock)
    assert "account locked" in line
    assert "event=account_locked" in line
    assert "username=fields@example.org" in line
    assert "ip=10.9.9.9" in line


def test_a_locked_account_gets_json_from_the_api(password):
    cache.clear()  # the token endpoint's own rate limit counts in the cache
    UserFactory(email="api-locked@example.org")
    client = Client()

    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            "/api/auth/token/",
            {"email": "api-locked@example.org", "password": "bad"},
            content_type="application/json",
        )
    locked = client.post(
        "/api/auth/token/",
        {"email": "api-locked@example.org", "password": password},
        content_type="application/json",
    )

    assert locked.status_code == 429
    assert "locked" in locked.json()["detail"]


def test_the_locked_page_says_how_long(password):
    UserFactory(email="page-locked@example.org")
    client = Client()

    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": "page-locked@example.org", "password": "bad"})
    locked = client.post(
        reverse("login"), {"username": "page-locked@example.org", "password": password}
    )

    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    assert locked.status_code == 429
    assert f"locked for {minutes} minutes" in locked.content.decode()
