"""Saving the visit form costs the same number of queries whatever the number of labs entered:
the labs are read, inserted, updated and graded together, not one by one.

The CTCAE grading hook (``safety.services.safety_grade_lab_results``) is called once per save
with every lab's id, and its queries are counted with the rest of the save: it reads the
terms, the baselines and the existing suggestions in one query each and writes the
suggestions in one insert and one update, whatever the number of labs.
"""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from safety.models import LabGradeSuggestion
from tests.conftest import client_for
from tests.factories import days_ago, enrolled_patient
from trials import services
from trials.audit import history_for
from trials.models import LabResult, Visit

pytestmark = pytest.mark.django_db

#: Canonical-unit values, all within the normal range (no CTCAE suggestion is created). The
#: first seven are every analyte CTCAE v5.0 grades (creatinine with its baseline lookup); the
#: eighth is not graded.
LABS = {
    "ANC": ("3.1", "10^9/L"),
    "CREAT": ("0.9", "mg/dL"),
    "PLT": ("210", "10^9/L"),
    "HGB": ("12.5", "g/dL"),
    "WBC": ("6.2", "10^9/L"),
    "LYMPH": ("1.8", "10^9/L"),
    "CA": ("9.4", "mg/dL"),
    "UPEP_M": ("150", "mg/24h"),
}
#: The same analytes at CTCAE grade >= 3, each graded one suggested as an adverse event. A
#: correction by x1.1 keeps all but haemoglobin at grade >= 3 (their pending suggestions are
#: updated); haemoglobin 8.25 g/dL is grade 2 (its suggestion is withdrawn).
TOXIC_LABS = {
    "ANC": ("0.4", "10^9/L"),
    "CREAT": ("4.0", "mg/dL"),
    "PLT": ("24", "10^9/L"),
    "HGB": ("7.5", "g/dL"),
    "WBC": ("1.5", "10^9/L"),
    "LYMPH": ("0.4", "10^9/L"),
    "CA": ("13.6", "mg/dL"),
    "UPEP_M": ("150", "mg/24h"),
}
GRADED = {"ANC", "CREAT", "PLT", "HGB", "WBC", "LYMPH", "CA"}
DOSES = {"IXA": "3", "POM": "4", "DEX": "40"}


@pytest.fixture
def ctcae(db):
    """The CTCAE v5.0 rows (a data migration's, put back if a transactional test flushed them):
    without them nothing is graded."""
    from safety.models import CtcaeTerm
    from safety.services import ctcae_dictionary_install

    if not CtcaeTerm.objects.filter(version="5.0").exists():
        ctcae_dictionary_install(version="5.0", acting_user=None)


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
    """Wraps the grading hook: the lab ids of each call."""

    def __init__(self, real):
        self.real = real
        self.calls: list[list[int]] = []

    def __call__(self, **kwargs):
        self.calls.append(sorted(kwargs["lab_result_ids"]))
        return self.real(**kwargs)


def _save(client, visit: Visit, data: dict, spy: _GradingSpy) -> int:
    """The queries of one whole visit-form save, grading included; grading called once."""
    spy.calls = []
    with CaptureQueriesContext(connection) as ctx:
        response = client.post(reverse("visit_record", args=[visit.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert spy.calls == [sorted(LabResult.objects.filter(visit=visit).values_list("pk", flat=True))]
    return len(ctx.captured_queries)


def _c1d1(t) -> Visit:
    patient = enrolled_patient(t.trial, t.site_a, t.coordinator_a, planned_start_date=days_ago(20))
    return Visit.objects.get(patient=patient, code="C1D1")


def _suggestions(visit: Visit) -> dict[str, str]:
    return dict(
        LabGradeSuggestion.objects.filter(lab_result__visit=visit).values_list(
            "lab_result__analyte", "status"
        )
    )


@pytest.fixture
def saving(ipd, ctcae, monkeypatch):
    """(trial, coordinator's client, grading spy) in phase II, where the coordinator picks the
    level (the patients need no escalation slot)."""
    t = ipd
    services.trial_transition(
        trial=t.trial, to_status="phase_ii", acting_user=t.trial_admin, reason="RP2D"
    )
    monkeypatch.setattr("config.enqueue.send_quietly", lambda *args, **kwargs: True)
    from safety import services as safety_services

    spy = _GradingSpy(safety_services.safety_grade_lab_results)
    monkeypatch.setattr(safety_services, "safety_grade_lab_results", spy)
    return t, client_for(t.coordinator_a), spy


@pytest.mark.parametrize("values", [LABS, TOXIC_LABS], ids=["normal", "grade-3-plus"])
def test_visit_save_query_count_does_not_grow_with_the_labs(saving, values):
    t, client, spy = saving
    few, many = dict(list(values.items())[:2]), values
    assert (len(few), len(many)) == (2, 8)
    assert (len(few.keys() & GRADED), len(many.keys() & GRADED)) == (2, 7)
    toxic = values is TOXIC_LABS
    warm_up = _c1d1(t)
    _save(client, warm_up, _form(warm_up, few), spy)  # the first request fills caches

    two, eight = _c1d1(t), _c1d1(t)
    first_save = {
        n: _save(client, v, _form(v, labs), spy) for n, v, labs in ((2, two, few), (8, eight, many))
    }

    assert LabResult.objects.filter(visit=two).count() == 2
    assert LabResult.objects.filter(visit=eight).count() == 8
    pending = {code: "pending" for code in many if code in GRADED}
    assert _suggestions(two) == ({"ANC": "pending", "CREAT": "pending"} if toxic else {})
    assert _suggestions(eight) == (pending if toxic else {})
    assert first_save[2] == first_save[8], first_save

    # A correction of every lab (an update of each row, with the reason; for grade >= 3 labs,
    # an update or withdrawal of each suggestion) is constant too.
    corrections = {}
    for n, visit, labs in ((2, two, few), (8, eight, many)):
        visit.refresh_from_db()
        data = _form(visit, labs, scale=Decimal("1.1"))
        data["reason"] = "transcription error"
        corrections[n] = _save(client, visit, data, spy)
    assert corrections[2] == corrections[8], corrections

    if toxic:
        assert _suggestions(two) == {"ANC": "pending", "CREAT": "pending"}
        assert _suggestions(eight) == pending | {"HGB": "withdrawn"}
        anc = LabGradeSuggestion.objects.get(lab_result__visit=eight, lab_result__analyte="ANC")
        assert (anc.value, anc.grade, anc.version) == (Decimal("0.44"), 4, 2)
        hgb = LabGradeSuggestion.objects.get(lab_result__visit=eight, lab_result__analyte="HGB")
        assert (hgb.value, hgb.grade, hgb.version) == (Decimal("7.5"), 3, 2)
        # The bulk writes are audited row by row by the triggers, with the grading's reason.
        labels = [(e.label, e.reason, e.user_id) for e in history_for(hgb)]
        assert labels == [
            ("insert", "lab result graded (CTCAE)", t.coordinator_a.pk),
            ("update", "lab result graded (CTCAE)", t.coordinator_a.pk),
        ]
    else:
        assert _suggestions(two) == _suggestions(eight) == {}

    lab = LabResult.objects.get(visit=eight, analyte="UPEP_M")
    assert (lab.value, lab.version) == (Decimal("165.0"), 2)
    reasons = [(e.label, e.reason, e.user_id) for e in history_for(lab)]
    assert reasons == [
        ("insert", "lab result recorded", t.coordinator_a.pk),
        ("update", "transcription error", t.coordinator_a.pk),
    ]
