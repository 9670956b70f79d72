"""The export's files in each format: typed loads, one date format, empty missing values,
XPT read back with pyreadstat, manifest hashes, byte-identical repeats (no database)."""

import datetime as dt
import hashlib
import json
import zipfile

import pandas as pd
import pyreadstat
import pytest

from survival.domain.analysis import DATASET_NAMES
from survival.services import write_export
from survival.writers import write_zip

#: Row of IPD-01-001's OS in ADTTE (after its TTP and PFS rows): death on day 35.
FIRST_OS = 2
EXTENSIONS = {"csv": "csv", "xlsx": "xlsx", "xpt": "xpt", "parquet": "parquet"}


def export(toy, folder, fmt):
    return write_export(toy.frames(), toy.context(), folder, fmt=fmt)


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "xpt", "parquet"])
def test_manifest_lists_every_file_with_its_hash_and_rows(toy, tmp_path, fmt):
    result = export(toy, tmp_path, fmt)

    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["format"] == fmt
    assert manifest["data_cut"] == "2025-06-30"
    assert manifest["software"]["trialdesk"]
    assert manifest["date_format"].startswith("YYYY-MM-DD")
    names = [f["name"] for f in manifest["files"]]
    assert names == [f"{name}.{EXTENSIONS[fmt]}" for name in DATASET_NAMES]
    for item in manifest["files"]:
        assert sha256(tmp_path / item["name"]) == item["sha256"]
    assert manifest["datasets"]["adsl"]["rows"] == 12
    assert manifest["datasets"]["adtte"]["rows"] == 36
    assert manifest["median_follow_up"]["display"] == "9.9 (3.9–NR)"
    assert manifest["sources"]["response"]["available"] is False
    assert result.row_counts["adae"] == 0


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "xpt", "parquet"])
def test_the_same_frames_give_byte_identical_files(toy, tmp_path, fmt):
    export(toy, tmp_path / "a", fmt)
    export(toy, tmp_path / "b", fmt)

    for name in [f"{n}.{EXTENSIONS[fmt]}" for n in DATASET_NAMES] + ["manifest.json"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_csv_loads_with_the_manifest_types_exactly(toy, tmp_path):
    export(toy, tmp_path, "csv")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    frames = toy.frames()

    for name in DATASET_NAMES:
        options = manifest["datasets"][name]["pandas_read_csv"]
        loaded = pd.read_csv(tmp_path / f"{name}.csv", **options)
        # pandas cannot parse the dates of a file without rows: compare the columns only
        pd.testing.assert_frame_equal(
            loaded, frames[name], check_exact=True, check_dtype=len(loaded) > 0
        )


def test_csv_dates_are_iso_and_missing_values_are_empty(toy, tmp_path):
    export(toy, tmp_path, "csv")

    lines = (tmp_path / "adtte.csv").read_text().splitlines()
    assert lines[0].startswith('"STUDYID","USUBJID","PARAMCD","PARAM","STARTDT","ADT","AVAL"')
    # IPD-01-001's OS: death on day 35, an event, so no censoring-date description
    os_row = next(line for line in lines if line.startswith('"IPD","IPD-01-001","OS"'))
    assert ",2024-01-01,2024-02-05,35," in os_row
    assert ',0,"DEATH",,"DS","201"' in os_row
    summary = (tmp_path / "km_summary.csv").read_text().splitlines()
    header = summary[0].replace('"', "").split(",")
    overall_os = next(line for line in summary if line.startswith('"OS","ALL",')).split(",")
    assert overall_os[header.index("MEDIAN_UCL")] == ""  # not reached: empty, never 0
    assert "NaN" not in (tmp_path / "km_summary.csv").read_text()


def test_parquet_is_typed(toy, tmp_path):
    export(toy, tmp_path, "parquet")

    adtte = pd.read_parquet(tmp_path / "adtte.parquet")
    assert str(adtte["USUBJID"].dtype) == "string"
    assert str(adtte["AVAL"].dtype) == "Int64"
    assert str(adtte["AVALM"].dtype) == "Float64"
    os_row = adtte.iloc[FIRST_OS]
    assert os_row["ADT"] == dt.date(2024, 2, 5)  # Parquet DATE
    assert pd.isna(os_row["CNSDTDSC"])
    summary = pd.read_parquet(tmp_path / "km_summary.parquet")
    assert pd.isna(summary.loc[summary["PARAMCD"] == "OS", "MEDIAN_UCL"].iloc[0])


def test_xpt_reads_back_with_pyreadstat(toy, tmp_path):
    export(toy, tmp_path, "xpt")

    adtte, meta = pyreadstat.read_xport(tmp_path / "adtte.xpt")
    assert meta.table_name == "ADTTE"
    assert list(adtte.columns)[:4] == ["STUDYID", "USUBJID", "PARAMCD", "PARAM"]
    assert meta.column_names_to_labels["CNSR"] == "Censor"
    assert meta.original_variable_types["ADT"] == "YYMMDD10"
    os_row = adtte.iloc[FIRST_OS]
    assert os_row["ADT"] == dt.date(2024, 2, 5)
    assert os_row["AVAL"] == 35
    assert os_row["CNSDTDSC"] == ""  # XPT has no missing text: blank
    summary, meta = pyreadstat.read_xport(tmp_path / "km_summary.xpt")
    assert meta.table_name == "KMSUMM"
    assert all(len(name) <= 8 for name in summary.columns)
    assert "MEDLCL" in summary.columns and "CIMETHOD" in summary.columns
    assert all(len(label) <= 40 for label in meta.column_labels)
    assert pd.isna(summary.loc[summary["PARAMCD"] == "OS", "MEDUCL"].iloc[0])
    adae, _ = pyreadstat.read_xport(tmp_path / "adae.xpt")
    assert len(adae) == 0


def test_xpt_header_dates_are_the_data_cut_not_the_clock(toy, tmp_path):
    export(toy, tmp_path, "xpt")

    header = (tmp_path / "adsl.xpt").read_bytes()[:800]
    assert b"30JUN25:00:00:00" in header
    today = dt.date.today().strftime("%d%b%y").upper().encode()
    assert today not in header


def test_xlsx_has_real_dates_and_empty_cells(toy, tmp_path):
    export(toy, tmp_path, "xlsx")

    adtte = pd.read_excel(tmp_path / "adtte.xlsx", sheet_name="adtte")
    assert adtte["ADT"].iloc[FIRST_OS] == pd.Timestamp("2024-02-05")
    assert pd.isna(adtte["CNSDTDSC"].iloc[FIRST_OS])
    with zipfile.ZipFile(tmp_path / "adtte.xlsx") as book:
        core = book.read("docProps/core.xml").decode()
        assert "2025-06-30T00:00:00Z" in core
        assert {info.date_time for info in book.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_zip_of_the_same_files_is_identical(toy, tmp_path):
    export(toy, tmp_path, "csv")
    files = sorted(tmp_path.glob("*.csv"))

    write_zip(files, tmp_path / "one.zip", folder="IPD_2025-06-30_csv")
    write_zip(files, tmp_path / "two.zip", folder="IPD_2025-06-30_csv")

    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "one.zip") as archive:
        assert archive.namelist()[0].startswith("IPD_2025-06-30_csv/")
