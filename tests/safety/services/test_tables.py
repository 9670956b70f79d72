"""The safety tables as papers report them: AEs by term and worst grade (all grades and
grade >= 3), overall and by dose level, and the DLT listing per dose level (trial A: the DL1
patient with grade 3 fatigue, grade 3 lung infection, grade 4 neutropenia and grade 4
thrombocytopenia)."""

import pytest

from safety import selectors, services
from safety.models import PotentialDlt
from safety.services import AttributionInput, GradeChange
from tests.factories import days_ago
from tests.safety.factories import FULL_C1_DOSES, POM_DEX, dosed_patient, record_visit

pytestmark = pytest.mark.django_db

POSSIBLE = [AttributionInput("IXA", "possible"), AttributionInput("POM", "possible")]


def completed_without_dlt(t, site, coordinator):
    patient = dosed_patient(t, first_dose_days_ago=25, site=site, coordinator=coordinator)
    record_visit(patient, "C1D8", days_ago(18), coordinator, FULL_C1_DOSES)
    record_visit(patient, "C1D15", days_ago(11), coordinator, POM_DEX)
    return patient


@pytest.fixture
def trial_a_dl1(ipd):
    """Trial A's DL1 as published: one patient with four DLTs, the others without."""
    t = ipd
    dlt_patient = dosed_patient(t, first_dose_days_ago=20)
    for term, onset, grade, later in (
        ("Fatigue", 14, 3, []),
        ("Lung infection", 12, 3, []),
        ("Neutrophil count decreased", 13, 3, [GradeChange(days_ago(11), 4)]),
        ("Platelet count decreased", 11, 4, []),
        ("Anemia", 16, 2, []),
    ):
        services.adverse_event_create(
            patient=dlt_patient,
            term=term,
            onset_date=days_ago(onset),
            grade=grade,
            grade_changes=later,
            attributions=POSSIBLE,
            acting_user=t.coordinator_a,
        )
    for potential in PotentialDlt.objects.all():
        services.potential_dlt_adjudicate(
            potential_dlt=potential,
            decision="confirmed",
            reason="protocol DLT",
            signer=t.investigator,
            meaning="I confirm this DLT",
            acting_user=t.investigator,
            expected_version=potential.version,
        )
    others = [
        completed_without_dlt(t, t.site_a, t.coordinator_a),
        completed_without_dlt(t, t.site_b, t.coordinator_b),
    ]
    services.adverse_event_create(
        patient=others[0],
        term="Anemia",
        onset_date=days_ago(20),
        grade=3,
        attributions=[AttributionInput("POM", "unlikely")],
        acting_user=t.coordinator_a,
    )
    return t, dlt_patient, others


def test_the_dlt_listing_reads_as_the_paper_reports_it(trial_a_dl1):
    t, dlt_patient, _ = trial_a_dl1

    (dl1,) = selectors.dlt_listing(t.trial)

    assert (dl1.treated, dl1.evaluable, dl1.with_dlt) == (3, 3, 1)
    assert dl1.text == (
        "DL1: 1/3 (grade 3 fatigue, grade 3 lung infection, grade 4 neutropenia, "
        "grade 4 thrombocytopenia)"
    )
    assert dl1.patients[0].patient_label == dlt_patient.label


def test_the_ae_table_counts_patients_at_their_worst_grade(trial_a_dl1):
    t, _, _ = trial_a_dl1

    overall, by_level = selectors.ae_tables(t.trial)

    rows = {r.term: r for r in overall.rows}
    assert overall.n_patients == 3
    assert (rows["Anemia"].all_grades, rows["Anemia"].grade_3_plus) == (2, 1)
    assert rows["Anemia"].by_grade == {1: 0, 2: 1, 3: 1, 4: 0, 5: 0}
    assert rows["Neutrophil count decreased"].by_grade[4] == 1
    assert rows["Neutrophil count decreased"].by_grade[3] == 0  # worst grade only
    ((level, table),) = by_level
    assert (level.display_label, table.n_patients) == ("DL1", 3)
    assert [r.term for r in table.rows] == [r.term for r in overall.rows]


def test_tables_take_a_constant_number_of_queries(trial_a_dl1, django_assert_num_queries):
    t, _, _ = trial_a_dl1

    with django_assert_num_queries(3):
        selectors.ae_tables(t.trial)
    with django_assert_num_queries(2):
        selectors.dlt_listing(t.trial)
