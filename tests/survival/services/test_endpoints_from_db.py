"""Endpoints derived from the database: hand-checked censoring per endpoint, the data cut, and a
selector whose query count does not grow with the number of patients.

Every case: first dose 2024-01-10 (day 0), data cut 2024-12-31 unless said otherwise.
"""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from survival import selectors, services
from survival.domain.endpoints import ResponseAssessment, SourcedDate
from survival.domain.inputs import PatientResponse, SourceStatus
from tests.survival.factories import alive, died, dose, lab, seen, step, study_patient

pytestmark = pytest.mark.django_db

D = dt.date
CUT = D(2024, 12, 31)
FIRST = D(2024, 1, 10)


@pytest.fixture
def trial(ipd):
    return ipd


def rows(trial, *, cut=CUT):
    analysis = services.survival_analysis(trial.trial, data_cut=cut)
    adtte = analysis.frames()["adtte"]
    plain = adtte.astype(object).where(adtte.notna(), None)
    return {
        (r.USUBJID, r.PARAMCD): (
            r.ADT.date(),
            r.AVAL,
            r.CNSR,
            r.EVNTDESC,
            r.CNSDTDSC,
            r.SRCDOM,
        )
        for r in plain.itertuples()
    }


def test_os_censored_at_the_latest_record_showing_the_patient_alive(trial):
    # given: doses, a contact, a later follow-up visit and a later lab
    p = study_patient(trial.trial, trial.site_a, 1)
    dose(p, FIRST)
    dose(p, D(2024, 1, 31))
    alive(p, D(2024, 7, 1))
    visit = seen(p, D(2024, 8, 1))
    last_lab = lab(p, D(2024, 9, 1), visit=visit)  # collected a month after the visit

    result = rows(trial)

    # then: OS censored on the lab date (day 235), TTP and PFS at first dose (no assessment)
    assert result[("IPD-01-001", "OS")] == (
        D(2024, 9, 1),
        235,
        1,
        "ALIVE",
        "LAST KNOWN ALIVE DATE",
        "LB",
    )
    assert result[("IPD-01-001", "TTP")] == (
        FIRST,
        0,
        1,
        "NO ADEQUATE POST-BASELINE ASSESSMENT",
        "FIRST DOSE DATE",
        "EX",
    )
    assert result[("IPD-01-001", "PFS")][:3] == (FIRST, 0, 1)
    assert ("IPD-01-001", "DOR") not in result
    analysis = services.survival_analysis(trial.trial, data_cut=CUT)
    os_row = analysis.frames()["adtte"].iloc[2]
    assert os_row["SRCID"] == str(last_lab.pk)


def test_death_is_an_os_and_pfs_event_and_censors_ttp(trial):
    p = study_patient(trial.trial, trial.site_a, 2)
    dose(p, FIRST)
    died(p, D(2024, 4, 10), learnt=D(2024, 4, 20))

    result = rows(trial)

    assert result[("IPD-01-002", "OS")] == (D(2024, 4, 10), 91, 0, "DEATH", None, "DS")
    assert result[("IPD-01-002", "PFS")] == (D(2024, 4, 10), 91, 0, "DEATH", None, "DS")
    assert result[("IPD-01-002", "TTP")] == (
        FIRST,
        0,
        1,
        "DEATH WITHOUT PROGRESSION",
        "FIRST DOSE DATE",
        "EX",
    )


def test_the_data_cut_ignores_later_records(trial):
    p = study_patient(trial.trial, trial.site_a, 3)
    dose(p, FIRST)
    alive(p, D(2024, 11, 30))
    died(p, D(2025, 2, 1))

    at_cut = rows(trial)
    later = rows(trial, cut=D(2025, 3, 1))

    assert at_cut[("IPD-01-003", "OS")][:3] == (D(2024, 11, 30), 325, 1)
    assert later[("IPD-01-003", "OS")][:3] == (D(2025, 2, 1), 388, 0)


