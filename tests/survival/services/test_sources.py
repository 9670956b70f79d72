"""Inputs from the other apps: DLT-evaluable flags (safety's DLT windows), the signed RP2D
(dosing), and adverse events for ADAE (safety)."""

import datetime as dt

import pandas as pd
import pytest

from dosing.models import TrialEscalation
from survival import selectors, services
from tests.dosing.factories import set_dlt_state
from tests.factories import days_ago
from tests.safety.factories import dosed_patient, neutropenia
from tests.survival.factories import dose, study_patient

pytestmark = pytest.mark.django_db

D = dt.date
CUT = D(2024, 12, 31)


def adsl(trial, cut=CUT):
    frame = services.survival_analysis(trial.trial, data_cut=cut).frames()["adsl"]
    return frame.set_index("USUBJID")


@pytest.mark.parametrize(
    ("state", "flag"), [("NO_DLT", "Y"), ("DLT", "Y"), ("NOT_EVALUABLE", "N"), ("PENDING", None)]
)
def test_dlt_evaluable_flag_follows_the_dlt_window(ipd, state, flag):
    patient = study_patient(ipd.trial, ipd.site_a, 1)
    dose(patient, D(2024, 1, 10))
    set_dlt_state(patient, state)

    value = adsl(ipd).loc["IPD-01-001", "DLTEVLFL"]

    assert (None if pd.isna(value) else value) == flag


def test_rp2d_flag_once_the_rp2d_is_signed(ipd):
    at_rp2d = study_patient(ipd.trial, ipd.site_a, 1, dose_level=2)
    dose(at_rp2d, D(2024, 1, 10))
    below = study_patient(ipd.trial, ipd.site_a, 2, dose_level=1)
    dose(below, D(2024, 1, 10))
    untreated = study_patient(ipd.trial, ipd.site_a, 3, dose_level=2, status="enrolled")
    before = adsl(ipd)
    TrialEscalation.objects.create(trial=ipd.trial, rp2d_level_number=2, stage="rp2d_declared")

    after = adsl(ipd)

    assert before["RP2DFL"].isna().all()
    assert after["RP2DFL"].tolist() == ["Y", "N", "N"]
    assert untreated.study_id == "IPD-01-003"
    status = {s.name: s.available for s in selectors.trial_inputs(ipd.trial, data_cut=CUT).sources}
    assert status["rp2d"] is True


def test_safety_adverse_events_at_the_cut(ipd, ctcae):
    # given a patient dosed through the services, with a grade 4 neutropenia attributed to IXA
    patient = dosed_patient(ipd, first_dose_days_ago=20)
    ae = neutropenia(patient, ipd.coordinator_a, onset=days_ago(10))
    today = dt.date.today()

    frame = selectors.safety_adverse_events(ipd.trial, data_cut=today)
    before_onset = selectors.safety_adverse_events(ipd.trial, data_cut=days_ago(11))

    row = frame.iloc[0]
    assert len(frame) == 1 and len(before_onset) == 0
    assert row["patient_id"] == patient.pk
    assert (row["AEDECOD"], row["AETOXGR"]) == ("Neutrophil count decreased", 4)
    assert row["AEBODSYS"] == ae.soc
    assert row["AREL1"] == "POSSIBLE"  # ixazomib, the first agent
    assert row["AREL2"] is None
    assert (row["serious"], row["dlt"]) == (False, False)
    assert row["AEOUT"] == "NOT RECOVERED/NOT RESOLVED"
    assert row["srcid"] == str(ae.pk)


def test_adae_from_safety(ipd, ctcae):
    patient = dosed_patient(ipd, first_dose_days_ago=20)
    neutropenia(patient, ipd.coordinator_a, onset=days_ago(10))
    today = dt.date.today()
    before_onset = services.survival_analysis(ipd.trial, data_cut=days_ago(11)).frames()["adae"]

    adae = services.survival_analysis(ipd.trial, data_cut=today).frames()["adae"]

    assert len(before_onset) == 0
    assert adae["USUBJID"].tolist() == [patient.study_id]
    assert (adae["AESEQ"].iloc[0], adae["AETOXGR"].iloc[0], adae["TRTEMFL"].iloc[0]) == (1, 4, "Y")
    assert list(adae.columns[-3:]) == ["AREL1", "AREL2", "AREL3"]
