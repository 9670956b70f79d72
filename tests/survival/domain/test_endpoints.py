"""Endpoint derivation (TTP, PFS, DOR, OS) against hand-checked cases.

One patient, first dose 2024-01-01, assessed every 28 days: day 28 (2024-01-29), 56
(2024-02-26), 84 (2024-03-25), 112 (2024-04-22), 140 (2024-05-20). Day counts are elapsed
days from the start date (2024 is a leap year: 2024-06-01 is day 152).
"""

import datetime as dt

import pytest

from survival.domain.endpoints import (
    PatientEndpointInput,
    ResponseAssessment,
    SourcedDate,
    derive_all_endpoints,
    derive_endpoints,
    first_response_from_assessments,
    progression_from_assessments,
)
from survival.domain.units import DAYS_PER_MONTH

D = dt.date
FIRST_DOSE = SourcedDate(D(2024, 1, 1), "EX", "ex-1")
CUT = D(2024, 12, 31)


def rs(day: dt.date, response: str, srcid: str, **kwargs: object) -> ResponseAssessment:
    return ResponseAssessment(adt=day, response=response, srcid=srcid, **kwargs)  # type: ignore[arg-type]


RESPONDER_PROGRESSING = (
    rs(D(2024, 1, 29), "SD", "rs-1"),
    rs(D(2024, 2, 26), "PR", "rs-2"),
    rs(D(2024, 3, 25), "VGPR", "rs-3"),
    rs(D(2024, 4, 22), "PD", "rs-4", confirmed_progression=True),
    rs(D(2024, 5, 20), "PD", "rs-5"),
)
PROGRESSION = SourcedDate(D(2024, 4, 22), "RS", "rs-4")
FIRST_RESPONSE = SourcedDate(D(2024, 2, 26), "RS", "rs-2")
ALIVE_JUNE = SourcedDate(D(2024, 6, 1), "SV", "sv-9")


def patient(**overrides: object) -> PatientEndpointInput:
    fields: dict[str, object] = {
        "usubjid": "A-001",
        "first_dose": FIRST_DOSE,
        "assessments": RESPONDER_PROGRESSING,
        "progression": PROGRESSION,
        "first_response": FIRST_RESPONSE,
        "death": None,
        "known_alive": (ALIVE_JUNE,),
    }
    fields.update(overrides)
    return PatientEndpointInput(**fields)  # type: ignore[arg-type]


def by_param(rows):
    return {row.paramcd: row for row in rows}


def summary(row):
    return (row.adt, row.aval_days, row.cnsr, row.evntdesc, row.cnsdtdsc, row.srcdom, row.srcid)


def test_progression_is_the_event_for_ttp_pfs_and_dor():
    # given a responder who progresses on day 112 and was last seen alive on day 152
    # when
    rows = by_param(derive_endpoints(patient(), data_cut=CUT))
    # then
    assert list(rows) == ["TTP", "PFS", "DOR", "OS"]
    event = (D(2024, 4, 22), 112, 0, "DISEASE PROGRESSION", None, "RS", "rs-4")
    assert summary(rows["TTP"]) == event
    assert summary(rows["PFS"]) == event
    assert summary(rows["DOR"]) == (
        D(2024, 4, 22),
        56,
        0,
        "DISEASE PROGRESSION",
        None,
        "RS",
        "rs-4",
    )
    assert rows["DOR"].startdt == D(2024, 2, 26)
    assert rows["TTP"].startdt == D(2024, 1, 1)
    assert summary(rows["OS"]) == (
        D(2024, 6, 1),
        152,
        1,
        "ALIVE",
        "LAST KNOWN ALIVE DATE",
        "SV",
        "sv-9",
    )


def test_avalm_is_days_over_30_4375_and_labels_are_set():
    rows = by_param(derive_endpoints(patient(), data_cut=CUT))
    assert rows["TTP"].avalm == pytest.approx(112 / 30.4375)
    assert DAYS_PER_MONTH == 30.4375
    assert rows["PFS"].param == "Progression-Free Survival"
    assert rows["OS"].usubjid == "A-001"


