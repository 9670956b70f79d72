"""A database outage is a clear 503 wherever Django meets it, never a 500 or a traceback.

These tests make the failures happen in-process; tests/security/test_database_restart.py stops
and restarts a real PostgreSQL server under load.
"""

from __future__ import annotations

import psycopg2
import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError
from django.test import Client

from config.middleware import OUTAGE_MESSAGE, is_database_outage
from tests.conftest import TwoSiteTrial, api_client_for, client_for

pytestmark = pytest.mark.django_db


def django_error(cls, psycopg_error: Exception) -> Exception:
    """A Django database error wrapping a driver error, as Django raises them."""
    error = cls(*psycopg_error.args)
    error.__cause__ = psycopg_error
    return error


def real_connection_error() -> psycopg2.OperationalError:
    try:
        psycopg2.connect(host="/nonexistent-socket-dir", dbname="x", connect_timeout=1)
    except psycopg2.OperationalError as exc:
        return exc
    raise AssertionError("connecting to a missing socket succeeded")


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (django_error(OperationalError, real_connection_error()), True),
        (OperationalError("server closed the connection unexpectedly"), True),
        (OperationalError("FATAL:  the database system is starting up"), True),
        (OperationalError("terminating connection due to administrator command"), True),
        (InterfaceError("connection already closed"), True),
        (
            django_error(
                DatabaseError, psycopg2.DatabaseError("server closed the connection unexpectedly")
            ),
            True,
        ),
        (OperationalError("deadlock detected"), False),
        (OperationalError("canceling statement due to lock timeout"), False),
        (IntegrityError("duplicate key value"), False),
        (DatabaseError("syntax error"), False),
        (ValueError("connection refused"), False),
    ],
)
def test_which_errors_count_as_an_outage(error, outage):
    assert is_database_outage(error) is outage


def fail_session_load(monkeypatch) -> None:
    def load(self):
        raise django_error(OperationalError, real_connection_error())

    monkeypatch.setattr(SessionStore, "load", load)


def test_an_outage_while_loading_the_session_is_a_503_page(
    two_site_trial: TwoSiteTrial, monkeypatch
):
    client = client_for(two_site_trial.coordinator_a)
    client.raise_request_exception = False
    fail_session_load(monkeypatch)

    response = client.get("/patients/")

    body = response.content.decode()
    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert "Temporarily unavailable" in body
    assert OUTAGE_MESSAGE in body
    assert "Traceback" not in body


def test_an_outage_while_loading_the_session_is_a_503_json_under_the_api(
    two_site_trial: TwoSiteTrial, monkeypatch
):
    client = client_for(two_site_trial.coordinator_a)
    client.raise_request_exception = False
    fail_session_load(monkeypatch)

    response = client.get("/api/patients/")

    assert response.status_code == 503
    assert response.json() == {"detail": OUTAGE_MESSAGE}


def test_an_outage_in_a_view_is_a_503(two_site_trial: TwoSiteTrial, monkeypatch):
    from trials import selectors

    def down(*args, **kwargs):
        raise OperationalError("could not connect to server: Connection refused")

    monkeypatch.setattr(selectors, "patients_for_user", down)

    response = api_client_for(two_site_trial.investigator).get("/api/patients/")

    assert response.status_code == 503
    assert response.json()["detail"] == OUTAGE_MESSAGE


def test_a_session_that_cannot_be_saved_in_an_outage_is_a_503_not_a_400(
    two_site_trial: TwoSiteTrial, monkeypatch
):
    client = client_for(two_site_trial.coordinator_a)
    client.raise_request_exception = False

    def save(self, *args, **kwargs):
        raise django_error(OperationalError, real_connection_error())

    # Django turns this into UpdateError, then SessionInterrupted: a 400 unless we look closer
    monkeypatch.setattr(Session, "save", save)

    response = client.get("/patients/")

    assert response.status_code == 503
    assert OUTAGE_MESSAGE in response.content.decode()


def test_an_outage_in_debug_mode_is_still_a_503_not_the_debug_page(
    two_site_trial: TwoSiteTrial, monkeypatch, settings
):
    settings.DEBUG = True
    client = client_for(two_site_trial.coordinator_a)
    client.raise_request_exception = False
    fail_session_load(monkeypatch)

    response = client.get("/patients/")

    assert response.status_code == 503
    assert "Traceback" not in response.content.decode()


@pytest.mark.urls("tests.config.broken_urls")
def test_other_errors_stay_500_and_the_500_page_needs_no_database(django_assert_num_queries):
    client = Client(raise_request_exception=False)

    with django_assert_num_queries(0):
        bug = client.get("/bug/")
    deadlock = client.get("/deadlock/")
    api_bug = client.get("/api/bug/")

    assert bug.status_code == 500
    assert "Something went wrong" in bug.content.decode()
    assert deadlock.status_code == 500
    assert api_bug.status_code == 500
    assert api_bug.json() == {"detail": "Server error. It has been logged."}
