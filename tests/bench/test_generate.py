"""The benchmark generator on the test database (the ``tiny`` scale): counts, referential
integrity, the targets, and that the app's pages and services work on the generated data."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection

from bench.generate import (
    SCALES,
    BenchDatabaseError,
    _clinical_models,
    generate,
    load_targets,
)
from bench.imwg import measure_imwg
from bench.queries import PAGES, count_queries
from tests.conftest import client_for
from tests.factories import PatientFactory, enrolled_patient
from trials.models import LabResult, Patient, Site, Trial, TrialSite, User, Visit

pytestmark = pytest.mark.django_db

SPEC = SCALES["tiny"]


@pytest.fixture
def tiny() -> dict:
    return generate(scale="tiny", seed=3)


def _scalar(sql: str, params=()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def test_the_counts_are_the_scale_and_are_counted_in_the_database(tiny):
    assert tiny["counts"] == {
        "trials": SPEC.trials,
        "sites": SPEC.sites,
        "patients": SPEC.patients,
        "visits": SPEC.visits,
        "lab_results": SPEC.labs,
        "adverse_events": SPEC.adverse_events,
        "response_assessments": SPEC.assessments,
    }
    assert Patient.objects.count() == SPEC.patients
    assert load_targets("tiny")["counts"] == tiny["counts"]


def test_the_target_objects_have_their_sizes(tiny):
    t = tiny["targets"]
    patient = Patient.objects.get(pk=t["patient_id"])

    assert Patient.objects.filter(
        site_id=t["site_id"], trial__code=t["site_trial_code"]
    ).count() == (SPEC.big_site_patients)
    assert Patient.objects.filter(trial__code=t["large_trial_code"]).count() == (
        SPEC.large_trial_patients
    )
    assert patient.site_id == t["site_id"]
    assert patient.visits.count() == SPEC.target_visits
    assert patient.adverse_events.count() == SPEC.target_adverse_events
    assert patient.lab_results.count() == SPEC.target_labs
    assert Visit.objects.get(pk=t["visit_id"]).patient_id == patient.pk


def test_every_foreign_key_points_at_a_row(tiny):
    checked = 0
    for model in _clinical_models():
        for field in model._meta.concrete_fields:
            if not field.is_relation or not field.db_constraint:
                continue
            target = field.related_model
            orphans = _scalar(
                f'SELECT count(*) FROM "{model._meta.db_table}" x '  # noqa: S608
                f'LEFT JOIN "{target._meta.db_table}" y '
                f'ON y."{field.target_field.column}" = x."{field.column}" '
                f'WHERE x."{field.column}" IS NOT NULL AND y."{field.target_field.column}" IS NULL'
            )
            assert orphans == 0, f"{model.__name__}.{field.name}"
            checked += 1
    assert checked > 30


def test_the_copied_rows_keep_the_rules_the_triggers_enforce(tiny):
    # The grade trigger did not fire during the load: the generator must have kept its rule.
    assert (
        _scalar(
            "SELECT count(*) FROM safety_adverseevent ae JOIN safety_ctcaeterm t "
            "ON t.id = ae.ctcae_term_id WHERE NOT (ae.max_grade = ANY(t.allowed_grades)) "
            "OR ae.term <> t.term OR ae.meddra_code <> t.meddra_code"
        )
        == 0
    )
    assert _scalar("SHOW session_replication_role") == "origin"
    # Study ids follow the service's format and the counters continue after them.
    for ts in TrialSite.objects.select_related("trial"):
        enrolled = Patient.objects.filter(
            trial=ts.trial, site=ts.site, study_id__isnull=False
        ).count()
        screened = Patient.objects.filter(trial=ts.trial, site=ts.site).count()
        assert ts.next_study_number == enrolled + 1
        assert ts.next_screening_number == screened + 1


def test_a_new_enrolment_gets_the_next_study_id(tiny):
    t = tiny["targets"]
    trial = Trial.objects.get(code=t["large_trial_code"])
    site = Site.objects.get(pk=t["site_id"])
    ts = TrialSite.objects.get(trial=trial, site=site)
    coordinator = User.objects.get(pk=t["users"]["coordinator"]["id"])
    expected = f"{trial.code}-{ts.number}-{ts.next_study_number:03d}"

    patient = enrolled_patient(trial, site, coordinator)

    assert patient.study_id == expected
    assert patient.screening_number == f"{ts.next_screening_number:03d}"
    assert Visit.objects.filter(patient=patient, code="C1D1").exists()  # new ids are free


def test_the_pages_work_and_their_queries_are_counted(tiny):
    t = tiny["targets"]
    coordinator = User.objects.get(pk=t["users"]["coordinator"]["id"])
    client = client_for(coordinator)

    listing = client.get(f"/patients/?trial={t['site_trial_code']}&site={t['site_code']}")
    detail = client.get(f"/patients/{t['patient_id']}/")
    counts = count_queries(t)

    assert listing.status_code == 200
    assert detail.status_code == 200
    assert set(counts) == set(PAGES)
    assert all(n > 0 for n in counts.values())
    assert Visit.objects.get(pk=t["visit_id"]).version == 2  # the save went through


def test_imwg_recomputes_every_patient_with_labs(tiny):
    result = measure_imwg()

    assert result["patients"] > 0
    assert result["assessments"] > result["patients"]
    assert measure_imwg(tiny["targets"]["large_trial_code"])["patients"] < result["patients"]


def test_the_schema_is_left_as_it_was(db):
    sql = (
        "SELECT array_agg(indexdef ORDER BY indexname)::text FROM pg_indexes "
        "WHERE schemaname = 'public'"
    )
    before = _scalar(sql)

    generate(scale="tiny")

    assert _scalar(sql) == before
    assert _scalar("SHOW session_replication_role") == "origin"


def test_a_database_with_other_patients_is_refused(db):
    PatientFactory()

    with pytest.raises(BenchDatabaseError, match="not benchmark data"):
        generate(scale="tiny")


def test_generating_again_replaces_the_bench_data(tiny):
    again = generate(scale="tiny", seed=3)

    assert again["counts"] == tiny["counts"]
    assert again["targets"] == tiny["targets"]
    assert LabResult.objects.order_by("pk").first().pk == 1
    assert apps.get_model("trials", "PatientEvent").objects.count() == 0  # no audit of the load
