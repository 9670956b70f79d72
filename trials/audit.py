"""Audit helpers shared by every app's services and pages.

The audit trail itself is written by Postgres triggers (django-pghistory). Services add the
context — who acted and why — with :func:`audited`, and read the history with
:func:`history_for`.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pghistory
from django.core.exceptions import ValidationError
from django.db import models
from pghistory.models import Events
from pghistory.runtime import Context, _tracker

MIN_REASON_LENGTH = 3


def require_reason(reason: str | None) -> str:
    """A correction of clinical data must say why (ICH GCP, 21 CFR Part 11)."""
    cleaned = (reason or "").strip()
    if len(cleaned) < MIN_REASON_LENGTH:
        raise ValidationError(
            {"reason": "Give a reason for this change (it is kept in the audit trail)."}
        )
    return cleaned


@contextlib.contextmanager
def audited(*, acting_user: Any, reason: str | None = None, **extra: Any) -> Iterator[None]:
    """Attach who and why to every audit event written inside the block.

    pghistory merges nested contexts into one row, so a reason set by an inner block (or by a
    later service in the same request) would overwrite the reason of earlier events. Each
    ``audited`` block therefore gets a context row of its own, inheriting the enclosing
    context's metadata (the request URL) but not its reason; the enclosing context is restored
    on exit.
    """
    context: dict[str, Any] = {"user": getattr(acting_user, "pk", None), **extra}
    if acting_user is not None:
        context["user_email"] = getattr(acting_user, "email", None)
    if reason:
        context["reason"] = reason
    parent = getattr(_tracker, "value", None)
    if parent is None:
        with pghistory.context(**context):
            yield
        return
    inherited = {k: v for k, v in parent.metadata.items() if k != "reason"}
    _tracker.value = Context(id=uuid.uuid4(), metadata={**inherited, **context})
    try:
        yield
    finally:
        _tracker.value = parent


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    label: str
    model: str
    changes: dict[str, list[Any]]
    data: dict[str, Any]
    user_id: int | None
    user_email: str | None
    reason: str | None
    url: str | None


HIDDEN_FIELDS = {"pgh_obj_id", "version", "updated_at"}


def history_for(
    obj: models.Model, *, hide_fields: frozenset[str] = frozenset()
) -> list[HistoryEntry]:
    """Every audit event of one record, oldest first, with who, when, what and why.

    ``hide_fields`` are masked (values replaced by "hidden") for readers who may not see them.
    """
    events = Events.objects.tracks(obj).order_by("pgh_created_at", "pgh_id")
    entries: list[HistoryEntry] = []
    for event in events:
        context = event.pgh_context or {}
        diff = {
            k: (["hidden", "hidden"] if k in hide_fields else v)
            for k, v in (event.pgh_diff or {}).items()
            if k not in HIDDEN_FIELDS
        }
        data = {k: ("hidden" if k in hide_fields else v) for k, v in (event.pgh_data or {}).items()}
        entries.append(
            HistoryEntry(
                at=event.pgh_created_at,
                label=event.pgh_label,
                model=event.pgh_model,
                changes=diff,
                data=data,
                user_id=context.get("user"),
                user_email=context.get("user_email"),
                reason=context.get("reason"),
                url=context.get("url"),
            )
        )
    return entries
