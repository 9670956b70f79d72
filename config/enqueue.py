"""Enqueue a Celery task after the current transaction commits, without ever failing the write.

A coordinator's save must succeed even when the broker is down. The task is sent after commit
(so the worker sees the committed rows); if sending fails, the failure is logged and nothing
else happens: every evaluation that events trigger is also run by a periodic beat sweep over
active trials, and evaluations are idempotent, so the missed message is made up for by the next
sweep. Nothing depends on a message that was never sent.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)


def send_quietly(task: Any, *args: Any, **kwargs: Any) -> bool:
    """Send a task now; on a broker error log it and return False (the sweep catches up)."""
    try:
        task.apply_async(args=args, kwargs=kwargs, retry=False)
    except Exception as exc:  # noqa: BLE001 - any broker failure: the sweep makes up for it
        logger.warning(
            "task not sent; the periodic sweep will run it",
            extra={"task": getattr(task, "name", str(task)), "error": repr(exc)},
        )
        return False
    return True


def enqueue_on_commit(task: Any, *args: Any, **kwargs: Any) -> None:
    """Send ``task`` after the surrounding transaction commits (at once when there is none)."""
    transaction.on_commit(lambda: send_quietly(task, *args, **kwargs))