def test_without_progression_ttp_and_pfs_are_censored_at_last_adequate_non_pd_assessment():
    # given no progression; a later NE call and a later inadequate assessment do not count
    assessments = (
        rs(D(2024, 1, 29), "SD", "rs-1"),
        rs(D(2024, 2, 26), "PR", "rs-2"),
        rs(D(2024, 3, 25), "PR", "rs-3"),
        rs(D(2024, 4, 22), "NE", "rs-4"),
        rs(D(2024, 5, 20), "PR", "rs-5", adequate=False),
    )
    # when
    rows = by_param(
        derive_endpoints(
            patient(assessments=assessments, progression=None, known_alive=()), data_cut=CUT
        )
    )
    # then
    censored = (
        D(2024, 3, 25),
        84,
        1,
        "NO PROGRESSION AT LAST ADEQUATE ASSESSMENT",
        "LAST ADEQUATE ASSESSMENT WITHOUT PROGRESSION",
        "RS",
        "rs-3",
    )
    assert summary(rows["TTP"]) == censored
    assert summary(rows["PFS"]) == censored
    assert summary(rows["DOR"])[:3] == (D(2024, 3, 25), 28, 1)
    # any assessment, even an inadequate one, shows the patient alive
    assert summary(rows["OS"])[:3] == (D(2024, 5, 20), 140, 1)
    assert rows["OS"].srcid == "rs-5"


def test_death_without_progression_censors_ttp_but_is_a_pfs_and_os_event():
    # given stable disease, then death on day 100 without progression
    assessments = (rs(D(2024, 1, 29), "SD", "rs-1"), rs(D(2024, 2, 26), "SD", "rs-2"))
    death = SourcedDate(D(2024, 4, 10), "DS", "ds-1")
    # when
    rows = by_param(
        derive_endpoints(
            patient(
                assessments=assessments,
                progression=None,
                first_response=None,
                death=death,
                known_alive=(),
            ),
            data_cut=CUT,
        )
    )
    # then
    assert summary(rows["TTP"]) == (
        D(2024, 2, 26),
        56,
        1,
        "DEATH WITHOUT PROGRESSION",
        "LAST ADEQUATE ASSESSMENT WITHOUT PROGRESSION",
        "RS",
        "rs-2",
    )
    death_event = (D(2024, 4, 10), 100, 0, "DEATH", None, "DS", "ds-1")
    assert summary(rows["PFS"]) == death_event
    assert summary(rows["OS"]) == death_event


def test_data_cut_turns_a_later_progression_and_death_into_censoring():
    # given progression on day 112 and death on day 125, but the cut on day 91 (2024-04-01)
    death = SourcedDate(D(2024, 5, 5), "DS", "ds-1")
    alive = (SourcedDate(D(2024, 3, 30), "SV", "sv-3"), SourcedDate(D(2024, 5, 1), "SV", "sv-4"))
    # when
    rows = by_param(
        derive_endpoints(patient(death=death, known_alive=alive), data_cut=D(2024, 4, 1))
    )
    # then
    assert summary(rows["TTP"])[:3] == (D(2024, 3, 25), 84, 1)
    assert summary(rows["PFS"])[:3] == (D(2024, 3, 25), 84, 1)
    assert summary(rows["DOR"])[:3] == (D(2024, 3, 25), 28, 1)
    # the contact after the cut is ignored: last known alive on or before the cut is day 89
    assert summary(rows["OS"]) == (
        D(2024, 3, 30),
        89,
        1,
        "ALIVE",
        "LAST KNOWN ALIVE DATE",
        "SV",
        "sv-3",
    )


def test_data_cut_before_first_response_means_no_dor():
    rows = by_param(derive_endpoints(patient(), data_cut=D(2024, 2, 20)))
    assert list(rows) == ["TTP", "PFS", "OS"]
    assert summary(rows["TTP"])[:3] == (D(2024, 1, 29), 28, 1)


def test_non_responder_has_no_dor_row():
    assessments = (
        rs(D(2024, 1, 29), "SD", "rs-1"),
        rs(D(2024, 2, 26), "MR", "rs-2"),
        rs(D(2024, 3, 25), "PD", "rs-3", confirmed_progression=True),
    )
    progression = SourcedDate(D(2024, 3, 25), "RS", "rs-3")
    rows = derive_endpoints(
        patient(assessments=assessments, progression=progression, first_response=None),
        data_cut=CUT,
    )
    assert [row.paramcd for row in rows] == ["TTP", "PFS", "OS"]


