"""``bench.export.measure_export`` on a small trial: the structure and the patient count (the
timings themselves are issue #10's to judge, not a test's)."""

import datetime as dt

import pytest

from bench.export import baseline_fits, baseline_frame, measure_export
from tests.response.factories import serum_course, set_design
from tests.survival.factories import alive, died, dose, study_patient

pytestmark = pytest.mark.django_db

D = dt.date
START = D(2024, 1, 8)
CUT = D(2024, 12, 31)


def test_measure_export_times_the_export_and_the_baseline(ipd, media_root):
    from response.services import response_evaluate_patient

    set_design(ipd.trial, criteria="IMWG2016")
    for number in range(1, 51):
        patient = study_patient(ipd.trial, ipd.site_a, number, dose_level=1 + number % 2)
        dose(patient, START)
        if number % 5 == 0:
            serum_course(patient, START, [1.2, 1.0, 2.0, 2.4])
            response_evaluate_patient(patient_id=patient.pk)
        if number % 3 == 0:
            died(patient, START + dt.timedelta(days=30 + number))
        else:
            alive(patient, START + dt.timedelta(days=60 + number))

    result = measure_export("IPD", data_cut=CUT)

    assert set(result) == {"patients", "seconds", "baseline_seconds"}
    assert result["patients"] == 50
    assert result["seconds"] > 0 and result["baseline_seconds"] > 0
    frame = baseline_frame(ipd.trial, CUT)
    assert len(frame) == 50
    assert frame["progression"].notna().sum() == 10  # PD 2024-04-01, confirmed 2024-04-29
    fits = baseline_fits(frame)
    assert set(fits) == {"TTP", "PFS", "DOR", "OS", "follow_up"}
