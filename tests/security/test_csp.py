"""The Content-Security-Policy header: this origin only, inline code only with the nonce."""

import re

import pytest
from django.test import Client

from tests.conftest import TwoSiteTrial, client_for

pytestmark = pytest.mark.django_db


def directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {
        name: values
        for name, *values in (part.split() for part in header.split(";") if part.strip())
    }


def test_pages_carry_a_strict_policy():
    response = Client().get("/accounts/login/")

    policy = directives(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in policy["script-src"]
    assert not any("*" in v or v.startswith("http") for vs in policy.values() for v in vs)


def test_api_responses_carry_the_policy_too(two_site_trial: TwoSiteTrial):
    response = client_for(two_site_trial.coordinator_a).get("/api/me/")

    assert directives(response)["default-src"] == ["'self'"]


def test_the_api_docs_inline_script_carries_this_requests_nonce(two_site_trial: TwoSiteTrial):
    client = client_for(two_site_trial.coordinator_a)

    first = client.get("/api/docs/")
    second = client.get("/api/docs/")

    nonce = re.search(r"'nonce-([^']+)'", first["Content-Security-Policy"]).group(1)
    body = first.content.decode()
    inline_scripts = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", body)
    assert inline_scripts
    assert all(f'nonce="{nonce}"' in attrs for attrs in inline_scripts)
    assert f'<style nonce="{nonce}">' in body
    assert nonce not in second["Content-Security-Policy"]


def test_pages_have_no_inline_script_without_a_nonce(two_site_trial: TwoSiteTrial):
    client = client_for(two_site_trial.investigator)

    bodies = [client.get(url).content.decode() for url in ("/", "/patients/", "/trials/")]

    for body in bodies:
        inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", body)
        assert all("nonce=" in attrs for attrs in inline)
        assert " onclick=" not in body and " onload=" not in body
