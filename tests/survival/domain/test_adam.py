"""ADaM-style frames: columns, dtypes, missing values and the data dictionary."""

import datetime as dt

import pandas as pd
import pyreadstat
import pytest

from survival.domain.adam import (
    DATA_DICTIONARY,
    DATASETS,
    RESPONSE_CODES,
    build_adae,
    build_adrs,
    build_adsl,
    build_adtte,
    build_km_estimates,
    build_km_summary,
    data_dictionary_frame,
    to_xpt_frame,
    variables,
)
from survival.domain.endpoints import (
    RESPONSE_CATEGORIES,
    PatientEndpointInput,
    ResponseAssessment,
    SourcedDate,
    derive_all_endpoints,
)
from survival.domain.km import CI_METHOD, fit_km, fit_km_by_group

D = dt.date
TOY_TIMES = (35, 60, 60, 95, 120, 150, 180, 210, 240, 300, 330, 365)
TOY_EVENTS = (1, 1, 0, 1, 0, 1, 1, 0, 1, 0, 0, 0)


def names(dataset):
    return [v.name for v in variables(dataset) if not v.optional]


def test_dictionary_names_labels_and_xpt_limits():
    assert set(DATASETS) == {v.dataset for v in DATA_DICTIONARY}
    for v in DATA_DICTIONARY:
        assert len(v.label) <= 40, v
        assert len(v.xpt_name) <= 8, v
        assert v.type in {"string", "integer", "float", "date"}
    for dataset in DATASETS:
        xpt = [v.xpt_name for v in variables(dataset)]
        assert len(xpt) == len(set(xpt)), dataset


def test_response_codelist_matches_the_endpoint_categories():
    assert {code for code, _ in RESPONSE_CODES} == RESPONSE_CATEGORIES


def test_dictionary_holds_the_spec_variables():
    assert names("adsl")[:4] == ["STUDYID", "USUBJID", "SITEID", "DOSELVL"]
    for name in ("TRTSDT", "SAFFL", "DLTEVLFL", "EFFFL", "RP2DFL", "BOR", "EOSSTT"):
        assert name in names("adsl")
    assert names("adtte") == [
        "STUDYID",
        "USUBJID",
        "PARAMCD",
        "PARAM",
        "STARTDT",
        "ADT",
        "AVAL",
        "AVALM",
        "CNSR",
        "EVNTDESC",
        "CNSDTDSC",
        "SRCDOM",
        "SRCID",
    ]
    assert names("km_estimates") == [
        "PARAMCD",
        "TIME",
        "N_AT_RISK",
        "N_EVENTS",
        "N_CENSORED",
        "SURVIVAL",
        "LCL",
        "UCL",
    ]
    cnsr = next(v for v in variables("adtte") if v.name == "CNSR")
    assert cnsr.codelist == (("0", "Event"), ("1", "Censored"))
    aval = next(v for v in variables("adtte") if v.name == "AVAL")
    assert aval.unit == "days"


def test_data_dictionary_frame_names_agents():
    frame = data_dictionary_frame(agents=("ixazomib", "pomalidomide", "dexamethasone"))
    assert list(frame.columns) == [
        "DATASET",
        "VARIABLE",
        "XPTNAME",
        "LABEL",
        "TYPE",
        "UNIT",
        "CODELIST",
    ]
    arel = frame[frame["VARIABLE"].str.startswith("AREL")]
    assert arel["LABEL"].tolist() == [
        "Causality to Ixazomib",
        "Causality to Pomalidomide",
        "Causality to Dexamethasone",
    ]
    row = frame[(frame["DATASET"] == "km_summary") & (frame["VARIABLE"] == "MEDIAN_LCL")]
    assert row["XPTNAME"].item() == "MEDLCL"
    assert row["UNIT"].item() == "months (days / 30.4375)"


def adtte_rows():
    first_dose = SourcedDate(D(2024, 1, 1), "EX", "ex-1")
    responder = PatientEndpointInput(
        usubjid="A-001",
        first_dose=first_dose,
        assessments=(
            ResponseAssessment(D(2024, 2, 26), "PR", srcid="rs-2"),
            ResponseAssessment(D(2024, 4, 22), "PD", confirmed_progression=True, srcid="rs-4"),
        ),
        progression=SourcedDate(D(2024, 4, 22), "RS", "rs-4"),
        first_response=SourcedDate(D(2024, 2, 26), "RS", "rs-2"),
    )
    no_assessment = PatientEndpointInput(usubjid="A-002", first_dose=first_dose)
    return derive_all_endpoints([responder, no_assessment], data_cut=D(2024, 12, 31))


