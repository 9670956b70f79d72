"""The statistician's page: results, plots, the export form, the job page with its status JSON,
and the download; 403 for other roles of the trial, 404 for other trials."""

import datetime as dt
import hashlib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from survival import services
from survival.models import ExportJob
from tests.conftest import client_for
from tests.survival.factories import alive, dose, study_patient

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

D = dt.date
PAGE = "/survival/IPD/"


def test_the_page_shows_results_plots_and_the_export_form(survival_trial):
    response = client_for(survival_trial.statistician).get(f"{PAGE}?data_cut=2024-12-31")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Kaplan–Meier results" in html
    assert 'id="km-plot"' in html and "/survival/IPD/plots/km.png?endpoint=OS" in html
    assert "Median follow-up (reverse Kaplan–Meier)" in html
    assert "Response assessments are not recorded" not in html  # the response app is read
    assert "No RP2D is signed yet: RP2DFL is empty." in html  # a source still missing is named
    assert 'action="/survival/IPD/exports/"' in html


@pytest.mark.parametrize("cut", ["0001-01-01", "2999-12-31", "not-a-date"])
def test_an_unusable_data_cut_shows_today(survival_trial, cut):
    response = client_for(survival_trial.statistician).get(f"{PAGE}?data_cut={cut}")

    assert response.status_code == 200
    assert response.context["data_cut"] == dt.date.today()


def test_the_index_sends_a_one_trial_statistician_to_the_trial(survival_trial):
    response = client_for(survival_trial.statistician).get("/survival/")

    assert response.status_code == 302
    assert response["Location"] == PAGE


@pytest.mark.parametrize("role", ["coordinator_a", "monitor_a"])
def test_other_roles_get_403(survival_trial, role):
    client = client_for(getattr(survival_trial, role))

    assert client.get(PAGE).status_code == 403
    assert client.post(f"{PAGE}exports/", {"format": "csv"}).status_code == 403
    assert client.get(f"{PAGE}plots/km.png").status_code == 403
    assert ExportJob.objects.count() == 0


def test_an_investigator_sees_the_results_without_the_export(survival_trial):
    client = client_for(survival_trial.investigator)
    job = services.export_job_start(
        trial=survival_trial.trial, acting_user=survival_trial.statistician
    )

    page = client.get(f"{PAGE}?data_cut=2024-12-31")

    assert page.status_code == 200
    html = page.content.decode()
    assert "Kaplan–Meier results" in html and 'id="km-plot"' in html
    assert "Export the datasets" not in html and "Export log" not in html
    assert client.post(f"{PAGE}exports/", {"format": "csv"}).status_code == 403
    assert client.get(f"{PAGE}exports/{job.pk}/").status_code == 403
    assert client.get(f"{PAGE}exports/{job.pk}/download/").status_code == 403


def test_another_trial_is_404(survival_trial, outsider):
    job = services.export_job_start(
        trial=survival_trial.trial, acting_user=survival_trial.statistician
    )
    client = client_for(outsider)

    assert client.get(PAGE).status_code == 404
    assert client.get(f"{PAGE}exports/{job.pk}/").status_code == 404
    assert client.get(f"{PAGE}exports/{job.pk}/status.json").status_code == 404
    assert client.get(f"{PAGE}exports/{job.pk}/download/").status_code == 404


def count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_page_query_count_does_not_grow_with_patients_or_exports(survival_trial):
    client = client_for(survival_trial.statistician)
    url = f"{PAGE}?data_cut=2024-12-31"
    before = count_queries(client, url)
    for number in range(10, 30):
        p = study_patient(survival_trial.trial, survival_trial.site_b, number)
        dose(p, D(2024, 2, 1))
        alive(p, D(2024, 6, 1))
    for _ in range(3):
        services.export_job_start(
            trial=survival_trial.trial, acting_user=survival_trial.statistician
        )

    after = count_queries(client, url)

    assert after == before


def test_export_from_the_page_to_the_download(
    survival_trial, eager, django_capture_on_commit_callbacks
):
    client = client_for(survival_trial.statistician)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"{PAGE}exports/", {"format": "parquet", "data_cut": "2024-12-31", "cut_name": ""}
        )

    job = ExportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{PAGE}exports/{job.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert '<progress id="export-progress" max="100" value="100">' in page
    assert "/static/js/export-progress.js" in page
    status = client.get(f"{PAGE}exports/{job.pk}/status.json").json()
    assert (status["status"], status["progress"], status["finished"]) == ("done", 100, True)
    download = client.get(status["download_url"])
    data = b"".join(download.streaming_content)
    assert hashlib.sha256(data).hexdigest() == job.zip_sha256 == status["zip_sha256"]
    assert 'filename="IPD_2024-12-31_parquet.zip"' in download["Content-Disposition"]


def test_a_bad_export_request_shows_the_form_again(survival_trial):
    response = client_for(survival_trial.statistician).post(
        f"{PAGE}exports/", {"format": "csv", "data_cut": "2999-01-01"}
    )

    assert response.status_code == 400
    assert "is in the future" in response.content.decode()
    assert ExportJob.objects.count() == 0


def test_a_queued_job_page_polls_until_done(survival_trial):
    job = services.export_job_start(
        trial=survival_trial.trial, acting_user=survival_trial.statistician
    )
    client = client_for(survival_trial.statistician)

    page = client.get(f"{PAGE}exports/{job.pk}/").content.decode()
    status = client.get(f"{PAGE}exports/{job.pk}/status.json")

    assert 'data-finished="false"' in page
    assert '<p id="export-download-row" hidden>' in page
    assert status.json() == {
        "id": job.pk,
        "status": "queued",
        "progress": 0,
        "step": "",
        "error": "",
        "finished": False,
        "download_url": None,
        "zip_sha256": None,
    }
    assert status["Cache-Control"] == "no-store"
    assert client.get(f"{PAGE}exports/{job.pk}/download/").status_code == 404


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("plots/km.png?endpoint=OS", "image/png"),
        ("plots/km.svg?endpoint=TTP&by=dose_level", "image/svg+xml"),
        ("plots/km.pdf?endpoint=PFS&download=1", "application/pdf"),
        ("plots/swimmer.png", "image/png"),
    ],
)
def test_plots_and_their_downloads(survival_trial, path, content_type):
    joiner = "&" if "?" in path else "?"
    response = client_for(survival_trial.trial_admin).get(
        f"{PAGE}{path}{joiner}data_cut=2024-12-31"
    )

    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    if "download=1" in path:
        assert response["Content-Disposition"].startswith("attachment;")
