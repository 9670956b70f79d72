"""Mapping one trial's analysis inputs to ADSL, ADAE and ADRS rows (no database)."""

import datetime as dt

import pandas as pd
import pytest

from survival.domain.columns import derive_adtte
from survival.domain.endpoints import ResponseAssessment, SourcedDate
from survival.domain.inputs import (
    AdverseEventRecord,
    PatientRecord,
    PatientResponse,
    ResponseRecord,
    TrialInputs,
    adae_frame,
    adrs_frame,
    adsl_frame,
    response_counts,
    swimmer_lanes,
)

D = dt.date
CUT = D(2024, 12, 31)
FIRST = SourcedDate(D(2024, 1, 10), "EX", "11")


def record(usubjid="IPD-01-001", **fields) -> PatientRecord:
    values = {
        "patient_id": 1,
        "usubjid": usubjid,
        "siteid": "ALPHA",
        "dose_level": "DL1",
        "dose_level_number": 1,
        "consent_date": D(2024, 1, 2),
        "enrolment_date": D(2024, 1, 5),
        "first_dose": FIRST,
        "last_dose": D(2024, 3, 1),
        "death": None,
        "known_alive": (SourcedDate(D(2024, 6, 1), "SS", "7"),),
    }
    values.update(fields)
    return PatientRecord(**values)


def inputs(*patients, **fields) -> TrialInputs:
    values = {
        "studyid": "IPD",
        "data_cut": CUT,
        "patients": patients,
        "agents": ("Ixazomib", "Pomalidomide", "Dexamethasone"),
        "dose_levels": ((-1, "DL−1"), (1, "DL1"), (2, "DL2")),
    }
    values.update(fields)
    return TrialInputs.from_records(**values)


def adsl_rows(data: TrialInputs) -> list[dict]:
    """ADSL as plain dicts: missing values None, dates as ``date``."""
    return plain(adsl_frame(data))


def plain(frame) -> list[dict]:
    rows = []
    for record in frame.astype(object).to_dict("records"):
        rows.append(
            {
                k: None
                if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v)
                else (v.date() if isinstance(v, pd.Timestamp) else v)
                for k, v in record.items()
            }
        )
    return rows


def adae_rows(data: TrialInputs) -> list[dict]:
    return plain(adae_frame(data, n_agents=len(data.agents)))


def adrs_rows(data: TrialInputs) -> list[dict]:
    return plain(adrs_frame(data))


def test_adsl_flags_unknown_sources_are_empty_not_no():
    # given a treated patient whose response, DLT and RP2D sources are not available
    (row,) = adsl_rows(inputs(record()))

    assert row["SAFFL"] == "Y"
    assert row["DLTEVLFL"] is None
    assert row["EFFFL"] is None
    assert row["RP2DFL"] is None
    assert row["BOR"] is None
    assert row["TRTSDT"] == D(2024, 1, 10)
    assert row["TRTEDT"] == D(2024, 3, 1)
    assert row["EOSSTT"] == "ONGOING"
    assert row["LSTALVDT"] == D(2024, 6, 1)
    assert row["DCUTDT"] == CUT


def test_adsl_untreated_patient_is_not_in_the_safety_set():
    (row,) = adsl_rows(inputs(record(first_dose=None, last_dose=None, known_alive=())))

    assert row["SAFFL"] == "N"
    assert row["TRTSDT"] is None
    assert row["LSTALVDT"] is None


@pytest.mark.parametrize(
    ("dose_level_number", "first_dose", "expected"),
    [(2, FIRST, "Y"), (1, FIRST, "N"), (2, None, "N")],
)
def test_rp2d_flag_once_the_rp2d_is_known(dose_level_number, first_dose, expected):
    patient = record(dose_level_number=dose_level_number, first_dose=first_dose)

    (row,) = adsl_rows(inputs(patient, rp2d_level=2))

    assert row["RP2DFL"] == expected


def test_response_evaluable_from_adequate_post_baseline_assessments():
    evaluable = record(
        response=PatientResponse(
            assessments=(ResponseAssessment(D(2024, 2, 7), "SD"),),
            best_overall_response="SD",
        )
    )
    baseline_only = record(
        usubjid="IPD-01-002",
        patient_id=2,
        response=PatientResponse(assessments=(ResponseAssessment(D(2024, 1, 10), "SD"),)),
    )
    inadequate = record(
        usubjid="IPD-01-003",
        patient_id=3,
        response=PatientResponse(
            assessments=(ResponseAssessment(D(2024, 2, 7), "NE", adequate=False),)
        ),
    )

    rows = adsl_rows(inputs(evaluable, baseline_only, inadequate))

    assert [r["EFFFL"] for r in rows] == ["Y", "N", "N"]
    assert rows[0]["BOR"] == "SD"


@pytest.mark.parametrize(
    ("reason", "eosstt", "dcsreas"),
    [
        ("follow_up_completed", "COMPLETED", None),
        ("lost_to_follow_up", "DISCONTINUED", "LOST TO FOLLOW-UP"),
        ("death", "DISCONTINUED", "DEATH"),
    ],
)
def test_end_of_study(reason, eosstt, dcsreas):
    labels = {"lost_to_follow_up": "Lost to follow-up", "death": "Death"}
    patient = record(
        off_study_date=D(2024, 9, 1),
        off_study_reason=reason,
        off_study_reason_label=labels.get(reason),
    )

    (row,) = adsl_rows(inputs(patient))

    assert (row["EOSSTT"], row["DCSREAS"], row["EOSDT"]) == (eosstt, dcsreas, D(2024, 9, 1))


