"""A broker outage never fails a write: the task send is logged and skipped after commit."""

import logging

import pytest
from django.db import transaction

from config.enqueue import enqueue_on_commit, send_quietly


class BrokenTask:
    name = "tests.broken"

    def apply_async(self, **kwargs):
        raise ConnectionRefusedError("broker down")


def test_send_quietly_logs_and_returns_false_when_the_broker_is_down(caplog):
    with caplog.at_level(logging.WARNING, logger="config.enqueue"):
        sent = send_quietly(BrokenTask(), 1)

    assert sent is False
    assert "sweep" in caplog.text


@pytest.mark.django_db
def test_enqueue_on_commit_waits_for_commit(django_capture_on_commit_callbacks):
    sent = []

    class RecordingTask:
        name = "tests.recording"

        def apply_async(self, args, kwargs, retry):
            sent.append(args)

    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        enqueue_on_commit(RecordingTask(), 7)
        assert sent == []

    assert len(callbacks) == 1
    from celery import current_app

    from config.celery import app

    assert current_app.main == app.main
    assert sent == [(7,)]


@pytest.mark.django_db
def test_enqueue_on_commit_with_dead_broker_does_not_raise(django_capture_on_commit_callbacks):
    # A separate Celery app: the project's app and its producer pool are never pointed at the
    # dead broker, so no later test inherits a broken connection pool.
    from celery import Celery

    # set_as_current=False: otherwise every @shared_task would bind to this app from now on.
    dead = Celery("dead-broker", broker="redis://127.0.0.1:1/0", set_as_current=False)
    dead.conf.broker_connection_timeout = 1

    @dead.task(name="tests.dead_broker_task")
    def dead_task(token):  # pragma: no cover - never runs: the broker is unreachable
        return token

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        enqueue_on_commit(dead_task, "token-x")

    assert len(callbacks) == 1
    from celery import current_app

    from config.celery import app

    assert current_app.main == app.main
