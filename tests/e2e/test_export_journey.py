"""A statistician starts an export in a real browser, watches its progress while a real Celery
worker runs it, downloads the ZIP, and sees the Kaplan–Meier plot."""

import datetime as dt
import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from survival import services
from survival.models import ExportJob
from tests.e2e.conftest import login
from tests.survival.factories import alive, died, dose, study_patient

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.django_db(transaction=True)]

D = dt.date


@pytest.fixture
def trial_with_patients(ipd):
    for number, level, death in ((1, 1, D(2024, 5, 1)), (2, 2, None), (3, 1, D(2024, 8, 15))):
        p = study_patient(ipd.trial, ipd.site_a, number, dose_level=level)
        dose(p, D(2024, 1, 10))
        alive(p, D(2024, 4, 1))
        if death:
            died(p, death)
    yield ipd
    for job in ExportJob.objects.exclude(output_dir=""):
        shutil.rmtree(Path(settings.MEDIA_ROOT) / job.output_dir, ignore_errors=True)


def image_loaded(page, selector: str) -> bool:
    # Locator assertions, not wait_for_function: the page's CSP forbids evaluating strings.
    expect(page.locator(selector)).to_have_js_property("complete", True)
    return page.eval_on_selector(selector, "img => img.naturalWidth > 0")


def test_statistician_exports_watches_progress_downloads_and_sees_the_km_plot(
    page, trial_with_patients, celery_worker_process, password, tmp_path
):
    t = trial_with_patients
    login(page, t.statistician.email, password)

    # the statistician's page, at a data cut
    page.goto("/survival/")
    page.get_by_label("Analysis data cut").fill("2024-12-31")
    page.get_by_role("button", name="Show").click()
    assert page.get_by_role("heading", name="IPD survival and export").is_visible()
    assert image_loaded(page, "#km-plot")

    # starts an export
    export_form = page.locator("form[action='/survival/IPD/exports/']")
    export_form.get_by_label("Format").select_option("csv")
    export_form.get_by_label("Data cut", exact=True).fill("2024-12-31")
    export_form.get_by_role("button", name="Start the export").click()

    # watches its progress until the worker is done (no download link before that)
    assert page.get_by_role("heading", name="Export #").is_visible()
    link = page.get_by_role("link", name="Download the export (ZIP)")
    assert page.get_by_label("Export progress").is_visible()
    expect(page.get_by_label("Export progress")).to_have_js_property("value", 100, timeout=60_000)
    assert page.get_by_role("status").filter(has_text="Done — 100%").is_visible()
    assert link.is_visible()

    # downloads it: the ZIP is the job's, and its manifest's hashes match its files
    with page.expect_download() as info:
        link.click()
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    job = ExportJob.objects.get()
    assert (job.status, job.progress, job.requested_by) == ("done", 100, t.statistician)
    assert saved.name == "IPD_2024-12-31_csv.zip"
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == job.zip_sha256
    with zipfile.ZipFile(saved) as archive:
        manifest = json.loads(archive.read("IPD_2024-12-31_csv/manifest.json"))
        assert manifest["datasets"]["adsl"]["rows"] == 3
        for item in manifest["files"]:
            data = archive.read(f"IPD_2024-12-31_csv/{item['name']}")
            assert hashlib.sha256(data).hexdigest() == item["sha256"]

    # back on the trial's page, the export is in the log and the KM plot is shown
    page.get_by_role("link", name="Back to IPD survival").click()
    assert page.get_by_role("link", name=f"#{job.pk}").is_visible()
    page.get_by_role("link", name="Progression-Free Survival").click()
    assert image_loaded(page, "#km-plot")
    assert "endpoint=PFS" in page.get_attribute("#km-plot", "src")


def test_the_download_link_appears_only_when_the_export_is_done(
    page, trial_with_patients, password, settings, tmp_path
):
    # given a queued export (no worker here: the test runs it itself, later)
    settings.MEDIA_ROOT = tmp_path / "media"
    t = trial_with_patients
    job = ExportJob.objects.create(
        trial=t.trial, requested_by=t.statistician, format="xpt", data_cut=D(2024, 12, 31)
    )
    login(page, t.statistician.email, password)
    page.goto(f"/survival/IPD/exports/{job.pk}/")
    link = page.get_by_role("link", name="Download the export (ZIP)")
    expect(page.get_by_role("status")).to_have_text("Queued — 0%")
    expect(link).to_be_hidden()

    # when the export runs, the page follows it without a reload
    services.export_job_run(job_id=job.pk)

    expect(link).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("Done — 100% (done)")
    expect(page.get_by_label("Export progress")).to_have_js_property("value", 100)
