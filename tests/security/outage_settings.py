"""Settings for the app under test in test_database_restart.py: the real settings, plus a probe
endpoint that writes several rows in one transaction."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "tests.security.outage_urls"
