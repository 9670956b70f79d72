"""kombu's SQLAlchemy transport, with transport options that kombu itself reads kept out of
``create_engine``.

kombu 5.x passes every broker transport option to ``sqlalchemy.create_engine``, so the
virtual transport's own ``polling_interval`` (1 s by default: too slow for an escalation
decision to follow a DLT within 2 s) cannot be set. This subclass strips the options that
belong to kombu before the engine is created. Registered as the ``sqla`` alias in
``config/celery.py``.
"""

from __future__ import annotations

from kombu.transport import sqlalchemy as kombu_sqla
from sqlalchemy import create_engine

KOMBU_ONLY_OPTIONS = ("polling_interval", "visibility_timeout", "sep", "ack_emulation")


class Channel(kombu_sqla.Channel):
    def _engine_from_config(self):
        conninfo = self.connection.client
        options = conninfo.transport_options.copy()
        for key in (
            "queue_tablename",
            "message_tablename",
            "callback",
            "errback",
            "max_retries",
            "interval_start",
            "interval_step",
            "interval_max",
            "retry_errors",
            *KOMBU_ONLY_OPTIONS,
        ):
            options.pop(key, None)
        options.setdefault("pool_pre_ping", True)
        return create_engine(conninfo.hostname, **options)


class Transport(kombu_sqla.Transport):
    Channel = Channel