def test_held_doses_do_not_start_treatment_and_untreated_patients_have_no_endpoints(trial):
    held = study_patient(trial.trial, trial.site_a, 4)
    dose(held, FIRST, status="held")
    dose(held, D(2024, 1, 17), status="reduced")
    never = study_patient(trial.trial, trial.site_b, 1, status="enrolled")
    study_patient(trial.trial, trial.site_a, 5, enrolled=D(2025, 1, 5))  # after the cut

    analysis = services.survival_analysis(trial.trial, data_cut=CUT)
    adsl = analysis.frames()["adsl"].set_index("USUBJID")

    assert list(adsl.index) == ["IPD-01-004", "IPD-02-001"]
    assert adsl.loc["IPD-01-004", "TRTSDT"].date() == D(2024, 1, 17)
    assert adsl.loc["IPD-01-004", "SAFFL"] == "Y"
    assert adsl.loc["IPD-02-001", "SAFFL"] == "N"
    assert adsl.loc["IPD-02-001", "SITEID"] == trial.site_b.code
    assert {u for u, _ in rows(trial)} == {"IPD-01-004"}
    assert never.study_id not in {u for u, _ in rows(trial)}


def test_adsl_end_of_study_dose_level_and_missing_flags(trial):
    p = study_patient(trial.trial, trial.site_a, 6, dose_level=2)
    dose(p, FIRST)
    step(p, "off_treatment", D(2024, 5, 1), reason_code="progression")
    step(p, "off_study", D(2024, 6, 1), reason_code="lost_to_follow_up", from_status="follow_up")

    adsl = services.survival_analysis(trial.trial, data_cut=CUT).frames()["adsl"].iloc[0]

    assert (adsl["DOSELVL"], adsl["DOSELVLN"]) == ("DL2", 2)
    assert (adsl["EOSSTT"], adsl["DCSREAS"]) == ("DISCONTINUED", "LOST TO FOLLOW-UP")
    assert adsl["EOSDT"].date() == D(2024, 6, 1)
    assert adsl["RFICDT"].date() == D(2024, 1, 1)
    # no DLT window, no RP2D signed, no response assessment: empty flags (never "N"), except
    # EFFFL: the response app is read and has no adequate assessment for this treated patient
    assert adsl[["DLTEVLFL", "RP2DFL", "BOR"]].isna().all()
    assert adsl["EFFFL"] == "N"


def test_response_inputs_give_ttp_pfs_and_dor(trial, monkeypatch):
    # given the response source (the response app) reports a PR then a confirmed PD
    p = study_patient(trial.trial, trial.site_a, 7)
    dose(p, FIRST)
    alive(p, D(2024, 8, 1))
    response = PatientResponse(
        assessments=(
            ResponseAssessment(D(2024, 3, 6), "PR", srcid="51"),
            ResponseAssessment(D(2024, 4, 3), "PR", srcid="52"),
            ResponseAssessment(D(2024, 6, 5), "PD", confirmed_progression=True, srcid="53"),
        ),
        progression=SourcedDate(D(2024, 6, 5), "RS", "53"),
        first_response=SourcedDate(D(2024, 3, 6), "RS", "51"),
        best_overall_response="PR",
        best_overall_response_date=D(2024, 3, 6),
    )
    monkeypatch.setattr(
        selectors,
        "response_source",
        lambda trial, *, data_cut, patient_ids: (
            SourceStatus("response", True, "test"),
            selectors.ResponseFrames.from_responses({p.pk: response}),
        ),
    )

    result = rows(trial)

    assert result[("IPD-01-007", "TTP")] == (
        D(2024, 6, 5),
        147,
        0,
        "DISEASE PROGRESSION",
        None,
        "RS",
    )
    assert result[("IPD-01-007", "PFS")][:3] == (D(2024, 6, 5), 147, 0)
    assert result[("IPD-01-007", "DOR")][:3] == (D(2024, 6, 5), 91, 0)
    assert result[("IPD-01-007", "OS")][:3] == (D(2024, 8, 1), 204, 1)
    adsl = services.survival_analysis(trial.trial, data_cut=CUT).frames()["adsl"].iloc[0]
    assert (adsl["EFFFL"], adsl["BOR"]) == ("Y", "PR")


def count_queries(trial, n_patients, first_number):
    for i in range(n_patients):
        p = study_patient(trial.trial, trial.site_a, first_number + i)
        dose(p, FIRST)
        alive(p, D(2024, 6, 1))
        lab(p, D(2024, 2, 1))
    with CaptureQueriesContext(connection) as queries:
        inputs = selectors.trial_inputs(trial.trial, data_cut=CUT)
    return len(queries), len(inputs.patients)


def test_the_selector_query_count_does_not_grow_with_patients(trial):
    small, n_small = count_queries(trial, 2, 100)
    large, n_large = count_queries(trial, 18, 200)

    assert (n_small, n_large) == (2, 20)
    assert large == small
