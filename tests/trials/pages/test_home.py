"""The home page shows each role what it needs first."""

import pytest
from django.urls import reverse

from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("who", "shown", "not_shown"),
    [
        ("coordinator_a", "Visits due", "Awaiting your signature"),
        ("investigator", "Awaiting your signature", "Visits due"),
        ("statistician", "Exports", "Visits due"),
    ],
)
def test_each_role_sees_its_first_things(two_site_trial, who, shown, not_shown):
    user = getattr(two_site_trial, who)

    body = client_for(user).get(reverse("home")).content.decode()

    assert shown in body
    assert not_shown not in body


def test_navigation_links_to_every_part(two_site_trial):
    body = client_for(two_site_trial.investigator).get(reverse("home")).content.decode()

    for url in ("/safety/", "/dosing/", "/response/queries/", "/survival/"):
        assert f'href="{url}"' in body
