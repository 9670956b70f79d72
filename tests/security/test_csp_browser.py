"""The Content-Security-Policy holds in a real browser: the pages still work under it.

Chromium reports every blocked script, style or image on the console; the Swagger UI page and
the Django admin must run with none blocked.

Playwright runs in a thread of its own here, so these tests never meet the end-to-end suite's
session-wide browser (two sync Playwright sessions cannot share a thread).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import TwoSiteTrial
from tests.e2e.conftest import CHROMIUM_ARGS, chromium_path, login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def in_browser(base_url: str, steps: Callable[[Any, list[str]], Any]) -> list[str]:
    """Run ``steps(page, violations)`` in a fresh Chromium; return the CSP violations seen."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        from playwright.sync_api import sync_playwright

        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
                context = browser.new_context(base_url=base_url)
                context.set_default_timeout(15_000)
                page = context.new_page()
                violations: list[str] = []
                page.on(
                    "console",
                    lambda msg: (
                        violations.append(msg.text)
                        if "Content Security Policy" in msg.text
                        else None
                    ),
                )
                outcome["result"] = steps(page, violations)
                outcome["violations"] = violations
                browser.close()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=120)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["violations"]


def test_swagger_ui_runs_under_the_policy(live_server, two_site_trial: TwoSiteTrial, password):
    headers: dict[str, str] = {}

    def steps(page, violations):
        login(page, two_site_trial.coordinator_a.email, password)
        response = page.goto("/api/docs/")
        headers.update(response.headers)
        page.get_by_text("/api/patients/", exact=True).first.wait_for()

    violations = in_browser(live_server.url, steps)

    assert "'nonce-" in headers["content-security-policy"]
    assert violations == []


def test_django_admin_runs_under_the_policy(live_server, django_user_model, password):
    django_user_model.objects.create_superuser(
        email="root@example.org", password=password, full_name="Root"
    )

    def steps(page, violations):
        page.goto("/admin/login/")
        page.get_by_label("Email").fill("root@example.org")
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("heading", name="Site administration").wait_for()
        page.goto("/admin/auth/group/add/")
        page.get_by_placeholder("Filter", exact=True).first.wait_for()  # drawn by SelectFilter2.js
        page.goto("/admin/trials/user/")
        page.get_by_role("heading", name="Select user to change").wait_for()

    violations = in_browser(live_server.url, steps)

    assert violations == []
