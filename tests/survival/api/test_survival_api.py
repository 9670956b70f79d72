"""The survival API: start an export (202), follow it, download it, the export log and data
cuts, the Kaplan–Meier summary and plots; 403 for other roles, 404 for other trials, 4xx never
500."""

import datetime as dt
import hashlib
import io
import zipfile

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from survival import services
from survival.models import ExportJob
from tests.conftest import api_client_for
from tests.survival.factories import died, dose, study_patient

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

D = dt.date
BASE = "/api/survival/trials/IPD"


def start(client, **payload):
    return client.post(f"{BASE}/exports/", {"format": "csv", **payload}, format="json")


def test_a_statistician_starts_follows_and_downloads_an_export(
    survival_trial, eager, django_capture_on_commit_callbacks
):
    client = api_client_for(survival_trial.statistician)

    with django_capture_on_commit_callbacks(execute=True):
        response = start(client, data_cut="2024-12-31", format="xlsx")

    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["format"], body["data_cut"]) == ("queued", "xlsx", "2024-12-31")
    assert body["requested_by"] == survival_trial.statistician.email
    assert response["Location"] == body["status_url"]
    status = client.get(body["status_url"]).json()
    assert (status["status"], status["progress"]) == ("done", 100)
    assert {f["name"] for f in status["files"]} >= {"adsl.xlsx", "manifest.json"}
    download = client.get(status["download_url"])
    assert download.status_code == 200
    assert download["Content-Type"] == "application/zip"
    data = b"".join(download.streaming_content)
    assert hashlib.sha256(data).hexdigest() == status["zip_sha256"]
    assert "IPD_2024-12-31_xlsx/adtte.xlsx" in zipfile.ZipFile(io.BytesIO(data)).namelist()


def test_a_trial_admin_may_export_too(survival_trial):
    response = start(api_client_for(survival_trial.trial_admin))

    assert response.status_code == 202


@pytest.mark.parametrize("role", ["coordinator_a", "monitor_a"])
def test_other_roles_of_the_trial_are_refused(survival_trial, role):
    client = api_client_for(getattr(survival_trial, role))

    assert start(client).status_code == 403
    assert client.get(f"{BASE}/exports/").status_code == 403
    assert client.get(f"{BASE}/km/").status_code == 403
    assert client.get(f"{BASE}/plots/km.png").status_code == 403
    assert ExportJob.objects.count() == 0


def test_an_investigator_reads_the_results_but_does_not_export(survival_trial):
    client = api_client_for(survival_trial.investigator)
    job = services.export_job_start(
        trial=survival_trial.trial, acting_user=survival_trial.statistician
    )

    assert client.get(f"{BASE}/km/?data_cut=2024-12-31").status_code == 200
    assert client.get(f"{BASE}/plots/km.svg?data_cut=2024-12-31").status_code == 200
    assert start(client).status_code == 403
    assert client.get(f"{BASE}/exports/").status_code == 403
    assert client.get(f"{BASE}/exports/{job.pk}/download/").status_code == 403
    assert client.get(f"{BASE}/data-cuts/").status_code == 403


def test_another_trial_is_not_found(survival_trial, outsider):
    job = services.export_job_start(
        trial=survival_trial.trial, acting_user=survival_trial.statistician
    )
    client = api_client_for(outsider)

    assert start(client).status_code == 404
    assert client.get(f"{BASE}/exports/{job.pk}/").status_code == 404
    assert client.get(f"{BASE}/exports/{job.pk}/download/").status_code == 404
    assert client.get(f"{BASE}/plots/km.png").status_code == 404


def test_anonymous_is_refused(survival_trial):
    from rest_framework.test import APIClient

    assert APIClient().get(f"{BASE}/km/").status_code in (401, 403)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"format": "sav"}, "format"),
        ({"data_cut": "31/12/2024"}, "data_cut"),
        ({"data_cut": "2999-01-01"}, "data_cut"),
        ({"data_cut": "0001-01-01"}, "data_cut"),
        ({"cut_name": "two words"}, "cut_name"),
    ],
)
def test_bad_export_requests_are_400_with_the_field(survival_trial, payload, field):
    response = start(api_client_for(survival_trial.statistician), **payload)

    assert response.status_code == 400
    assert field in response.json()


def test_a_named_cut_cannot_be_exported_at_another_date(
    survival_trial, eager, django_capture_on_commit_callbacks
):
    client = api_client_for(survival_trial.statistician)
    with django_capture_on_commit_callbacks(execute=True):
        first = start(client, data_cut="2024-06-30", cut_name="interim1").json()
    again = start(client, cut_name="interim1").json()

    refused = start(client, data_cut="2024-07-31", cut_name="interim1")

    assert client.get(first["status_url"]).json()["named_cut"] == "interim1"
    assert again["data_cut"] == "2024-06-30"
    assert refused.status_code == 400
    assert "frozen at 2024-06-30" in refused.json()["data_cut"][0]
    cuts = client.get(f"{BASE}/data-cuts/").json()["results"]
    assert [(c["name"], c["cut_date"]) for c in cuts] == [("interim1", "2024-06-30")]


