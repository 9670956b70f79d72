"""SQL queries per page, in process, on whatever database is configured.

    DATABASE_NAME=trialdesk_bench python -m bench.queries --scale large

Each page is requested through ``django.test.Client`` as the generated bench user who uses it
(``force_login``), under ``CaptureQueriesContext``. A page whose count differs between the
small and the large dataset is one whose queries grow with the data (an N+1).

Pages: the coordinator's patient list for the 500-patient site, the 30-visit / 50-AE / 200-lab
patient's page, saving one of that patient's recorded visits (a correction, so it needs a
reason; the POST carries the form as the page rendered it), the investigator's dose-level grid
of the large trial, and the API patient list (the statistician, the whole large trial).
"""

from __future__ import annotations

import argparse
import json
import os
from html.parser import HTMLParser
from typing import Any

PAGES = ("patient_list", "patient_detail", "visit_save", "dose_grid", "api_patients")


class PageError(AssertionError):
    """A page did not answer as a working page does (so its query count means nothing)."""


def _client(user_id: int) -> Any:
    from django.test import Client

    from trials.models import User

    client = Client()
    client.force_login(User.objects.get(pk=user_id))
    return client


def _captured(client: Any, method: str, url: str, expect: tuple[int, ...], **kwargs: Any) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        response = getattr(client, method)(url, **kwargs)
    if response.status_code not in expect:
        raise PageError(f"{method.upper()} {url}: {response.status_code}, expected {expect}")
    return len(ctx.captured_queries)


class _FormFields(HTMLParser):
    """The fields of one ``<form id=...>`` with the values the page rendered in them."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.data: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        if not self.inside or not a.get("name") and tag != "option":
            return
        if tag == "input" and a.get("type") not in ("submit", "button", "checkbox", "radio"):
            self.data[a["name"]] = a.get("value", "")
        elif tag == "input" and a.get("type") in ("checkbox", "radio") and "checked" in a:
            self.data[a["name"]] = a.get("value", "on")
        elif tag == "select":
            self._select = a["name"]
            self.data.setdefault(a["name"], "")
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = a["name"]
            self.data[a["name"]] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.data[self._textarea] += data


def visit_post_data(client: Any, url: str) -> dict[str, str]:
    """The visit form as the page renders it (every field's current value), plus a reason:
    what a coordinator submits when re-saving a recorded visit unchanged."""
    response = client.get(url)
    if response.status_code != 200:
        raise PageError(f"GET {url}: {response.status_code}")
    parser = _FormFields("visit-form")
    parser.feed(response.content.decode())
    data = {k: v.removeprefix("\n") for k, v in parser.data.items()}  # as browsers send it
    data.pop("csrfmiddlewaretoken", None)
    data["reason"] = "benchmark re-save"
    return data


def count_queries(targets: dict) -> dict[str, int]:
    """The number of SQL queries of each page in ``PAGES`` for the generated ``targets``.

    Celery messages are not sent meanwhile (``apply_async`` is a no-op): the broker is the
    main database even when ``DATABASE_NAME`` points at a bench database, and a worker there
    must never receive ids of bench rows. The HTTP harness exercises the real path.
    """
    from unittest import mock

    from celery.app.task import Task

    with mock.patch.object(Task, "apply_async", autospec=True, return_value=None):
        return _count_queries(targets)


def _count_queries(targets: dict) -> dict[str, int]:
    from django.urls import reverse

    users = targets["users"]
    coordinator = _client(users["coordinator"]["id"])
    investigator = _client(users["investigator"]["id"])
    statistician = _client(users["statistician"]["id"])
    trial = targets["large_trial_code"]
    counts: dict[str, int] = {}
    counts["patient_list"] = _captured(
        coordinator,
        "get",
        reverse("patient_list")
        + f"?trial={targets['site_trial_code']}&site={targets['site_code']}",
        (200,),
    )
    counts["patient_detail"] = _captured(
        coordinator, "get", reverse("patient_detail", args=[targets["patient_id"]]), (200,)
    )
    visit_url = reverse("visit_record", args=[targets["visit_id"]])
    data = visit_post_data(coordinator, visit_url)
    counts["visit_save"] = _captured(coordinator, "post", visit_url, (302,), data=data)
    counts["dose_grid"] = _captured(
        investigator, "get", reverse("dosing_escalation", args=[trial]), (200,)
    )
    counts["api_patients"] = _captured(
        statistician, "get", reverse("api-patient-list") + f"?trial={trial}", (200,)
    )
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="SQL queries per page.")
    parser.add_argument("--scale", default="large", help="which targets-<scale>.json to read")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from bench.generate import load_targets

    print(json.dumps(count_queries(load_targets(args.scale)["targets"]), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