def test_adtte_columns_dtypes_and_values():
    frame = build_adtte(adtte_rows(), studyid="IPD-1")
    assert list(frame.columns) == names("adtte")
    assert frame.dtypes.astype(str).to_dict() == {
        "STUDYID": "string",
        "USUBJID": "string",
        "PARAMCD": "string",
        "PARAM": "string",
        "STARTDT": "datetime64[ns]",
        "ADT": "datetime64[ns]",
        "AVAL": "Int64",
        "AVALM": "Float64",
        "CNSR": "Int64",
        "EVNTDESC": "string",
        "CNSDTDSC": "string",
        "SRCDOM": "string",
        "SRCID": "string",
    }
    assert frame["PARAMCD"].tolist() == ["TTP", "PFS", "DOR", "OS", "TTP", "PFS", "OS"]
    first = frame.iloc[0]
    assert first["ADT"] == pd.Timestamp("2024-04-22")
    assert (first["AVAL"], first["CNSR"], first["SRCID"]) == (112, 0, "rs-4")
    assert first["AVALM"] == pytest.approx(112 / 30.4375)
    # an event has no censoring-date description: missing, not an empty string
    assert pd.isna(first["CNSDTDSC"])
    # A-002 has nothing after first dose: OS censored at the EX record, day 0
    os_a002 = frame.iloc[6]
    assert (os_a002["AVAL"], os_a002["CNSR"], os_a002["SRCDOM"]) == (0, 1, "EX")


def test_adtte_of_no_rows_keeps_the_schema():
    frame = build_adtte([], studyid="IPD-1")
    assert len(frame) == 0
    assert list(frame.columns) == names("adtte")
    assert str(frame["AVAL"].dtype) == "Int64"


def test_km_summary_not_reached_is_missing_never_zero():
    fits = (
        fit_km(TOY_TIMES, TOY_EVENTS, paramcd="PFS"),
        fit_km((10, 20, 30), (0, 0, 0), paramcd="OS"),
    )
    frame = build_km_summary(fits)
    assert list(frame.columns) == names("km_summary")
    assert "GROUP" not in frame.columns
    pfs, os_ = frame.iloc[0], frame.iloc[1]
    assert (pfs["N"], pfs["EVENTS"], pfs["CENSORED"]) == (12, 6, 6)
    assert pfs["MEDIAN"] == pytest.approx(240 / 30.4375)
    assert pfs["MEDIAN_LCL"] == pytest.approx(60 / 30.4375)
    assert pd.isna(pfs["MEDIAN_UCL"])
    assert pfs["S6"] == pytest.approx(0.529100529)
    assert pd.isna(pfs["S12"])
    assert pd.isna(os_["MEDIAN"]) and pd.isna(os_["MEDIAN_LCL"])
    assert pfs["CI_METHOD"] == CI_METHOD
    assert str(frame["MEDIAN"].dtype) == "Float64"
    assert str(frame["N"].dtype) == "Int64"


def test_km_frames_with_groups_have_a_group_column():
    fits = fit_km_by_group(
        TOY_TIMES,
        TOY_EVENTS,
        ["DL1"] * 6 + ["DL2"] * 6,
        group_order=["DL1", "DL2", "DL3"],
        paramcd="PFS",
    )
    summary = build_km_summary(fits)
    assert list(summary.columns[:3]) == ["PARAMCD", "GROUP", "N"]
    assert summary["GROUP"].tolist() == ["DL1", "DL2", "DL3"]
    assert summary["N"].tolist() == [6, 6, 0]
    estimates = build_km_estimates(fits)
    assert list(estimates.columns) == [
        "PARAMCD",
        "GROUP",
        "TIME",
        "N_AT_RISK",
        "N_EVENTS",
        "N_CENSORED",
        "SURVIVAL",
        "LCL",
        "UCL",
    ]
    # DL1: time 0 and 5 distinct times (35, 60, 95, 120, 150); DL2: time 0 and 6; DL3: none
    assert estimates["GROUP"].value_counts().to_dict() == {"DL2": 7, "DL1": 6}


def test_km_estimates_times_in_months_with_missing_band_where_survival_is_zero():
    frame = build_km_estimates([fit_km((30, 60), (1, 1), paramcd="OS")])
    assert frame["TIME"].tolist() == pytest.approx([0, 30 / 30.4375, 60 / 30.4375])
    assert frame["N_AT_RISK"].tolist() == [2, 2, 1]
    assert frame["SURVIVAL"].tolist() == [1.0, 0.5, 0.0]
    assert pd.isna(frame["LCL"].iloc[2]) and pd.isna(frame["UCL"].iloc[2])
    assert str(frame["N_EVENTS"].dtype) == "Int64"


