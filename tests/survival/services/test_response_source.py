"""The response app's calls in the export: BOR, EFFFL, ADRS, and TTP/PFS/DOR events at the
confirmed progression, built through the response engine's own service; ADAE from safety;
and the inputs read in a fixed number of queries.

The serum-only patients of ``tests.response.factories.serum_course`` (baseline serum M-protein
3.0 g/dL; IMWG 2016: PR is a ≥ 50% reduction, PD a ≥ 25% and ≥ 0.5 g/dL rise from the nadir,
confirmed by the next assessment) are checked by hand below.
"""

import datetime as dt

import pandas as pd
import pytest

from response.services import response_evaluate_patient
from response.services.entries import investigator_response_record
from survival import selectors, services
from tests.response.factories import serum_course, set_design
from tests.safety.factories import neutropenia
from tests.survival.factories import alive, dose, study_patient

pytestmark = pytest.mark.django_db

D = dt.date
START = D(2024, 1, 8)  # first dose; assessments every 28 days: +28 … +140
CUT = D(2024, 12, 31)
#: 1.2 PR (-60%), 1.0 PR, 1.0 PR, 2.0 PD (+1.0 from the nadir 1.0), 2.2 PD (confirms it)
RESPONDER = [1.2, 1.0, 1.0, 2.0, 2.2]
#: -17%, -20%, -13%: stable disease throughout
STABLE = [2.5, 2.4, 2.6]


def _patient(ipd, number, values, *, level=1):
    patient = study_patient(ipd.trial, ipd.site_a, number, enrolled=START, dose_level=level)
    dose(patient, START)
    serum_course(patient, START, values)
    response_evaluate_patient(patient_id=patient.pk)
    return patient


@pytest.fixture
def responses(ipd):
    set_design(ipd.trial, criteria="IMWG2016")
    responder = _patient(ipd, 1, RESPONDER)
    stable = _patient(ipd, 2, STABLE, level=2)
    alive(stable, D(2024, 6, 1))
    return responder, stable


def _frames(trial, cut=CUT):
    return services.survival_analysis(trial, data_cut=cut).frames()


def _tte(frames, usubjid):
    adtte = frames["adtte"]
    rows = adtte[adtte["USUBJID"] == usubjid].set_index("PARAMCD")
    return {
        k: (int(r["AVAL"]), int(r["CNSR"]), r["SRCDOM"], r["ADT"].date())
        for k, r in rows.iterrows()
    }


def test_export_has_bor_efffl_adrs_and_progression_from_the_response_engine(ipd, responses):
    responder, stable = responses
    investigator_response_record(
        patient=responder,
        scope="assessment",
        assessment_date=D(2024, 2, 5),
        category="VGPR",
        acting_user=ipd.investigator,
    )

    frames = _frames(ipd.trial)

    adsl = frames["adsl"].set_index("USUBJID")
    assert adsl.loc[responder.study_id, ["BOR", "EFFFL"]].tolist() == ["PR", "Y"]
    assert adsl.loc[responder.study_id, "BORDT"].date() == D(2024, 2, 5)
    assert adsl.loc[stable.study_id, ["BOR", "EFFFL"]].tolist() == ["SD", "Y"]
    # PFS/TTP: event at the first assessment of the confirmed PD (+112 days), sourced to RS
    tte = _tte(frames, responder.study_id)
    assert tte["TTP"] == (112, 0, "RS", D(2024, 4, 29))
    assert tte["PFS"] == (112, 0, "RS", D(2024, 4, 29))
    # DOR from the first confirmed PR (+28) to the progression: 84 days
    assert tte["DOR"] == (84, 0, "RS", D(2024, 4, 29))
    # no progression: censored at the last adequate assessment (+84), no DOR (not a responder)
    tte = _tte(frames, stable.study_id)
    assert tte["TTP"] == (84, 1, "RS", D(2024, 4, 1))
    assert "DOR" not in tte
    assert tte["OS"][:3] == (145, 1, "SS")  # last contact 2024-06-01
    adrs = frames["adrs"]
    mine = adrs[adrs["USUBJID"] == responder.study_id]
    assert mine["ADT"].dt.date.tolist() == [START + dt.timedelta(days=28 * k) for k in range(1, 6)]
    assert mine["AVALC"].tolist() == ["PR", "PR", "PR", "PD", "PD"]
    assert mine["CONFRESP"].tolist()[:4] == ["PR", "PR", "SD", "PD"]
    assert pd.isna(mine["CONFRESP"].iloc[4])  # the last PD awaits its confirmation
    assert mine["INVRESP"].iloc[0] == "VGPR" and mine["AGREEFL"].iloc[0] == "N"
    assert mine["INVRESP"].iloc[1:].isna().all()
    assert set(mine["RSCRIT"]) == {"IMWG2016"} and set(mine["ADEQFL"]) == {"Y"}
    assert len(adrs) == 5 + 3
    srcid = _tte(frames, responder.study_id)  # the event cites the PD timepoint's id
    assert srcid["TTP"][2] == "RS"
    progression = frames["adtte"].query("PARAMCD == 'TTP' and CNSR == 0")["SRCID"].tolist()
    assert progression == [mine["SRCID"].iloc[3]]


