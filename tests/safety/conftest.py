"""Fixtures of the safety tests: trial A configured, a patient in the DLT window."""

from __future__ import annotations

import pytest

from tests.safety.factories import dosed_patient


@pytest.fixture
def in_window(ipd):
    """A DL1 patient at site A, first dose 15 days ago (study day 16 of 21)."""
    return dosed_patient(ipd, first_dose_days_ago=15)


@pytest.fixture
def escalations(monkeypatch):
    """Trial ids for which ``dosing.evaluate_escalation`` was sent (recorded at the send, after
    commit, as ``config.enqueue`` sends it)."""
    from dosing.tasks import evaluate_escalation

    sent: list[tuple] = []

    def record(args=(), kwargs=None, **options):
        sent.append(tuple(args))

    monkeypatch.setattr(evaluate_escalation, "apply_async", record)
    return sent


@pytest.fixture
def ctcae(db):
    """The CTCAE v5.0 rows. They come from a data migration, and a transactional test elsewhere
    in the suite flushes the tables, so they are put back when missing."""
    from safety.models import CtcaeTerm
    from safety.services import ctcae_dictionary_install

    if not CtcaeTerm.objects.filter(version="5.0").exists():
        ctcae_dictionary_install(version="5.0", acting_user=None)


@pytest.fixture
def ipd(ipd, ctcae):
    """Trial A (the suite's ``ipd``) with the CTCAE dictionary in place."""
    return ipd
