"""The demo trials are loaded through the services, reproduce trial A's published figures and
trial B's synthetic design as the product computes them, and a second load creates nothing."""

import io
from datetime import date

import pytest
from django.core.management import call_command

from response.models import PatientResponse
from trials.demo_data.validation import trial_a_checks, trial_b_checks
from trials.models import Patient, Trial, Visit

DATA_CUT = date(2026, 6, 30)


# One transactional test: the load commits (as it does for `make run`), and pytest-django
# empties the tables afterwards, so nothing leaks into the tests that follow.
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_demo_load_reproduces_the_paper_and_the_design_and_a_second_load_creates_nothing():
    # given the demo trials loaded with a fixed data cut
    call_command("load_demo_trials", today=DATA_CUT, stdout=io.StringIO())

    # when the computed figures are compared with trial A's paper and trial B's design
    failed = [c for c in [*trial_a_checks(data_cut=DATA_CUT), *trial_b_checks()] if not c.ok]
    out = io.StringIO()
    call_command("validate_demo", data_cut=DATA_CUT, stdout=out)  # exits 1 on any difference

    # then every figure matches
    assert failed == []
    assert "Trial B (CFZ)" in out.getvalue()
    cfz = Trial.objects.get(code="CFZ")
    responses = PatientResponse.objects.filter(patient__trial=cfz)
    assert set(responses.values_list("criteria", flat=True)) == {"RECIST1.0"}
    assert responses.count() == 10

    # and a second load creates nothing
    before = (Patient.objects.count(), Visit.objects.count(), PatientResponse.objects.count())
    call_command("load_demo_trials", today=DATA_CUT, stdout=io.StringIO())
    assert (
        Patient.objects.count(),
        Visit.objects.count(),
        PatientResponse.objects.count(),
    ) == before
    assert Patient.objects.filter(trial=Trial.objects.get(code="IPD")).count() == 34
    assert Patient.objects.filter(trial=cfz).count() == 11