def test_adsl_from_dicts_with_flags_and_dates():
    frame = build_adsl(
        [
            {
                "STUDYID": "IPD-1",
                "USUBJID": "A-001",
                "SITEID": "01",
                "DOSELVL": "DL2: ixazomib 4 mg",
                "DOSELVLN": 2,
                "TRTSDT": D(2024, 1, 1),
                "SAFFL": True,
                "DLTEVLFL": False,
                "EFFFL": "Y",
                "RP2DFL": None,
                "BOR": "VGPR",
                "EOSSTT": "ONGOING",
            },
            {"STUDYID": "IPD-1", "USUBJID": "A-002", "TRTSDT": None},
        ]
    )
    assert list(frame.columns) == names("adsl")
    assert frame["SAFFL"].tolist()[0] == "Y"
    assert frame["DLTEVLFL"].tolist()[0] == "N"
    assert pd.isna(frame["RP2DFL"].iloc[0])
    assert frame["TRTSDT"].iloc[0] == pd.Timestamp("2024-01-01")
    assert pd.isna(frame["TRTSDT"].iloc[1])
    assert pd.isna(frame["DOSELVLN"].iloc[1])
    assert str(frame["TRTSDT"].dtype) == "datetime64[ns]"


def test_dates_accept_datetimes_timestamps_text_and_missing():
    frame = build_adsl(
        [
            {"USUBJID": "A-001", "TRTSDT": dt.datetime(2024, 1, 1, 14, 30)},
            {"USUBJID": "A-002", "TRTSDT": pd.Timestamp("2024-01-02 08:00")},
            {"USUBJID": "A-003", "TRTSDT": None},
        ]
    )
    assert frame["TRTSDT"].tolist()[:2] == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-02")]
    assert pd.isna(frame["TRTSDT"].iloc[2])
    text = build_adsl([{"USUBJID": "A-004", "TRTSDT": "2024-01-03"}, {"USUBJID": "A-005"}])
    assert text["TRTSDT"].iloc[0] == pd.Timestamp("2024-01-03")
    assert pd.isna(text["TRTSDT"].iloc[1])
    assert str(text["TRTSDT"].dtype) == "datetime64[ns]"


def test_adsl_rejects_unknown_variables():
    with pytest.raises(ValueError, match="unknown variables \\['TRTSTDT'\\]"):
        build_adsl([{"USUBJID": "A-001", "TRTSTDT": D(2024, 1, 1)}])


def test_adae_from_objects_keeps_one_attribution_column_per_agent():
    class Event:
        studyid = "IPD-1"
        usubjid = "A-001"
        aeseq = 1
        aeterm = "Febrile neutropenia"
        aedecod = "Febrile neutropenia"
        aetoxgr = 4
        aeser = True
        dltfl = True
        astdt = D(2024, 1, 15)
        aendt = None
        arel1 = "PROBABLE"
        arel2 = "POSSIBLE"
        arel3 = "UNLIKELY"

    frame = build_adae([Event()], n_agents=3)
    assert [c for c in frame.columns if c.startswith("AREL")] == ["AREL1", "AREL2", "AREL3"]
    row = frame.iloc[0]
    assert (row["AETOXGR"], row["AESER"], row["DLTFL"], row["AREL1"]) == (4, "Y", "Y", "PROBABLE")
    assert pd.isna(row["AENDT"])


def test_adrs_keeps_computed_and_entered_responses():
    frame = build_adrs(
        [
            {
                "USUBJID": "A-001",
                "PARAMCD": "OVRLRESP",
                "ADT": D(2024, 2, 26),
                "AVALC": "PR",
                "CONFRESP": "PR",
                "INVRESP": "VGPR",
                "AGREEFL": False,
                "ADEQFL": True,
                "RSCRIT": "IMWG 2016",
            }
        ]
    )
    assert frame.loc[0, ["AVALC", "INVRESP", "AGREEFL", "ADEQFL"]].tolist() == [
        "PR",
        "VGPR",
        "N",
        "Y",
    ]


def test_to_xpt_frame_shortens_names_and_writes_sas_transport(tmp_path):
    fits = fit_km_by_group(TOY_TIMES, TOY_EVENTS, ["DL1"] * 12, paramcd="PFS")
    frame, labels = to_xpt_frame(build_km_summary(fits), "km_summary")
    assert {"MEDLCL", "MEDUCL", "CIMETHOD"} <= set(frame.columns)
    assert all(len(c) <= 8 for c in frame.columns)
    path = tmp_path / "kmsumm.xpt"
    pyreadstat.write_xport(frame, str(path), table_name="KMSUMM", column_labels=labels)
    back, meta = pyreadstat.read_xport(str(path))
    assert back.loc[0, "MEDIAN"] == pytest.approx(240 / 30.4375)
    assert pd.isna(back.loc[0, "MEDUCL"])
    assert meta.column_names_to_labels["MEDLCL"] == "Median, Lower 95% CL (Empty = NR)"


def test_to_xpt_frame_rejects_columns_outside_the_dictionary():
    with pytest.raises(ValueError, match="not in the data dictionary"):
        to_xpt_frame(pd.DataFrame({"FOO": [1]}), "adsl")
