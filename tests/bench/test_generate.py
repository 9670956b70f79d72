"""The benchmark generator on the test database (the ``tiny`` scale): counts, referential
integrity, the targets, and that the app's pages and services work on the generated data."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection

from bench.generate import (
    COHORT,
    SCALES,
    BenchDatabaseError,
    _clinical_models,
    generate,
    load_targets,
)
from bench.imwg import measure_imwg
from bench.queries import PAGES, count_queries
from dosing.models import (
    MAX_SEATS,
    DecisionKind,
    DecisionStatus,
    EscalationDecision,
    EscalationStage,
    SlotAssignment,
    SlotKind,
)
from dosing.selectors import escalation_input, escalation_of
from tests.conftest import client_for
from tests.factories import PatientFactory, enrolled_patient
from trials.models import LabResult, Patient, Site, Trial, TrialSite, TrialStatus, User, Visit

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

    # Phase II after the signed RP2D: enrolment gives the RP2D, with a phase II slot.
    patient = enrolled_patient(trial, site, coordinator, dose_level=None)

    assert patient.study_id == expected
    assert patient.dose_level.number == escalation_of(trial).rp2d_level_number
    assert patient.dose_slot.kind == SlotKind.PHASE_II
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


def test_every_enrolled_patient_holds_the_slot_enrolment_would_have_given(tiny):
    enrolled = Patient.objects.filter(study_id__isnull=False)
    slots = SlotAssignment.objects.all()

    assert slots.count() == enrolled.count()
    assert not Patient.objects.filter(study_id__isnull=True, dose_level__isnull=False).exists()
    for slot in slots.select_related("patient"):
        assert slot.dose_level_id == slot.patient.dose_level_id
        assert slot.trial_id == slot.patient.trial_id
    for trial in Trial.objects.all():
        phase_one = slots.filter(trial=trial, kind=SlotKind.ESCALATION)
        for level in {s.level_number for s in phase_one}:
            at_level = phase_one.filter(level_number=level)
            assert at_level.count() <= MAX_SEATS
            assert sorted(at_level.values_list("seat", flat=True)) == list(
                range(1, at_level.count() + 1)
            )


def test_the_large_trial_escalated_then_enrols_phase_ii_at_the_signed_rp2d(tiny):
    trial = Trial.objects.get(code=tiny["targets"]["large_trial_code"])
    esc = escalation_of(trial)
    data = escalation_input(trial)  # raises on a configuration error

    assert trial.status == TrialStatus.PHASE_II
    assert esc.stage == EscalationStage.RP2D_DECLARED
    assert esc.open_level_number is None
    rp2d = EscalationDecision.objects.get(trial=trial, kind=DecisionKind.RP2D)
    assert rp2d.status == DecisionStatus.SIGNED
    assert rp2d.recommended_level_number == esc.rp2d_level_number
    assert rp2d.signatures.count() == 1
    # Phase I: three patients per level, six at the top (the MTD = the RP2D).
    counts = {level.number: data.occupied(level.number) for level in data.levels}
    assert counts == {-1: 0, 1: COHORT, 2: 2 * COHORT}
    assert data.state.current_level == esc.rp2d_level_number
    phase_two = SlotAssignment.objects.filter(trial=trial, kind=SlotKind.PHASE_II)
    assert phase_two.count() == (
        Patient.objects.filter(trial=trial, study_id__isnull=False).count() - 3 * COHORT
    )
    assert set(phase_two.values_list("level_number", flat=True)) == {esc.rp2d_level_number}
    assert phase_two.filter(patient_id=tiny["targets"]["patient_id"]).exists()
    assert not phase_two.filter(seat__isnull=False).exists()
    assert set(phase_two.values_list("step", flat=True)) == {esc.step}


def test_every_trial_escalation_reads_without_a_configuration_error(tiny):
    for trial in Trial.objects.all():
        esc = escalation_of(trial)
        data = escalation_input(trial)
        assert esc is not None
        if esc.stage == EscalationStage.ESCALATING:
            assert trial.status == TrialStatus.PHASE_I
            assert data.occupied(esc.open_level_number) <= esc.cohort_target
            assert not trial.dose_slots.filter(kind=SlotKind.PHASE_II).exists()


def test_the_dose_grid_page_shows_the_real_grid(tiny):
    t = tiny["targets"]
    investigator = User.objects.get(pk=t["users"]["investigator"]["id"])

    page = client_for(investigator).get(f"/dosing/{t['large_trial_code']}/")

    assert page.status_code == 200
    assert page.context["config_error"] is None
    assert "cannot be evaluated" not in page.content.decode()
    assert [row.level.number for row in page.context["grid"]] == [2, 1, -1]
    assert page.context["phase_ii_count"] > 0


def test_the_target_patient_is_the_same_at_every_scale(db):
    def target(seed: int) -> list[tuple]:
        generate(scale="tiny", seed=seed)
        visits = list(
            Visit.objects.filter(patient_id=1)
            .order_by("pk")
            .values_list("pk", "code", "visit_date", "status", "weight_kg")
        )
        labs = list(
            LabResult.objects.filter(patient_id=1)
            .order_by("pk")
            .values_list("pk", "visit_id", "analyte", "collected_on", "value", "category")
        )
        return [*visits, *labs]

    # Another seed draws everything else differently, as another scale does.
    assert target(3) == target(4)
