"""Saving the visit form costs the same number of queries whatever the number of labs entered:
the labs are read, inserted, updated and graded together, not one by one.

The CTCAE grading hook (``safety.services.safety_grade_lab_results``) is called once per save
with every lab's id; the queries it runs itself (a term and a suggestion lookup per gradable
lab) belong to the safety app and are counted apart here.
"""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.conftest import client_for
from tests.factories import days_ago, enrolled_patient
from trials import services
from trials.audit import history_for
from trials.models import LabResult, Visit

pytestmark = pytest.mark.django_db

#: Canonical-unit values, all within the normal range (no CTCAE suggestion is created).
LABS = {
    "ANC": ("3.1", "10^9/L"),
    "PLT": ("210", "10^9/L"),
    "HGB": ("12.5", "g/dL"),
    "WBC": ("6.2", "10^9/L"),
    "LYMPH": ("1.8", "10^9/L"),
    "CA": ("9.4", "mg/dL"),
    "SPEP_M": ("2.1", "g/dL"),
    "UPEP_M": ("150", "mg/24h"),
}
DOSES = {"IXA": "3", "POM": "4", "DEX": "40"}


def _form(visit: Visit, labs: dict[str, tuple[str, str]], *, scale: Decimal = Decimal(1)):
    data = {
        "visit_date": days_ago(20).isoformat(),
        "version": str(visit.version),
        "weight_kg": "70",
        "height_cm": "170",
        "notes": "",
    }
    for code, mg in DOSES.items():
        data[f"dose_{code}_status"] = "given"
        data[f"dose_{code}_mg"] = mg
    for code, (value, unit) in labs.items():
        data[f"lab_{code}_value"] = str(Decimal(value) * scale)
        data[f"lab_{code}_unit"] = unit
    return data


class _GradingSpy:
    """Wraps the grading hook: the ids of each call and the queries the hook ran itself."""

    def __init__(self, real):
        self.real = real
        self.calls: list[list[int]] = []
        self.queries = 0

    def __call__(self, **kwargs):
        self.calls.append(sorted(kwargs["lab_result_ids"]))
        with CaptureQueriesContext(connection) as ctx:
            result = self.real(**kwargs)
        self.queries += len(ctx.captured_queries)
        return result


def _save(client, visit: Visit, data: dict, spy: _GradingSpy) -> int:
    """The queries of one visit-form save, less those of the grading hook; grading once."""
    spy.calls, spy.queries = [], 0
    with CaptureQueriesContext(connection) as ctx:
        response = client.post(reverse("visit_record", args=[visit.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert spy.calls == [sorted(LabResult.objects.filter(visit=visit).values_list("pk", flat=True))]
    return len(ctx.captured_queries) - spy.queries


def _c1d1(t) -> Visit:
    patient = enrolled_patient(t.trial, t.site_a, t.coordinator_a, planned_start_date=days_ago(20))
    return Visit.objects.get(patient=patient, code="C1D1")


def test_visit_save_query_count_does_not_grow_with_the_labs(ipd, monkeypatch):
    t = ipd
    # Phase II: the coordinator picks the level, so the patients need no escalation slot.
    services.trial_transition(
        trial=t.trial, to_status="phase_ii", acting_user=t.trial_admin, reason="RP2D"
    )
    monkeypatch.setattr("config.enqueue.send_quietly", lambda *args, **kwargs: True)
    from safety import services as safety_services

    spy = _GradingSpy(safety_services.safety_grade_lab_results)
    monkeypatch.setattr(safety_services, "safety_grade_lab_results", spy)
    client = client_for(t.coordinator_a)
    few, many = dict(list(LABS.items())[:2]), LABS
    assert (len(few), len(many)) == (2, 8)
    warm_up = _c1d1(t)
    _save(client, warm_up, _form(warm_up, few), spy)  # the first request fills caches

    two, eight = _c1d1(t), _c1d1(t)
    first_save = {
        n: _save(client, v, _form(v, labs), spy) for n, v, labs in ((2, two, few), (8, eight, many))
    }

    assert LabResult.objects.filter(visit=two).count() == 2
    assert LabResult.objects.filter(visit=eight).count() == 8
    assert first_save[2] == first_save[8], first_save

    # A correction of every lab (an update of each row, with the reason) is constant too.
    corrections = {}
    for n, visit, labs in ((2, two, few), (8, eight, many)):
        visit.refresh_from_db()
        data = _form(visit, labs, scale=Decimal("1.1"))
        data["reason"] = "transcription error"
        corrections[n] = _save(client, visit, data, spy)
    assert corrections[2] == corrections[8], corrections

    lab = LabResult.objects.get(visit=eight, analyte="UPEP_M")
    assert (lab.value, lab.version) == (Decimal("165.0"), 2)
    reasons = [(e.label, e.reason, e.user_id) for e in history_for(lab)]
    assert reasons == [
        ("insert", "lab result recorded", t.coordinator_a.pk),
        ("update", "transcription error", t.coordinator_a.pk),
    ]
