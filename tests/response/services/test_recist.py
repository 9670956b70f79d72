"""RECIST through the services: the baseline selection is held to the version's limits, and the
discriminating lines of the reference (recist-ctcae.md §2) come out of the stored calls."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from response import services
from response.models import PatientResponse, RecistLesion, ResponseTimepoint
from response.services import LesionInput
from tests.response.factories import set_design, treated_patient

pytestmark = pytest.mark.django_db

BASELINE = date(2025, 1, 6)


def recist_trial(t, version: str):
    set_design(t.trial, criteria=f"RECIST{version}", confirmation_required=False)
    return t


def lesion(code, organ="liver", mm="30", kind="target", **kw):
    return LesionInput(
        code=code, kind=kind, organ=organ, baseline_date=BASELINE, baseline_diameter_mm=mm, **kw
    )


def add(t, patient, *lesions):
    for item in lesions:
        services.recist_lesion_add(patient=patient, lesion=item, acting_user=t.coordinator_a)


def course(t, patient, sums_mm, *, non_target="NON_CR_NON_PD", new="NO"):
    """One target lesion T1 measured at successive 8-week assessments."""
    for i, mm in enumerate(sums_mm, start=1):
        services.recist_assessment_record(
            patient=patient,
            assessment_date=BASELINE + timedelta(weeks=8 * i),
            measurements={"T1": mm},
            non_target_status=non_target,
            new_lesions=new,
            acting_user=t.coordinator_a,
        )
    services.response_evaluate_patient(patient_id=patient.pk)
    return list(
        ResponseTimepoint.objects.filter(patient=patient)
        .order_by("assessment_date")
        .values_list("timepoint", flat=True)
    )


@pytest.mark.parametrize(
    ("version", "sums", "expected"),
    [
        # nadir 20 mm, then 24 mm: +20% but only +4 mm
        ("1.0", ["20", "24"], ["PR", "PD"]),
        ("1.1", ["20", "24"], ["PR", "SD"]),
        ("1.0", ["20", "25"], ["PR", "PD"]),
        ("1.1", ["20", "25"], ["PR", "PD"]),
    ],
)
def test_the_five_millimetre_rule_separates_the_versions(two_site_trial, version, sums, expected):
    t = recist_trial(two_site_trial, version)
    patient = treated_patient(t.trial, t.site_a)
    add(t, patient, lesion("T1", mm="30"))

    assert course(t, patient, sums) == expected


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_progression_is_measured_from_the_nadir_not_the_baseline(two_site_trial, version):
    t = recist_trial(two_site_trial, version)
    patient = treated_patient(t.trial, t.site_a)
    add(t, patient, lesion("T1", mm="50"))

    timepoints = course(t, patient, ["30", "36"])

    response = PatientResponse.objects.get(patient=patient)
    assert timepoints == ["PR", "PD"]  # 36 mm is still 28% below baseline
    assert response.progression_date == BASELINE + timedelta(weeks=16)
    assert response.best_overall_response == "PR"
    assert response.best_pct_change == pytest.approx(-40.0)


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_exactly_thirty_percent_is_a_partial_response(two_site_trial, version):
    t = recist_trial(two_site_trial, version)
    patient = treated_patient(t.trial, t.site_a)
    add(t, patient, lesion("T1", mm="50"))

    assert course(t, patient, ["35"]) == ["PR"]


def test_confirmation_when_the_design_asks_for_it(two_site_trial):
    set_design(two_site_trial.trial, criteria="RECIST1.0", confirmation_required=True)
    patient = treated_patient(two_site_trial.trial, two_site_trial.site_a)
    add(two_site_trial, patient, lesion("T1", mm="50"))

    course(two_site_trial, patient, ["30"])
    unconfirmed = PatientResponse.objects.get(patient=patient).best_overall_response
    services.recist_assessment_record(
        patient=patient,
        assessment_date=BASELINE + timedelta(weeks=16),
        measurements={"T1": "30"},
        acting_user=two_site_trial.coordinator_a,
    )
    services.response_evaluate_patient(patient_id=patient.pk)

    assert unconfirmed == "SD"
    assert PatientResponse.objects.get(patient=patient).best_overall_response == "PR"


def test_a_new_lesion_is_progression(two_site_trial):
    t = recist_trial(two_site_trial, "1.1")
    patient = treated_patient(t.trial, t.site_a)
    add(t, patient, lesion("T1", mm="50"))

    assert course(t, patient, ["45"], new="YES") == ["PD"]


def test_re_evaluating_the_same_lesions_writes_nothing(two_site_trial):
    t = recist_trial(two_site_trial, "1.1")
    patient = treated_patient(t.trial, t.site_a)
    add(t, patient, lesion("T1", mm="50"))
    course(t, patient, ["30"])

    assert services.response_evaluate_patient(patient_id=patient.pk).changed is False


# --- Baseline selection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "lesions", "fragment"),
    [
        ("1.1", [lesion("T1"), lesion("T2"), lesion("T3")], "at most 2 per organ"),
        ("1.1", [lesion(f"T{i}", organ=f"organ {i}") for i in range(1, 7)], "at most 5 in total"),
        ("1.1", [lesion("T1", organ="axilla", mm="12", is_node=True)], "cannot be a target"),
        (
            "1.1",
            [lesion("NT1", organ="neck", mm="8", kind="non_target", is_node=True)],
            "normal node",
        ),
        ("1.0", [lesion("T1", mm="15", method="MRI")], "below the 20 mm"),
    ],
)
def test_a_selection_outside_the_version_limits_is_refused(
    two_site_trial, version, lesions, fragment
):
    t = recist_trial(two_site_trial, version)
    patient = treated_patient(t.trial, t.site_a)

    with pytest.raises(ValidationError) as caught:
        add(t, patient, *lesions)

    assert fragment in " ".join(caught.value.message_dict["non_field_errors"])


def test_recist_1_0_allows_five_targets_per_organ(two_site_trial):
    t = recist_trial(two_site_trial, "1.0")
    patient = treated_patient(t.trial, t.site_a)

    add(t, patient, *[lesion(f"T{i}") for i in range(1, 6)])

    assert RecistLesion.objects.filter(patient=patient).count() == 5


def test_lesions_are_entered_by_the_site(two_site_trial):
    t = recist_trial(two_site_trial, "1.1")
    patient = treated_patient(t.trial, t.site_a)

    with pytest.raises(PermissionDenied):
        services.recist_lesion_add(
            patient=patient, lesion=lesion("T1"), acting_user=t.coordinator_b
        )


def test_measurements_are_checked(two_site_trial):
    t = recist_trial(two_site_trial, "1.1")
    patient = treated_patient(t.trial, t.site_a)
    add(t, patient, lesion("T1", mm="50"))

    with pytest.raises(ValidationError) as caught:
        services.recist_assessment_record(
            patient=patient,
            assessment_date=BASELINE + timedelta(weeks=8),
            measurements={"T1": "-3", "T9": "10"},
            acting_user=t.coordinator_a,
        )

    assert set(caught.value.message_dict) == {"measurements.T1", "measurements.T9"}


def test_an_imwg_trial_takes_no_lesions(two_site_trial):
    set_design(two_site_trial.trial, criteria="IMWG2016", nadir_policy="lowest_observed")
    patient = treated_patient(two_site_trial.trial, two_site_trial.site_a)

    with pytest.raises(ValidationError):
        add(two_site_trial, patient, lesion("T1"))
