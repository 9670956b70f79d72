"""The worklist's order and columns, computed from the visits, whatever the way it is read:
the whole queryset, page by page (``WorklistPages``), the "My patients" page and the API."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.conftest import api_client_for, client_for
from tests.factories import days_ago, enrolled_patient, screen_patient
from trials import selectors, services
from trials.models import Visit

pytestmark = pytest.mark.django_db

COLUMNS = (
    "overdue_count",
    "next_visit_code",
    "next_visit_date",
    "next_window_end",
    "can_see_identifiers",
    "can_write",
)


@pytest.fixture
def worklist(ipd):
    """Phase II (any number of patients per level), patients at both sites with no, some and
    many overdue visits, visits due soon or later, one visit recorded, and a screening patient
    without planned visits."""
    t = ipd
    services.trial_transition(
        trial=t.trial, to_status="phase_ii", acting_user=t.trial_admin, reason="RP2D"
    )
    for site, user in ((t.site_a, t.coordinator_a), (t.site_b, t.coordinator_b)):
        for start in (40, 20, 20, 3, 0, -10):
            enrolled_patient(
                t.trial,
                site,
                user,
                consent_date=days_ago(60),
                enrolment_date=days_ago(50),
                planned_start_date=days_ago(start),
            )
        screen_patient(t.trial, site, user)
    recorded = enrolled_patient(t.trial, t.site_a, t.coordinator_a, planned_start_date=days_ago(20))
    services.visit_record(
        visit=Visit.objects.get(patient=recorded, code="C1D1"),
        visit_date=days_ago(20),
        acting_user=t.coordinator_a,
        expected_version=1,
    )
    return t


def expected_order(patients) -> list[int]:
    """The documented key, computed in Python from each patient's planned visits."""
    today = timezone.localdate()

    def key(patient):
        planned = Visit.objects.filter(patient=patient, status="planned")
        overdue = sum(1 for v in planned if v.window_end and v.window_end < today)
        open_dates = [v.planned_date for v in planned if v.window_end and v.window_end >= today]
        next_date = min((d for d in open_dates if d), default=None) or date.max
        return (
            -overdue,
            next_date,
            patient.trial.code,
            patient.site.code,
            patient.screening_number,
        )

    return [p.pk for p in sorted(patients, key=key)]


@pytest.mark.parametrize("who", ["coordinator_a", "investigator", "trial_admin"])
def test_pages_of_the_worklist_are_the_worklist_cut_in_pages(worklist, who):
    user = getattr(worklist, who)
    today = timezone.localdate()
    whole = list(selectors.patient_worklist(user, today=today))
    pages = selectors.patient_worklist_pages(user, today=today)

    assert [p.pk for p in whole] == expected_order(selectors.patients_for_user(user))
    assert pages.count() == len(whole) > 3
    paged = [p for start in range(0, len(whole), 3) for p in pages[start : start + 3]]
    assert [p.pk for p in paged] == [p.pk for p in whole]
    for row, expected in zip(paged, whole, strict=True):
        assert {c: getattr(row, c) for c in COLUMNS} == {c: getattr(expected, c) for c in COLUMNS}
    assert any(p.overdue_count for p in whole)
    assert any(p.next_visit_code for p in whole)
    assert any(p.next_visit_code is None for p in whole)


def test_pages_keep_the_filters(worklist):
    t = worklist
    today = timezone.localdate()
    filters = {"trial": t.trial, "site": t.site_b, "statuses": ["enrolled"]}
    whole = list(selectors.patient_worklist(t.trial_admin, today=today, **filters))
    pages = selectors.patient_worklist_pages(t.trial_admin, today=today, **filters)

    assert [p.pk for p in pages[0:50]] == [p.pk for p in whole]
    assert pages.count() == len(whole) > 0
    assert {p.site_id for p in whole} == {t.site_b.pk}


def test_the_page_and_the_api_list_the_worklist_in_order(worklist):
    t = worklist
    expected = [
        p.pk for p in selectors.patient_worklist(t.coordinator_a, today=timezone.localdate())
    ]

    page = client_for(t.coordinator_a).get(reverse("patient_list"))
    api = api_client_for(t.coordinator_a).get("/api/patients/").json()

    assert [p.pk for p in page.context["patients"]] == expected
    assert page.context["page"].paginator.count == len(expected)
    assert [row["id"] for row in api["results"]] == expected
    assert api["count"] == len(expected)


def test_a_page_reads_the_users_roles_once(worklist):
    """The navigation and the two-factor banner both need the roles: one query."""
    client = client_for(worklist.investigator)

    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("patient_list"))

    assert response.status_code == 200
    assert "Set up two-factor authentication" in response.content.decode()
    role_reads = [
        q["sql"] for q in queries if q["sql"].startswith('SELECT "trials_membership"."role"')
    ]
    assert len(role_reads) == 1


def test_the_page_filters_by_one_of_the_users_trials(worklist):
    client = client_for(worklist.coordinator_a)

    shown = client.get(reverse("patient_list"), {"trial": "IPD", "site": "ALPHA"})
    unknown = client.get(reverse("patient_list"), {"trial": "NOPE"})

    assert shown.status_code == 200
    assert shown.context["trial"] == worklist.trial
    assert {p.site_id for p in shown.context["patients"]} == {worklist.site_a.pk}
    assert unknown.status_code == 404