def test_last_known_alive_of_a_dead_patient_is_the_death_date():
    patient = record(death=SourcedDate(D(2024, 5, 1), "DS", "9"))

    (row,) = adsl_rows(inputs(patient))

    assert row["DTHDT"] == D(2024, 5, 1)
    assert row["LSTALVDT"] == D(2024, 5, 1)


def test_adae_numbers_events_in_onset_order_and_flags_treatment_emergence():
    events = (
        AdverseEventRecord(
            patient_id=1,
            term="Neutropenia",
            decod="Neutrophil count decreased",
            bodsys="Investigations",
            grade=4,
            serious=False,
            dlt=True,
            onset=D(2024, 1, 20),
            resolution=None,
            outcome="NOT RECOVERED",
            attributions=("PROBABLE", "POSSIBLE", None),
            srcid="31",
        ),
        AdverseEventRecord(
            patient_id=1,
            term="Fatigue",
            decod="Fatigue",
            bodsys="General disorders",
            grade=1,
            serious=None,
            dlt=None,
            onset=D(2024, 1, 3),
            resolution=D(2024, 1, 9),
            outcome="RECOVERED",
            srcid="30",
        ),
    )

    rows = adae_rows(inputs(record(), adverse_events=events))

    assert [(r["AESEQ"], r["AETERM"]) for r in rows] == [(1, "Fatigue"), (2, "Neutropenia")]
    assert rows[0]["TRTEMFL"] == "N"  # onset before first dose
    assert rows[1]["TRTEMFL"] == "Y"
    assert rows[1]["DLTFL"] == "Y"
    assert rows[0]["AESER"] is None
    assert [rows[1][f"AREL{i}"] for i in (1, 2, 3)] == ["PROBABLE", "POSSIBLE", None]
    assert rows[0]["AREL1"] is None
    assert "AREL4" not in rows[0]


def test_adrs_has_computed_and_entered_calls_with_agreement():
    response = PatientResponse(
        records=(
            ResponseRecord(D(2024, 3, 6), "PR", "PR", "VGPR", True, "C3D1", "IMWG2016", "5"),
            ResponseRecord(D(2024, 2, 7), "SD", None, "SD", True, "C2D1", "IMWG2016", "4"),
        )
    )

    rows = adrs_rows(inputs(record(response=response)))

    assert [r["AVISIT"] for r in rows] == ["C2D1", "C3D1"]
    assert [r["AGREEFL"] for r in rows] == ["Y", "N"]
    assert rows[0]["CONFRESP"] is None
    assert rows[1]["INVRESP"] == "VGPR"


def test_no_adrs_rows_without_the_response_source():
    assert adrs_rows(inputs(record())) == []


def test_response_counts_overall_and_by_dose_level():
    def responder(pid, bor, level):
        return record(
            usubjid=f"IPD-01-{pid:03d}",
            patient_id=pid,
            dose_level=level,
            response=PatientResponse(
                assessments=(ResponseAssessment(D(2024, 2, 7), bor),),
                best_overall_response=bor,
            ),
        )

    patients = (
        responder(1, "VGPR", "DL1"),
        responder(2, "SD", "DL1"),
        responder(3, "PR", "DL2"),
        record(usubjid="IPD-01-004", patient_id=4, dose_level="DL2", response=PatientResponse()),
    )

    counts = response_counts(inputs(*patients))

    assert [(c.group, c.responders, c.evaluable) for c in counts] == [
        ("ALL", 2, 3),
        ("DL1", 1, 2),
        ("DL2", 1, 1),
    ]


def test_swimmer_lanes_mark_response_progression_and_ongoing_treatment():
    progressed = record(
        response=PatientResponse(
            assessments=(
                ResponseAssessment(D(2024, 2, 9), "PR"),
                ResponseAssessment(D(2024, 4, 9), "PD", confirmed_progression=True),
            ),
            progression=SourcedDate(D(2024, 4, 9), "RS", "8"),
            first_response=SourcedDate(D(2024, 2, 9), "RS", "6"),
        ),
        off_treatment_date=D(2024, 4, 20),
    )
    ongoing = record(usubjid="IPD-01-002", patient_id=2)
    data = inputs(progressed, ongoing)
    adtte = derive_adtte(
        data.patients, data.known_alive, data.assessments, data_cut=CUT, studyid="IPD"
    )

    first, second = swimmer_lanes(data, adtte)

    assert (first.treatment_days, first.ongoing) == (101.0, False)
    assert (first.first_response_days, first.progression_days) == (30.0, 90.0)
    assert (second.treatment_days, second.ongoing) == (143.0, True)  # to last known alive
    assert second.progression_days is None


def test_rows_in_order_is_what_a_stable_sort_would_leave_unchanged():
    import numpy as np
    import pandas as pd

    from survival.domain.inputs import _in_order

    keys = ["position", "onset_key", "src_key"]
    rng = np.random.default_rng(7)
    day = np.datetime64("2024-01-01", "ns")
    for _ in range(300):
        n = int(rng.integers(0, 10))
        onset = day + rng.integers(0, 3, n).astype("timedelta64[D]")
        frame = pd.DataFrame(
            {
                "position": rng.integers(0, 3, n),
                "onset_key": np.where(rng.random(n) < 0.3, np.datetime64("NaT"), onset),
                "src_key": rng.choice(["", "1", "10", "9", "100"], n).astype(object),
            }
        )
        for rows in (frame, frame.sort_values(keys, na_position="last", kind="mergesort")):
            rows = rows.reset_index(drop=True)
            stable = rows.sort_values(keys, na_position="last", kind="mergesort")
            assert _in_order(rows, keys) == (list(stable.index) == list(range(len(rows))))
