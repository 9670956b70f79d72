"""Fixtures of the survival tests: the reference toy cohort (no database) and a configured
trial with a statistician (database)."""

from __future__ import annotations

import pytest

from survival.domain.analysis import SurvivalAnalysis, analyse
from tests.survival.factories import toy_inputs


@pytest.fixture
def toy() -> SurvivalAnalysis:
    """The toy vector as a 12-patient trial: OS = the reference times, alternating DL1/DL2."""
    return analyse(toy_inputs())


@pytest.fixture
def media_root(settings, tmp_path):
    """Export files of in-process tests go to a temporary folder, not var/media."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def survival_trial(ipd):
    """Trial A (IPD) with three treated patients at DL1/DL2: one died, two alive."""
    import datetime as dt

    from tests.survival.factories import alive, died, dose, study_patient

    for number, level, death in ((1, 1, dt.date(2024, 5, 1)), (2, 2, None), (3, 1, None)):
        p = study_patient(ipd.trial, ipd.site_a, number, dose_level=level)
        dose(p, dt.date(2024, 1, 10))
        alive(p, dt.date(2024, 4, 1))
        if death:
            died(p, death)
    return ipd


@pytest.fixture
def outsider(db):
    """A statistician of another trial only."""
    from tests.factories import MembershipFactory, TrialFactory, UserFactory
    from trials.models import Role

    user = UserFactory(email="other.stat@example.org")
    MembershipFactory(
        user=user, trial=TrialFactory(code="OTHER"), role=Role.STATISTICIAN, all_sites=True
    )
    return user


@pytest.fixture
def eager():
    """Celery's local mode: a task sent after commit runs in this process."""
    from config.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture
def ctcae(db):
    """The CTCAE v5.0 dictionary (a data migration installs it; a transactional test elsewhere
    may have flushed it, so it is put back when missing)."""
    from safety.models import CtcaeTerm
    from safety.services import ctcae_dictionary_install

    if not CtcaeTerm.objects.filter(version="5.0").exists():
        ctcae_dictionary_install(version="5.0", acting_user=None)
