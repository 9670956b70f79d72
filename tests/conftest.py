"""Fixtures shared by the whole suite. Every database test runs on real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from tests.factories import (
    TEST_PASSWORD,
    MembershipFactory,
    PatientFactory,
    SiteFactory,
    TrialFactory,
    TrialSiteFactory,
    UserFactory,
)
from trials.models import Patient, Role, Site, Trial, User

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def empty_cache():
    """Throttle counters (login, token) live in the cache: every test starts with none."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings, request):
    """Argon2 is deliberately slow; tests that are not about hashing use a fast hasher."""
    if "argon2" not in request.node.name:
        settings.PASSWORD_HASHERS = [
            "django.contrib.auth.hashers.MD5PasswordHasher",
            *settings.PASSWORD_HASHERS,
        ]


@dataclass
class TwoSiteTrial:
    trial: Trial
    site_a: Site
    site_b: Site
    coordinator_a: User
    coordinator_b: User
    investigator: User
    statistician: User
    monitor_a: User
    trial_admin: User
    patient_a: Patient
    patient_b: Patient


@pytest.fixture
def two_site_trial(db) -> TwoSiteTrial:
    """One trial, two sites, a coordinator at each, and one patient at each site."""
    trial = TrialFactory(code="IPD")
    site_a, site_b = SiteFactory(code="ALPHA"), SiteFactory(code="BETA")
    TrialSiteFactory(trial=trial, site=site_a, number="01")
    TrialSiteFactory(trial=trial, site=site_b, number="02")

    def member(email: str, role: str, sites=(), all_sites=False) -> User:
        user = UserFactory(email=email)
        MembershipFactory(user=user, trial=trial, role=role, sites=list(sites), all_sites=all_sites)
        return user

    return TwoSiteTrial(
        trial=trial,
        site_a=site_a,
        site_b=site_b,
        coordinator_a=member("coord.a@example.org", Role.COORDINATOR, [site_a]),
        coordinator_b=member("coord.b@example.org", Role.COORDINATOR, [site_b]),
        investigator=member("inv@example.org", Role.INVESTIGATOR, all_sites=True),
        statistician=member("stat@example.org", Role.STATISTICIAN, all_sites=True),
        monitor_a=member("monitor.a@example.org", Role.MONITOR, [site_a]),
        trial_admin=member("admin@example.org", Role.TRIAL_ADMIN, all_sites=True),
        patient_a=PatientFactory(trial=trial, site=site_a, screening_number="001"),
        patient_b=PatientFactory(trial=trial, site=site_b, screening_number="001"),
    )


@pytest.fixture
def ipd(two_site_trial) -> TwoSiteTrial:
    """``two_site_trial`` with trial A's configuration (design, agents, dose levels −1/1/2,
    eligibility criteria) applied, and the trial open in phase I."""
    from datetime import date

    from trials import services
    from trials.reference_trials import configure_reference_trial

    t = two_site_trial
    configure_reference_trial("IPD", acting_user=t.trial_admin, effective_date=date(2024, 1, 1))
    for status in ("open", "phase_i"):
        services.trial_transition(
            trial=t.trial, to_status=status, acting_user=t.trial_admin, reason="approved"
        )
    t.trial.refresh_from_db()
    return t


@pytest.fixture
def cfz(db):
    """Trial B (carfilzomib, mg/m²) configured and open, with one site and its coordinator."""
    from datetime import date

    from trials import services
    from trials.reference_trials import configure_reference_trial

    admin = UserFactory(email="cfz.admin@example.org")
    trial = configure_reference_trial("CFZ", acting_user=admin, effective_date=date(2024, 1, 1))
    site = SiteFactory(code="EAST")
    TrialSiteFactory(trial=trial, site=site, number="01")
    coordinator = UserFactory(email="coord.east@example.org")
    MembershipFactory(user=coordinator, trial=trial, role=Role.COORDINATOR, sites=[site])
    MembershipFactory(user=admin, trial=trial, role=Role.TRIAL_ADMIN, all_sites=True)
    for status in ("open", "phase_ii"):
        services.trial_transition(
            trial=trial, to_status=status, acting_user=admin, reason="approved"
        )
    trial.refresh_from_db()
    return trial, site, coordinator


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api_client_for(user: User):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def password() -> str:
    return TEST_PASSWORD


# --- A real Celery worker, on the test database -----------------------------------------------


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker):
    """A real ``celery worker`` subprocess consuming the test queue, reading the test database.

    Tests that use it must commit their data (``transactional_db``) so the worker can see it.
    """
    env = dict(os.environ)
    env["DATABASE_NAME"] = settings.DATABASES["default"]["NAME"]
    env["CELERY_QUEUE"] = settings.CELERY_TASK_DEFAULT_QUEUE
    env["PYTHONUNBUFFERED"] = "1"
    log_path = Path(settings.VAR_DIR) / f"test-worker-{uuid.uuid4().hex[:8]}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(  # noqa: S603
            [
                str(Path(sys.executable).parent / "celery"),
                "-A",
                "config",
                "worker",
                "-l",
                "info",
                "--concurrency",
                "1",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"test-{uuid.uuid4().hex[:6]}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if "ready" in log_path.read_text():
            break
        if proc.poll() is not None:
            raise RuntimeError(f"celery worker exited early:\n{log_path.read_text()}")
        time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError(f"celery worker did not start:\n{log_path.read_text()}")
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log_path.unlink(missing_ok=True)
