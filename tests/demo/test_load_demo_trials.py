"""The demo trials are loaded through the services, reproduce trial A's published figures as
the product computes them, and a second load creates nothing."""

import io
from datetime import date

import pytest
from django.core.management import call_command

from trials.demo_data.validation import trial_a_checks
from trials.models import Patient, Trial, Visit

DATA_CUT = date(2026, 6, 30)


# One transactional test: the load commits (as it does for `make run`), and pytest-django
# empties the tables afterwards, so nothing leaks into the tests that follow.
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_demo_load_reproduces_the_paper_and_a_second_load_creates_nothing():
    # given the demo trials loaded with a fixed data cut
    call_command("load_demo_trials", today=DATA_CUT, stdout=io.StringIO())

    # when validate_demo compares the computed figures with the paper
    failed = [c for c in trial_a_checks(data_cut=DATA_CUT) if not c.ok]
    call_command("validate_demo", data_cut=DATA_CUT, stdout=io.StringIO())

    # then every figure matches
    assert failed == []

    # and a second load creates nothing
    before = (Patient.objects.count(), Visit.objects.count())
    call_command("load_demo_trials", today=DATA_CUT, stdout=io.StringIO())
    assert (Patient.objects.count(), Visit.objects.count()) == before
    assert Patient.objects.filter(trial=Trial.objects.get(code="IPD")).count() == 34
