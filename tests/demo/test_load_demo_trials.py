"""The demo trials are loaded through the services, reproduce trial A's published figures as
the product computes them, and a second load creates nothing."""

from datetime import date

import pytest
from django.core.management import call_command

from trials.demo_data.validation import trial_a_checks
from trials.models import Patient, Trial, Visit

DATA_CUT = date(2026, 6, 30)


@pytest.fixture(scope="module")
def loaded(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        call_command("load_demo_trials", today=DATA_CUT, stdout=open("/dev/null", "w"))  # noqa: SIM115, PTH123
        yield
        # The module's data stay in the test database only until pytest drops it.


@pytest.mark.slow
@pytest.mark.django_db
def test_validate_demo_exits_zero_on_a_fresh_load(loaded):
    # given the demo trials loaded with a fixed data cut
    # when validate_demo compares the computed figures with the paper
    with pytest.raises(SystemExit) as raised:
        call_command("validate_demo", data_cut=DATA_CUT)
        raise SystemExit(0)
    # then every figure matches
    assert raised.value.code == 0
    assert all(c.ok for c in trial_a_checks(data_cut=DATA_CUT))


@pytest.mark.slow
@pytest.mark.django_db
def test_a_second_load_creates_nothing(loaded):
    # given the demo trials already loaded
    before = (Patient.objects.count(), Visit.objects.count())
    # when the command runs again
    call_command("load_demo_trials", today=DATA_CUT, stdout=open("/dev/null", "w"))  # noqa: SIM115, PTH123
    # then nothing is created
    assert (Patient.objects.count(), Visit.objects.count()) == before
    assert Patient.objects.filter(trial=Trial.objects.get(code="IPD")).count() == 34
