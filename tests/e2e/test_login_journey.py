"""A coordinator signs in through a real browser and sees only her site's patient."""

import pytest

from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_coordinator_logs_in_and_sees_own_site_only(page, two_site_trial, password):
    t = two_site_trial

    login(page, t.coordinator_a.email, password)
    page.get_by_role("link", name="Patients", exact=True).click()

    assert page.get_by_role("heading", name="Patients").is_visible()
    assert page.get_by_role("link", name=t.patient_a.label).is_visible()
    assert page.get_by_role("cell", name="BETA").count() == 0
    page.goto(f"/patients/{t.patient_b.pk}/")
    assert page.get_by_role("heading", name="Page not found").is_visible()


def test_wrong_password_is_explained(page, two_site_trial):
    login(page, two_site_trial.coordinator_a.email, "not-the-password")

    assert page.get_by_role("alert").first.is_visible()
    assert "/accounts/login/" in page.url