def test_no_post_baseline_assessment_censors_at_first_dose_with_aval_0():
    # given only a screening assessment (before first dose)
    screening = (rs(D(2023, 12, 20), "SD", "rs-0"),)
    rows = by_param(
        derive_endpoints(
            patient(
                assessments=screening,
                progression=None,
                first_response=None,
                known_alive=(SourcedDate(D(2024, 1, 15), "SV", "sv-1"),),
            ),
            data_cut=CUT,
        )
    )
    no_assessment = (
        D(2024, 1, 1),
        0,
        1,
        "NO ADEQUATE POST-BASELINE ASSESSMENT",
        "FIRST DOSE DATE",
        "EX",
        "ex-1",
    )
    assert summary(rows["TTP"]) == no_assessment
    assert summary(rows["PFS"]) == no_assessment
    assert summary(rows["OS"])[:3] == (D(2024, 1, 15), 14, 1)


@pytest.mark.parametrize(
    ("first_dose", "data_cut"),
    [(None, CUT), (SourcedDate(D(2025, 2, 1), "EX", "ex-1"), CUT)],
    ids=["never dosed", "first dose after the cut"],
)
def test_patients_not_dosed_by_the_cut_get_no_rows(first_dose, data_cut):
    assert derive_endpoints(patient(first_dose=first_dose), data_cut=data_cut) == ()


def test_progression_and_death_on_the_same_day_is_reported_as_progression():
    death = SourcedDate(D(2024, 4, 22), "DS", "ds-1")
    rows = by_param(derive_endpoints(patient(death=death), data_cut=CUT))
    assert summary(rows["PFS"])[2:5] == (0, "DISEASE PROGRESSION", None)
    assert summary(rows["OS"])[:4] == (D(2024, 4, 22), 112, 0, "DEATH")


def test_death_of_a_responder_without_progression_ends_pfs_and_dor():
    # given a responder (first response day 56) who dies on day 100 without progression
    death = SourcedDate(D(2024, 4, 10), "DS", "ds-1")
    assessments = RESPONDER_PROGRESSING[:3]
    rows = by_param(
        derive_endpoints(
            patient(assessments=assessments, progression=None, death=death), data_cut=CUT
        )
    )
    assert summary(rows["PFS"])[:4] == (D(2024, 4, 10), 100, 0, "DEATH")
    assert summary(rows["DOR"])[:4] == (D(2024, 4, 10), 44, 0, "DEATH")
    assert summary(rows["TTP"])[:4] == (D(2024, 3, 25), 84, 1, "DEATH WITHOUT PROGRESSION")
    # death wins over a contact dated after it (a data error left to the data checks)
    assert summary(rows["OS"])[:4] == (D(2024, 4, 10), 100, 0, "DEATH")


def test_dor_censored_at_first_response_when_no_later_assessment():
    # given a first response known from the response engine but no assessment rows
    rows = by_param(
        derive_endpoints(patient(assessments=(), progression=None, known_alive=()), data_cut=CUT)
    )
    assert summary(rows["DOR"]) == (
        D(2024, 2, 26),
        0,
        1,
        "NO PROGRESSION AT LAST ADEQUATE ASSESSMENT",
        "FIRST RESPONSE DATE",
        "RS",
        "rs-2",
    )
    # and the first response date shows the patient alive for OS
    assert summary(rows["OS"])[:3] == (D(2024, 2, 26), 56, 1)


def test_new_anticancer_therapy_is_ignored_by_default():
    rows = by_param(derive_endpoints(patient(new_anticancer_therapy=D(2024, 4, 1)), data_cut=CUT))
    assert rows["PFS"].cnsr == 0
    assert rows["PFS"].aval_days == 112


