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
    "survival-sweep-export-jobs": {
        "task": "survival.sweep_export_jobs",
        "schedule": 120.0,
    },
    "expire-stale-health-pings": {
        "task": "trials.purge_health_pings",
        "schedule": crontab(minute=17),
    },
    # Safety: close DLT windows (and flag toxicities that have now lasted long enough) daily;
    # SAE reminders hourly (each reminder recorded, so none is sent twice).
    "close-dlt-windows": {
        "task": "safety.close_dlt_windows",
        "schedule": crontab(hour=2, minute=5),
    },
    "sae-reminders": {
        "task": "safety.sae_reminders",
        "schedule": crontab(minute=7),
    },
    # Response: re-evaluate every enrolled patient of the active trials and their Simon
    # monitors, making up for an evaluation message lost to a broker outage (idempotent).
    "response-sweep": {
        "task": "response.sweep",
        "schedule": crontab(minute="*/30"),
    },
    # Dosing: re-evaluate every trial in dose escalation (idempotent: an unchanged input stores
    # nothing), making up for an evaluation message lost to a broker outage.
    "dosing-sweep-escalations": {
        "task": "dosing.sweep_escalations",
        "schedule": 60.0,
    },
}
