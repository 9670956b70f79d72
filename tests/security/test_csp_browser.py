"""The Content-Security-Policy holds in a real browser: the pages still work under it.

Chromium reports every blocked script, style or image on the console; the Swagger UI page and
the Django admin must run with none blocked.
"""

import pytest

from tests.conftest import TwoSiteTrial
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _collect_csp_violations(page) -> list[str]:
    violations: list[str] = []
    page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    return violations


def test_swagger_ui_runs_under_the_policy(page, two_site_trial: TwoSiteTrial, password):
    violations = _collect_csp_violations(page)
    login(page, two_site_trial.coordinator_a.email, password)

    response = page.goto("/api/docs/")
    page.get_by_text("/api/patients/", exact=True).first.wait_for()

    assert "'nonce-" in response.headers["content-security-policy"]
    assert violations == []


def test_django_admin_runs_under_the_policy(page, django_user_model, password):
    django_user_model.objects.create_superuser(
        email="root@example.org", password=password, full_name="Root"
    )
    violations = _collect_csp_violations(page)

    page.goto("/admin/login/")
    page.get_by_label("Email").fill("root@example.org")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Site administration").wait_for()
    page.goto("/admin/auth/group/add/")  # the two-box permission picker is admin JavaScript
    page.get_by_placeholder("Filter", exact=True).first.wait_for()  # drawn by SelectFilter2.js
    page.goto("/admin/trials/user/")
    page.get_by_role("heading", name="Select user to change").wait_for()

    assert violations == []
