"""The demo accounts come with trials A and B configured and open for enrolment."""

import pytest

from trials import selectors
from trials.demo import ensure_demo_users
from trials.models import Trial

pytestmark = pytest.mark.django_db


def test_demo_trials_are_configured_and_open(settings, tmp_path):
    settings.VAR_DIR = tmp_path

    ensure_demo_users()
    ensure_demo_users()  # idempotent

    ipd, cfz = Trial.objects.get(code="IPD"), Trial.objects.get(code="CFZ")
    assert (ipd.status, cfz.status) == ("phase_i", "phase_ii")
    assert selectors.trial_design(cfz).response.criteria == "RECIST1.0"
    assert [a.code for a in selectors.trial_agents(ipd)] == ["IXA", "POM", "DEX"]
