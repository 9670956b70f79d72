"""Input that PostgreSQL cannot store never reaches it: a clear 400, never a 500."""

import pytest

from tests.conftest import TwoSiteTrial, api_client_for, client_for

pytestmark = pytest.mark.django_db


def test_a_nul_character_in_the_query_string_is_a_400_not_a_crash(two_site_trial: TwoSiteTrial):
    client = api_client_for(two_site_trial.investigator)

    api = client.get("/api/patients/", {"site": "A\x00B"})
    page = client_for(two_site_trial.investigator).get("/patients/", {"q": "\x00"})

    assert api.status_code == 400
    assert "NUL" in api.json()["detail"]
    assert page.status_code == 400


def test_a_nul_character_in_the_path_is_a_400(two_site_trial: TwoSiteTrial):
    response = api_client_for(two_site_trial.investigator).get("/api/history/patient%00/1/")

    assert response.status_code == 400