def test_censoring_at_new_anticancer_therapy_when_asked():
    # given new therapy on day 91, progression on day 112, death on day 125
    death = SourcedDate(D(2024, 5, 5), "DS", "ds-1")
    rows = by_param(
        derive_endpoints(
            patient(new_anticancer_therapy=D(2024, 4, 1), death=death),
            data_cut=CUT,
            censor_at_new_therapy=True,
        )
    )
    new_therapy = (
        D(2024, 3, 25),
        84,
        1,
        "NEW ANTICANCER THERAPY BEFORE PROGRESSION",
        "LAST ADEQUATE ASSESSMENT WITHOUT PROGRESSION",
    )
    assert summary(rows["TTP"])[:5] == new_therapy
    assert summary(rows["PFS"])[:5] == new_therapy
    assert summary(rows["DOR"])[:3] == (D(2024, 3, 25), 28, 1)
    # OS is not affected by new therapy
    assert summary(rows["OS"])[:4] == (D(2024, 5, 5), 125, 0, "DEATH")


def test_recist_categories_are_accepted():
    assessments = (
        rs(D(2024, 1, 29), "PR", "rs-1"),
        rs(D(2024, 2, 26), "CR", "rs-2"),
        rs(D(2024, 3, 25), "PD", "rs-3", confirmed_progression=True),
    )
    rows = by_param(
        derive_endpoints(
            patient(
                assessments=assessments,
                progression=progression_from_assessments(assessments),
                first_response=first_response_from_assessments(assessments),
            ),
            data_cut=CUT,
        )
    )
    assert summary(rows["DOR"])[:3] == (D(2024, 3, 25), 56, 0)
    assert rows["DOR"].startdt == D(2024, 1, 29)


def test_helpers_pick_first_confirmed_pd_and_first_response_at_least_pr():
    assessments = (
        rs(D(2024, 1, 29), "MR", "rs-1"),
        rs(D(2024, 2, 26), "PD", "rs-2"),  # unconfirmed laboratory PD
        rs(D(2024, 3, 25), "PR", "rs-3", adequate=False),
        rs(D(2024, 4, 22), "VGPR", "rs-4"),
        rs(D(2024, 5, 20), "PD", "rs-5", confirmed_progression=True),
    )
    assert progression_from_assessments(assessments) == SourcedDate(D(2024, 5, 20), "RS", "rs-5")
    assert first_response_from_assessments(assessments) == SourcedDate(D(2024, 4, 22), "RS", "rs-4")
    assert progression_from_assessments(()) is None
    assert first_response_from_assessments(assessments[:2]) is None


def test_unconfirmed_pd_is_not_progression_free():
    assessments = (rs(D(2024, 1, 29), "SD", "rs-1"), rs(D(2024, 2, 26), "PD", "rs-2"))
    rows = by_param(
        derive_endpoints(
            patient(assessments=assessments, progression=None, first_response=None),
            data_cut=CUT,
        )
    )
    assert summary(rows["TTP"])[:3] == (D(2024, 1, 29), 28, 1)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"death": SourcedDate(D(2023, 12, 1), "DS", "ds-1")}, "death date 2023-12-01 is before"),
        (
            {"progression": SourcedDate(D(2024, 2, 1), "RS", "rs-x")},
            "first response 2024-02-26 is after progression",
        ),
    ],
    ids=["death before first dose", "response after progression"],
)
def test_inconsistent_dates_raise(overrides, message):
    with pytest.raises(ValueError, match=message):
        derive_endpoints(patient(**overrides), data_cut=CUT)


def test_unknown_response_category_is_rejected():
    with pytest.raises(ValueError, match="unknown response category 'nCR'"):
        ResponseAssessment(adt=D(2024, 1, 29), response="nCR")


def test_lists_are_frozen_into_tuples():
    item = patient(assessments=list(RESPONDER_PROGRESSING), known_alive=[ALIVE_JUNE])
    assert isinstance(item.assessments, tuple)
    assert isinstance(item.known_alive, tuple)
    assert hash(item) == hash(patient())


def test_derive_all_keeps_patient_then_endpoint_order():
    rows = derive_all_endpoints(
        [
            patient(usubjid="A-001"),
            patient(usubjid="A-002", first_dose=None),
            patient(usubjid="A-003"),
        ],
        data_cut=CUT,
    )
    assert [(r.usubjid, r.paramcd) for r in rows] == [
        ("A-001", "TTP"),
        ("A-001", "PFS"),
        ("A-001", "DOR"),
        ("A-001", "OS"),
        ("A-003", "TTP"),
        ("A-003", "PFS"),
        ("A-003", "DOR"),
        ("A-003", "OS"),
    ]
