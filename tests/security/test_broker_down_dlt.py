"""Fault: the broker is down while a DLT is recorded and adjudicated.

The web process cannot send the escalation evaluation. The writes must succeed all the same
(answers 2xx, rows and audit rows present) and no decision exists yet; once the broker is back,
the beat sweep (``dosing.sweep_escalations``, sent to a real worker on the test database) makes
up for the lost message with exactly one escalation decision.

The outage is a kombu connection to a closed port: every task send of this process is given
that connection, so the project app and its producer pool are never touched.
"""

from __future__ import annotations

import logging
import time

import pytest
from celery.app.task import Task
from django.apps import apps
from kombu import Connection

from dosing import tasks
from dosing.models import EscalationDecision
from safety.models import DltAdjudication, PotentialDlt
from tests.conftest import api_client_for
from tests.dosing.factories import cohort
from tests.factories import TEST_PASSWORD, days_ago
from tests.safety.factories import dosed_patient
from tests.security.helpers import confirmed_device, totp_code

WORKER_WAIT_SECONDS = 60
#: Nothing listens on port 1: every publish through it fails at once.
DEAD_BROKER_URL = "redis://127.0.0.1:1/0"


class BrokerOutage:
    """While active, every ``apply_async`` in this process publishes through a dead broker."""

    def __init__(self, monkeypatch):
        # A bare kombu connection: a second Celery app would take its broker from the
        # CELERY_BROKER_URL environment variable (which overrides the app's own setting), and
        # so would reach the live broker whenever that variable is set.
        self.monkeypatch = monkeypatch
        original = Task.apply_async

        def through_dead_broker(task, args=None, kwargs=None, **options):
            with Connection(DEAD_BROKER_URL, connect_timeout=1) as connection:
                options["connection"] = connection
                return original(task, args, kwargs, **options)

        monkeypatch.setattr(Task, "apply_async", through_dead_broker)

    def end(self) -> None:
        self.monkeypatch.undo()


@pytest.fixture
def broker_outage(celery_worker_process, monkeypatch):
    """Requested before the trial fixtures, so nothing they send reaches the real worker."""
    outage = BrokerOutage(monkeypatch)
    yield outage
    outage.end()


@pytest.fixture
def ctcae(db):
    """The CTCAE v5.0 rows (a data migration installs them; a transactional test flushes them)."""
    from safety.models import CtcaeTerm
    from safety.services import ctcae_dictionary_install

    if not CtcaeTerm.objects.filter(version="5.0").exists():
        ctcae_dictionary_install(version="5.0", acting_user=None)


def _wait_for(condition, *, seconds: float = WORKER_WAIT_SECONDS):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not done within {seconds} s")


@pytest.mark.slow
@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_a_dlt_recorded_while_the_broker_is_down_is_evaluated_by_the_sweep(
    broker_outage, ipd, ctcae, caplog
):
    # given two DL1 patients without a DLT and a third in their DLT window
    cohort(ipd, ["NO_DLT", "NO_DLT"])
    patient = dosed_patient(ipd, first_dose_days_ago=15)
    device = confirmed_device(ipd.investigator)
    assert not EscalationDecision.objects.filter(trial=ipd.trial).exists()

    # when, with the broker down, the coordinator records a grade 4 neutropenia and the
    # investigator confirms it as a DLT, through the API
    with caplog.at_level(logging.WARNING, logger="config.enqueue"):
        recorded = api_client_for(ipd.coordinator_a).post(
            "/api/safety/adverse-events/",
            {
                "patient": patient.pk,
                "term": "Neutrophil count decreased",
                "onset_date": days_ago(12).isoformat(),
                "grade": 4,
                "attributions": [
                    {"agent": "IXA", "attribution": "possible", "action_taken": "held"}
                ],
            },
            format="json",
        )
        potential = PotentialDlt.objects.get(adverse_event_id=recorded.json()["id"])
        adjudicated = api_client_for(ipd.investigator).post(
            f"/api/safety/potential-dlts/{potential.pk}/adjudicate/",
            {
                "decision": "confirmed",
                "reason": "grade 4 neutropenia for 12 days",
                "meaning": "I confirm this is a dose-limiting toxicity",
                "version": potential.version,
                "password": TEST_PASSWORD,
                "otp_token": totp_code(device),
            },
            format="json",
        )

    # then both writes succeeded and are audited, the evaluation was not sent, and no
    # decision exists yet
    assert recorded.status_code == 201, recorded.content
    assert adjudicated.status_code == 200, adjudicated.content
    assert adjudicated.json()["status"] == "confirmed"
    assert DltAdjudication.objects.filter(potential_dlt=potential).count() == 1
    event_model = apps.get_model("safety", "PotentialDltEvent")
    assert event_model.objects.filter(pgh_obj_id=potential.pk, status="confirmed").exists()
    assert "task not sent" in caplog.text
    assert not EscalationDecision.objects.filter(trial=ipd.trial).exists()

    # when the broker is back and beat sends the sweep to the worker
    broker_outage.end()
    tasks.sweep_escalations.apply_async()

    # then the worker stores exactly one decision, counting the DLT
    decision = _wait_for(lambda: EscalationDecision.objects.filter(trial=ipd.trial).first())
    tasks.sweep_escalations.apply_async()  # a second sweep stores nothing new
    time.sleep(3)
    assert EscalationDecision.objects.filter(trial=ipd.trial).count() == 1
    assert decision.rule_id == "3p3.R2"  # one DLT among three at DL1: expand to six
