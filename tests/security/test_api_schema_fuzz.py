"""Bad input never breaks the API: schemathesis over every operation of /api/schema/.

Each operation gets a bounded, derandomized set of generated requests — valid ones and invalid
ones — sent in-process through the WSGI app and authenticated as a site coordinator with an API
token, against a trial with two sites, their staff and patients. Every answer must be a non-5xx,
and every documented answer must match the schema (body, content type, headers). Operations
added later are picked up from the schema automatically: each is its own test,
``test_api_operation_survives_generated_input[GET /api/patients/{id}/]``.

``TRIALDESK_FUZZ_EXAMPLES`` raises the number of examples per operation for a deeper run.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err, Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)

from tests.conftest import TwoSiteTrial

# One transaction per operation, rolled back after it: generated writes never pile up and no
# task reaches the broker. (A database error escaping a view would spoil the operation's later
# examples, but it is a 500 and a failure of its own first.)
pytestmark = pytest.mark.django_db

MAX_EXAMPLES = int(os.environ.get("TRIALDESK_FUZZ_EXAMPLES", "10"))
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    response_headers_conformance,
]

# The schema view needs no database, so the schema is read when the tests are collected and
# every operation becomes a test of its own.
SCHEMA = schemathesis.openapi.from_wsgi(
    "/api/schema/", WSGIHandler(), config=schemathesis.Config.from_dict({"seed": 20260921})
)
OPERATIONS = [
    pytest.param(result, id=result.ok().label if isinstance(result, Ok) else "schema-error")
    for result in SCHEMA.get_all_operations()
]


def operation_of(result):
    """The operation, or the schema's own error about it (a part the generator cannot read)."""
    if isinstance(result, Err):
        raise result.err()
    return result.ok()


@pytest.fixture
def keep_test_connection():
    """As Django's test client does: the WSGI handler must not close the connection that holds
    the test's transaction when a request ends."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def coordinator_token(two_site_trial: TwoSiteTrial) -> str:
    return Token.objects.create(user=two_site_trial.coordinator_a).key


def test_the_schema_lists_the_api():
    labels = [param.id for param in OPERATIONS]

    assert "schema-error" not in labels
    assert "GET /api/patients/" in labels
    assert len(labels) == len(set(labels))


@pytest.mark.parametrize("result", OPERATIONS)
def test_api_operation_survives_generated_input(result, keep_test_connection, coordinator_token):
    operation = operation_of(result)
    headers = {"Authorization": f"Token {coordinator_token}"}

    @given(
        case=st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )
    )
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def survives(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    survives()
