"""A trial's analysis from its inputs: fits overall and by dose level, follow-up, ORR, frames.

Reference values: TrialDesk the dose-finding reference notes, §4.2 (the toy vector: KM
median 240 days, 95% CI 60–NR log-log, S(180) = 0.5291; reverse-KM median follow-up 300 days,
lower limit 120) and §4.1 (Clopper–Pearson 1/10 → 0.0025–0.4450).
"""

import dataclasses
import datetime as dt

import pandas as pd
import pytest

from survival.domain.analysis import DATASET_NAMES, analyse
from survival.domain.endpoints import ResponseAssessment, SourcedDate
from survival.domain.inputs import PatientResponse, TrialInputs
from survival.domain.km import CI_METHOD
from tests.survival.factories import toy_patient

D = dt.date


def test_overall_os_reproduces_the_reference_toy_vector(toy):
    os_fit = toy.overall("OS")

    assert (os_fit.n, os_fit.events, os_fit.group) == (12, 6, "ALL")
    assert os_fit.median.days == 240
    assert os_fit.median.lcl_days == 60
    assert os_fit.median.ucl_days is None  # not reached
    assert os_fit.ci_method == CI_METHOD


def test_median_follow_up_by_reverse_km_reproduces_the_reference(toy):
    assert toy.follow_up.days == 300
    assert toy.follow_up.lcl_days == 120
    assert toy.follow_up.ucl_days is None


def test_fits_by_dose_level_only_for_levels_with_patients(toy):
    groups = [f.group for f in toy.fits_for("OS", by_dose_level=True)]

    assert groups == ["DL1", "DL2"]
    assert sum(f.n for f in toy.fits_for("OS", by_dose_level=True)) == 12


def test_km_summary_has_overall_then_dose_levels_per_endpoint(toy):
    summary = toy.frames()["km_summary"]

    os_rows = summary[summary["PARAMCD"] == "OS"]
    assert os_rows["GROUP"].tolist() == ["ALL", "DL1", "DL2"]
    overall = os_rows.iloc[0]
    assert overall["MEDIAN"] == pytest.approx(240 / 30.4375)
    assert overall["S6"] == pytest.approx(0.5291, abs=1e-4)
    assert pd.isna(overall["MEDIAN_UCL"])
    # no response source: no DOR rows, so the DOR fit is empty, not absent
    dor = summary[(summary["PARAMCD"] == "DOR") & (summary["GROUP"] == "ALL")].iloc[0]
    assert dor["N"] == 0 and pd.isna(dor["MEDIAN"])


def test_frames_are_the_export_datasets_with_dictionary(toy):
    frames = toy.frames()

    assert list(frames) == list(DATASET_NAMES)
    assert len(frames["adsl"]) == 12
    assert len(frames["adtte"]) == 12 * 3  # TTP, PFS, OS (no responders)
    assert len(frames["adae"]) == 0
    assert list(frames["adae"].columns)[-3:] == ["AREL1", "AREL2", "AREL3"]
    dictionary = frames["data_dictionary"]
    arel = dictionary[dictionary["VARIABLE"].str.startswith("AREL")]
    assert arel["LABEL"].tolist()[-1] == "Causality to Dexamethasone"
    assert len(arel) == 3


def test_orr_with_clopper_pearson_interval():
    patients = []
    for i in range(10):
        bor = "PR" if i == 0 else "SD"
        base = toy_patient(i + 1, 100, 0, "DL1")
        response = PatientResponse(
            assessments=(ResponseAssessment(D(2024, 2, 1), bor),),
            best_overall_response=bor,
            first_response=SourcedDate(D(2024, 2, 1), "RS", "1") if i == 0 else None,
        )
        patients.append(dataclasses.replace(base, response=response))
    inputs = TrialInputs.from_records(
        studyid="IPD", data_cut=D(2024, 12, 31), patients=patients, dose_levels=((1, "DL1"),)
    )

    rates = analyse(inputs).response_rates

    overall = rates[0]
    assert (overall.group, overall.summary.x, overall.summary.n) == ("ALL", 1, 10)
    assert overall.summary.lcl == pytest.approx(0.0025, abs=1e-4)
    assert overall.summary.ucl == pytest.approx(0.4450, abs=1e-4)


def test_plots_render_and_refuse_an_unknown_endpoint(toy):
    assert toy.km_plot("OS", by_dose_level=True, fmt="png").startswith(b"\x89PNG")
    assert toy.km_plot("PFS", fmt="svg").lstrip().startswith(b"<?xml")
    assert toy.swimmer_plot(fmt="pdf").startswith(b"%PDF")
    with pytest.raises(ValueError, match="unknown endpoint"):
        toy.km_plot("EFS")
