"""Ids in URLs must be integers: anything else is a 404, never a 500 (found by fuzzing)."""

import pytest

from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    ["/api/visits/null/", "/api/visits/true/", "/api/labs/null/", "/api/visits/x/missed/"],
)
def test_non_integer_ids_are_404(two_site_trial, url):
    api = api_client_for(two_site_trial.coordinator_a)

    assert api.get(url).status_code == 404
    assert api.patch(url, {}, format="json").status_code in (404, 405)
