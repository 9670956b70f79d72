"""``export_endpoints``: the files survival.md specifies, logged, and named cuts re-exported
byte for byte."""

import datetime as dt
import hashlib
import json

import pyreadstat
import pytest
from django.core.management import CommandError, call_command

from survival.models import DataCut, ExportJob
from tests.survival.factories import alive, died, dose, study_patient

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

D = dt.date
FILES = (
    "adsl",
    "adtte",
    "adae",
    "adrs",
    "km_summary",
    "km_estimates",
    "data_dictionary",
)


@pytest.fixture
def trial(ipd):
    for number, death in ((1, D(2024, 5, 1)), (2, None), (3, D(2024, 9, 1))):
        p = study_patient(ipd.trial, ipd.site_a, number, dose_level=1 + number % 2)
        dose(p, D(2024, 1, 10))
        alive(p, D(2024, 3, 1))
        if death:
            died(p, death)
    return ipd


def run(*args):
    from io import StringIO

    out = StringIO()
    call_command("export_endpoints", *args, stdout=out)
    return json.loads(out.getvalue())


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_csv_export_writes_every_file_and_is_logged(trial, tmp_path):
    summary = run("--trial", "IPD", "--out", str(tmp_path / "out"), "--data-cut", "2024-12-31")

    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{name}.csv" for name in FILES] + ["manifest.json"]
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["data_cut"] == "2024-12-31"
    assert manifest["datasets"]["adsl"]["rows"] == 3
    assert manifest["datasets"]["adtte"]["rows"] == 9
    for item in manifest["files"]:
        assert sha256(out / item["name"]) == item["sha256"]
    job = ExportJob.objects.get(pk=summary["export_job"])
    assert (job.status, job.progress, job.source, job.format) == ("done", 100, "command", "csv")
    assert job.data_cut == D(2024, 12, 31)
    assert {f["name"]: f["sha256"] for f in job.files} == {p.name: sha256(p) for p in out.iterdir()}
    assert summary["rows"]["adtte"] == 9


def test_xpt_export_reads_back(trial, tmp_path):
    run("--trial", "IPD", "--out", str(tmp_path), "--format", "xpt", "--data-cut", "2024-12-31")

    adsl, meta = pyreadstat.read_xport(tmp_path / "adsl.xpt")
    assert meta.table_name == "ADSL"
    assert adsl["USUBJID"].tolist() == ["IPD-01-001", "IPD-01-002", "IPD-01-003"]
    assert adsl["TRTSDT"].tolist() == [D(2024, 1, 10)] * 3


def test_a_named_cut_is_frozen_and_re_exported_identically(trial, tmp_path):
    # given a named cut exported once
    run(
        "--trial",
        "IPD",
        "--out",
        str(tmp_path / "first"),
        "--data-cut",
        "2024-06-30",
        "--name",
        "interim1",
    )
    cut = DataCut.objects.get(trial=trial.trial, name="interim1")
    assert cut.cut_date == D(2024, 6, 30)

    # when the data behind it changes (a death dated before the cut, entered late)
    died(trial.trial.patients.get(study_id="IPD-01-002"), D(2024, 6, 1))
    run("--trial", "IPD", "--out", str(tmp_path / "again"), "--name", "interim1")

    # then the re-export is byte for byte the same, manifest included
    for name in [f"{n}.csv" for n in FILES] + ["manifest.json"]:
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "again" / name).read_bytes()
    # and an unnamed export at the same date sees the new death
    run("--trial", "IPD", "--out", str(tmp_path / "live"), "--data-cut", "2024-06-30")
    assert (tmp_path / "live" / "adtte.csv").read_bytes() != (
        tmp_path / "first" / "adtte.csv"
    ).read_bytes()
    assert ExportJob.objects.filter(named_cut=cut).count() == 2


def test_a_named_cut_refuses_another_date(trial, tmp_path):
    run("--trial", "IPD", "--out", str(tmp_path / "a"), "--data-cut", "2024-06-30", "--name", "dbl")

    with pytest.raises(CommandError, match="frozen at 2024-06-30"):
        run(
            "--trial",
            "IPD",
            "--out",
            str(tmp_path / "b"),
            "--data-cut",
            "2024-07-31",
            "--name",
            "dbl",
        )


def test_a_changed_frozen_file_is_refused(trial, tmp_path, media_root):
    run("--trial", "IPD", "--out", str(tmp_path / "a"), "--data-cut", "2024-06-30", "--name", "dbl")
    cut = DataCut.objects.get(name="dbl")
    frozen = media_root / cut.frozen_dir / "adtte.parquet"
    frozen.write_bytes(frozen.read_bytes() + b"x")

    with pytest.raises(CommandError, match="missing or changed"):
        run("--trial", "IPD", "--out", str(tmp_path / "b"), "--name", "dbl")
    assert ExportJob.objects.filter(status="failed").count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trial", "NOPE"], "no trial with code 'NOPE'"),
        (["--trial", "IPD", "--data-cut", "31/12/2024"], "YYYY-MM-DD"),
        (["--trial", "IPD", "--data-cut", "2999-01-01"], "in the future"),
        (["--trial", "IPD", "--name", "no spaces"], "Letters, digits"),
    ],
)
def test_clear_errors(trial, tmp_path, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args, "--out", str(tmp_path))


def test_inconsistent_dates_name_the_patient(trial, tmp_path):
    p = study_patient(trial.trial, trial.site_a, 9)
    dose(p, D(2024, 2, 1))
    died(p, D(2024, 1, 20))  # before the first dose

    with pytest.raises(
        CommandError, match="IPD-01-009: death date 2024-01-20 is before first dose"
    ):
        run("--trial", "IPD", "--out", str(tmp_path), "--data-cut", "2024-12-31")
