"""GET /health/ does a real round trip through a Celery worker, and says which part is down."""

import pytest
from django.test import Client, override_settings

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.broker]


def test_health_is_ok_after_a_worker_round_trip(celery_worker_process):
    response = Client().get("/health/")

    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok", "worker": "ok"}


@override_settings(HEALTH_WORKER_TIMEOUT=1.0, CELERY_TASK_DEFAULT_QUEUE="nobody-listens")
def test_health_is_503_when_no_worker_answers():
    response = Client().get("/health/")

    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"] == "ok"
    assert body["worker"].startswith("down")


def test_health_is_503_when_the_broker_is_down(monkeypatch):
    from config.celery import app

    real_connection_for_write = app.connection_for_write
    monkeypatch.setattr(
        app,
        "connection_for_write",
        lambda *args, **kwargs: real_connection_for_write("redis://127.0.0.1:1/0"),
    )

    response = Client().get("/health/")

    assert response.status_code == 503
    assert response.json()["broker"].startswith("down")
    assert response.json()["database"] == "ok"
