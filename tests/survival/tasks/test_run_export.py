"""``survival.run_export``: queued after commit, thin and idempotent, progress to 100, a
download whose hashes match, the beat sweep, and a real worker on the test database."""

import datetime as dt
import hashlib
import io
import json
import shutil
import time
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from config.celery import app
from survival import services, tasks
from survival.models import ExportJob
from tests.survival.factories import alive, died, dose, study_patient

D = dt.date


@pytest.fixture
def trial(ipd):
    for number in (1, 2):
        p = study_patient(ipd.trial, ipd.site_a, number)
        dose(p, D(2024, 1, 10))
        alive(p, D(2024, 4, 1))
    died(ipd.trial.patients.get(study_id="IPD-01-002"), D(2024, 6, 1))
    return ipd


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.django_db
@pytest.mark.usefixtures("media_root")
def test_a_started_export_runs_after_commit_to_done_with_a_checked_download(
    trial, eager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = services.export_job_start(
            trial=trial.trial,
            acting_user=trial.statistician,
            fmt="parquet",
            data_cut=D(2024, 12, 31),
        )
        assert job.status == "queued"

    assert len(callbacks) == 1
    job.refresh_from_db()
    assert (job.status, job.progress, job.step, job.attempts) == ("done", 100, "done", 1)
    assert job.requested_by == trial.statistician
    path = services.export_zip_path(job)
    data = path.read_bytes()
    assert sha256(data) == job.zip_sha256
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert names[-1] == "IPD_2024-12-31_parquet/manifest.json"
        manifest = json.loads(archive.read(names[-1]))
        for item in manifest["files"]:
            assert sha256(archive.read(f"IPD_2024-12-31_parquet/{item['name']}")) == item["sha256"]
    assert {f["name"] for f in job.files} == {n.split("/", 1)[1] for n in names}
    assert job.row_counts["adsl"] == 2


@pytest.mark.django_db
@pytest.mark.usefixtures("media_root")
def test_the_task_is_idempotent_and_tolerates_a_missing_job(trial, eager):
    job = ExportJob.objects.create(trial=trial.trial, format="csv", data_cut=D(2024, 12, 31))

    tasks.run_export.run(job.pk)
    job.refresh_from_db()
    first = (job.status, job.attempts, job.zip_sha256, job.finished_at)
    tasks.run_export.run(job.pk)
    job.refresh_from_db()

    assert first[0] == "done"
    assert (job.status, job.attempts, job.zip_sha256, job.finished_at) == first
    tasks.run_export.run(987654)  # deleted meanwhile: nothing to do, no error


@pytest.mark.django_db
@pytest.mark.usefixtures("media_root")
def test_a_job_redelivered_while_running_starts_over_with_the_same_files(trial):
    job = ExportJob.objects.create(trial=trial.trial, format="xpt", data_cut=D(2024, 12, 31))
    tasks.run_export.run(job.pk)
    job.refresh_from_db()
    done_hash = job.zip_sha256
    ExportJob.objects.filter(pk=job.pk).update(status="running", progress=40, zip_sha256="")

    tasks.run_export.run(job.pk)
    job.refresh_from_db()

    assert (job.status, job.attempts, job.zip_sha256) == ("done", 2, done_hash)


@pytest.mark.django_db
@pytest.mark.usefixtures("media_root")
def test_an_export_that_cannot_be_made_fails_with_a_message(trial):
    p = study_patient(trial.trial, trial.site_a, 3)
    dose(p, D(2024, 2, 1))
    died(p, D(2024, 1, 15))
    job = ExportJob.objects.create(trial=trial.trial, format="csv", data_cut=D(2024, 12, 31))

    tasks.run_export.run(job.pk)
    job.refresh_from_db()

    assert job.status == "failed"
    assert "IPD-01-003: death date 2024-01-15 is before first dose" in job.error
    assert job.progress < 100 and job.finished_at is not None
    assert services.export_zip_path(job) is None


@pytest.mark.django_db
@pytest.mark.usefixtures("media_root")
def test_the_sweep_resends_lost_jobs_and_fails_stuck_ones(trial, eager):
    lost = ExportJob.objects.create(trial=trial.trial, format="csv", data_cut=D(2024, 12, 31))
    stuck = ExportJob.objects.create(trial=trial.trial, format="csv", data_cut=D(2024, 12, 31))
    long_ago = timezone.now() - dt.timedelta(hours=1)
    ExportJob.objects.filter(pk=lost.pk).update(created_at=long_ago)
    ExportJob.objects.filter(pk=stuck.pk).update(status="running", started_at=long_ago)

    result = services.export_jobs_sweep()

    lost.refresh_from_db()
    stuck.refresh_from_db()
    assert result == {"requeued": 1, "failed": 1}
    assert lost.status == "done"
    assert (stuck.status, stuck.error.startswith("The export stopped")) == ("failed", True)


def test_the_beat_schedule_runs_the_export_sweep():
    entries = {e["task"] for e in app.conf.beat_schedule.values()}

    assert "survival.sweep_export_jobs" in entries


@pytest.mark.django_db
def test_every_status_change_is_in_the_audit_trail(trial, media_root):
    from pghistory.models import Events

    job = ExportJob.objects.create(trial=trial.trial, format="csv", data_cut=D(2024, 12, 31))
    tasks.run_export.run(job.pk)

    statuses = [e.pgh_data["status"] for e in Events.objects.tracks(job).order_by("pgh_id")]
    assert statuses[0] == "queued" and statuses[-1] == "done"
    assert "running" in statuses


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_export_to_done(trial, celery_worker_process):
    job = services.export_job_start(
        trial=trial.trial, acting_user=trial.statistician, fmt="csv", data_cut=D(2024, 12, 31)
    )
    try:
        deadline = time.monotonic() + 60
        seen = set()
        while time.monotonic() < deadline:
            job.refresh_from_db()
            seen.add(job.status)
            if job.finished:
                break
            time.sleep(0.2)
        assert job.status == "done", job.error or "the worker did not finish within 60 s"
        assert job.progress == 100
        zip_path = Path(settings.MEDIA_ROOT) / job.zip_path
        assert sha256(zip_path.read_bytes()) == job.zip_sha256
    finally:
        if job.output_dir:
            shutil.rmtree(Path(settings.MEDIA_ROOT) / job.output_dir, ignore_errors=True)