def test_a_progression_confirmed_after_the_cut_is_not_a_progression_at_the_cut(ipd, responses):
    responder, _ = responses
    cut = D(2024, 5, 1)  # after the PD of 2024-04-29, before its confirmation on 2024-05-27

    frames = _frames(ipd.trial, cut)

    tte = _tte(frames, responder.study_id)
    assert tte["TTP"] == (84, 1, "RS", D(2024, 4, 1))  # last adequate assessment without PD
    assert tte["DOR"] == (56, 1, "RS", D(2024, 4, 1))
    adsl = frames["adsl"].set_index("USUBJID")
    assert adsl.loc[responder.study_id, "BOR"] == "PR"
    adrs = frames["adrs"]
    assert adrs[adrs["USUBJID"] == responder.study_id]["AVALC"].tolist() == [
        "PR",
        "PR",
        "PR",
        "PD",
    ]
    status = selectors.trial_inputs(ipd.trial, data_cut=cut).source("response")
    assert status.available and "1 patient(s) with data after the cut" in status.detail


def test_a_response_confirmed_after_the_cut_is_not_yet_a_response(ipd, responses):
    responder, _ = responses
    cut = D(2024, 2, 10)  # one PR (2024-02-05), its confirming assessment is on 2024-03-04

    frames = _frames(ipd.trial, cut)

    adsl = frames["adsl"].set_index("USUBJID")
    assert adsl.loc[responder.study_id, "BOR"] == "SD"  # an unconfirmed response counts as SD
    assert "DOR" not in _tte(frames, responder.study_id)


def test_untreated_or_unassessed_patients_have_no_bor_and_efffl_n(ipd, responses):
    unassessed = study_patient(ipd.trial, ipd.site_a, 3, enrolled=START)
    dose(unassessed, START)

    adsl = _frames(ipd.trial)["adsl"].set_index("USUBJID")

    assert pd.isna(adsl.loc[unassessed.study_id, "BOR"])
    assert adsl.loc[unassessed.study_id, "EFFFL"] == "N"


def test_adae_rows_from_safety_in_the_export(ipd, ctcae, responses):
    responder, _ = responses
    ae = neutropenia(responder, ipd.coordinator_a, onset=D(2024, 1, 20))

    adae = _frames(ipd.trial)["adae"]

    assert adae["USUBJID"].tolist() == [responder.study_id]
    row = adae.iloc[0]
    assert (row["AESEQ"], row["AETOXGR"], row["TRTEMFL"], row["AREL1"]) == (1, 4, "Y", "POSSIBLE")
    assert row["ASTDT"].date() == D(2024, 1, 20)
    assert ae.pk


def _trial_with(ipd, n):
    set_design(ipd.trial, criteria="IMWG2016")
    for number in range(1, n + 1):
        _patient(ipd, number, RESPONDER if number % 2 else STABLE)


@pytest.mark.parametrize("n", [2, 20])
def test_trial_inputs_query_count_does_not_grow_with_patients(ipd, n, django_assert_num_queries):
    _trial_with(ipd, n)

    with django_assert_num_queries(QUERIES):
        inputs = selectors.trial_inputs(ipd.trial, data_cut=CUT)

    assert inputs.n_patients == n
    assert len(inputs.response_records) == sum(5 if k % 2 else 3 for k in range(1, n + 1))


#: The number of queries of ``trial_inputs`` (the same for 2 and for 20 patients).
QUERIES = 19


def test_visits_restricted_to_timepoint_dates_are_the_default_rows_at_those_dates(ipd, responses):
    from response.models import ResponseTimepoint
    from response.selectors import assessment_visits_for_trial, responses_for_trial_at_cut

    responder, stable = responses
    every = assessment_visits_for_trial(ipd.trial, data_cut=CUT)
    dated = set(ResponseTimepoint.objects.values_list("patient_id", "assessment_date"))

    only = assessment_visits_for_trial(ipd.trial, data_cut=CUT, timepoint_dates_only=True)
    kept = assessment_visits_for_trial(
        ipd.trial, data_cut=CUT, timepoint_dates_only=True, every_date_of=[stable.pk]
    )

    assert any((pid, day) not in dated for pid, day, _ in every)  # e.g. the first dose visit
    assert only == [row for row in every if (row[0], row[1]) in dated]
    assert kept == [row for row in every if (row[0], row[1]) in dated or row[0] == stable.pk]
    # a cut before the responder's last assessments: it is recomputed and keeps every date
    cut = D(2024, 4, 1)
    restricted = responses_for_trial_at_cut(ipd.trial, data_cut=cut, timepoint_visits_only=True)
    default = responses_for_trial_at_cut(ipd.trial, data_cut=cut)
    assert responder.pk in restricted.reevaluated
    assert restricted.timepoints == default.timepoints
    assert [r for r in restricted.visits if r[0] == responder.pk] == [
        r for r in default.visits if r[0] == responder.pk
    ]
