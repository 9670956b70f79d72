"""The Celery application and the beat schedule (declared here, in code, in one place)."""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab
from kombu.transport import TRANSPORT_ALIASES

# The Postgres broker (the default) uses our subclass of kombu's SQLAlchemy transport.
TRANSPORT_ALIASES["sqla"] = "config.kombu_sqla:Transport"

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("trialdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Every periodic task of the product. Later features add their sweeps here, not elsewhere.
app.conf.beat_schedule = {
    "beat-heartbeat": {
        "task": "trials.beat_heartbeat",
        "schedule": 60.0,
    },
    "expire-stale-health-pings": {
        "task": "trials.purge_health_pings",
        "schedule": crontab(minute=17),
    },
}
