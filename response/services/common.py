"""Helpers shared by the response services."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError

from response import selectors
from trials.models import Patient, User
from trials.services import ConflictError

__all__ = ["ConflictError", "Errors", "check_version", "require_patient_role"]


class Errors:
    """Collects field messages so one save reports every problem at once."""

    def __init__(self) -> None:
        self.messages: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.messages.setdefault(field, []).append(message)

    def raise_if_any(self) -> None:
        if self.messages:
            raise ValidationError(self.messages)


def check_version(obj: Any, expected_version: int | None, what: str) -> None:
    if expected_version is not None and obj.version != expected_version:
        raise ConflictError(
            f"This {what} was changed by someone else after you opened it (your version "
            f"{expected_version}, now {obj.version}). Nothing was saved: reload to see their "
            "change, then make yours again.",
            current_version=obj.version,
        )


def require_patient_role(user: User, patient: Patient, roles: tuple[str, ...], what: str) -> None:
    """Refuse (PermissionDenied) a user without one of ``roles`` at the patient's site."""
    if not selectors.has_patient_role(user, patient, roles):
        names = " or ".join(r.replace("_", " ") + "s" for r in roles)
        raise PermissionDenied(f"Only {names} of this site {what}.")