def test_download_before_the_job_is_done_is_404(survival_trial):
    job = services.export_job_start(
        trial=survival_trial.trial, acting_user=survival_trial.statistician
    )

    response = api_client_for(survival_trial.statistician).get(f"{BASE}/exports/{job.pk}/download/")

    assert response.status_code == 404


def count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_export_log_query_count_does_not_grow(survival_trial):
    client = api_client_for(survival_trial.statistician)
    services.export_job_start(trial=survival_trial.trial, acting_user=survival_trial.statistician)
    one = count_queries(client, f"{BASE}/exports/")
    for _ in range(4):
        services.export_job_start(
            trial=survival_trial.trial, acting_user=survival_trial.trial_admin, fmt="xpt"
        )

    five = count_queries(client, f"{BASE}/exports/")

    assert one == five
    assert client.get(f"{BASE}/exports/").json()["count"] == 5


def test_km_summary_json(survival_trial):
    response = api_client_for(survival_trial.statistician).get(f"{BASE}/km/?data_cut=2024-12-31")

    assert response.status_code == 200
    body = response.json()
    assert (body["data_cut"], body["n_enrolled"], body["n_treated"]) == ("2024-12-31", 3, 3)
    os_fits = next(e for e in body["endpoints"] if e["paramcd"] == "OS")["fits"]
    assert [(f["group"], f["n"], f["events"]) for f in os_fits] == [
        ("ALL", 3, 1),
        ("DL1", 2, 1),
        ("DL2", 1, 0),
    ]
    assert os_fits[0]["median_months"] == pytest.approx(112 / 30.4375, abs=1e-4)
    assert os_fits[2]["median_months"] is None  # DL2: not reached, null and never 0
    assert body["ci_method"].startswith("log-log")
    assert body["median_follow_up"]["method"].startswith("reverse Kaplan-Meier")
    sources = {s["name"]: s["available"] for s in body["sources"]}
    assert (sources["response"], sources["adverse_events"], sources["rp2d"]) == (True, True, False)


def test_km_summary_query_count_does_not_grow_with_patients(survival_trial):
    client = api_client_for(survival_trial.statistician)
    url = f"{BASE}/km/?data_cut=2024-12-31"
    three = count_queries(client, url)
    for number in range(10, 25):
        dose(study_patient(survival_trial.trial, survival_trial.site_b, number), D(2024, 2, 1))

    eighteen = count_queries(client, url)

    assert three == eighteen


def test_data_that_cannot_give_endpoints_is_409_naming_the_patient(survival_trial):
    p = study_patient(survival_trial.trial, survival_trial.site_a, 9)
    dose(p, D(2024, 2, 1))
    died(p, D(2024, 1, 20))
    client = api_client_for(survival_trial.statistician)

    response = client.get(f"{BASE}/km/?data_cut=2024-12-31")

    assert response.status_code == 409
    assert "IPD-01-009" in response.json()["detail"]
    assert client.get(f"{BASE}/plots/km.png?data_cut=2024-12-31").status_code == 409


@pytest.mark.parametrize(
    ("fmt", "content_type", "magic"),
    [
        ("png", "image/png", b"\x89PNG"),
        ("svg", "image/svg+xml", b"<?xml"),
        ("pdf", "application/pdf", b"%PDF"),
    ],
)
def test_km_plot_in_each_format(survival_trial, fmt, content_type, magic):
    client = api_client_for(survival_trial.statistician)

    response = client.get(
        f"{BASE}/plots/km.{fmt}?endpoint=PFS&by=dose_level&data_cut=2024-12-31",
        HTTP_ACCEPT=content_type,
    )

    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response.content.startswith(magic)


def test_swimmer_plot_and_plot_errors(survival_trial):
    client = api_client_for(survival_trial.statistician)

    assert client.get(f"{BASE}/plots/swimmer.png?data_cut=2024-12-31").status_code == 200
    assert client.get(f"{BASE}/plots/km.png?endpoint=EFS").status_code == 400
    assert client.get(f"{BASE}/plots/km.gif").status_code == 404
    assert client.get(f"{BASE}/km/?data_cut=yesterday").status_code == 400
    assert client.get(f"{BASE}/km/?data_cut=0001-01-01").status_code == 400
    assert client.get(f"{BASE}/plots/km.png?data_cut=2999-12-31").status_code == 400
    # before anyone was treated there is nothing to plot
    empty = client.get(f"{BASE}/plots/km.png?data_cut=2023-12-31", HTTP_ACCEPT="image/png")
    assert empty.status_code == 409
    assert "no patients" in empty.json()["detail"]


def test_the_openapi_schema_describes_the_survival_api(survival_trial):
    response = api_client_for(survival_trial.statistician).get("/api/schema/?format=json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/survival/trials/{code}/exports/" in paths
    assert "post" in paths["/api/survival/trials/{code}/exports/"]
    assert "/api/survival/trials/{code}/km/" in paths
