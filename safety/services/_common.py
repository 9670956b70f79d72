"""What the safety services share: dates, versions, field errors, the escalation enqueue,
electronic signatures and the snapshots they sign."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from config.enqueue import enqueue_on_commit
from safety.models import (
    AdverseEvent,
    AdverseEventAttribution,
    AdverseEventGrade,
    Signature,
)
from safety.models.adverse_events import SERIOUSNESS_FIELDS
from trials.models import (
    User,
)

logger = logging.getLogger(__name__)


class ConflictError(Exception):
    """Someone else saved the record after this edit was started (a stale ``version``).

    Defined here, not imported from ``trials.services``, so that the trials services can call
    the safety hooks without an import cycle; it carries the same ``current_version``.
    """

    def __init__(self, message: str, *, current_version: int):
        super().__init__(message)
        self.current_version = current_version


def _today(today: date | None) -> date:
    return today or timezone.localdate()


def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


def _check_version(obj: Any, expected_version: int | None, what: str) -> None:
    if expected_version is not None and obj.version != expected_version:
        raise ConflictError(
            f"This {what} was changed by someone else after you opened it (your version "
            f"{expected_version}, now {obj.version}). Nothing was saved: reload to see their "
            "change, then make yours again.",
            current_version=obj.version,
        )


class _Errors:
    """Field messages collected so that one save reports every problem at once."""

    def __init__(self) -> None:
        self.messages: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.messages.setdefault(name, []).append(message)

    def raise_if_any(self) -> None:
        if self.messages:
            raise ValidationError(self.messages)


def _enqueue_escalation(trial_id: int) -> None:
    # Imported here: the dosing app's tasks import its services lazily, and safety must not
    # depend on the escalation service existing to record a DLT.
    from dosing.tasks import evaluate_escalation

    enqueue_on_commit(evaluate_escalation, trial_id)


def _canonical_hash(payload: Mapping[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _sign(
    *,
    signer: User,
    meaning: str,
    method: str,
    subject_kind: str,
    subject_id: int,
    payload: Mapping[str, Any],
    now: datetime,
) -> Signature:
    meaning = (meaning or "").strip()
    if not meaning:
        raise ValidationError({"meaning": "State what your signature means."})
    data = json.loads(json.dumps(payload, default=str))
    return Signature.objects.create(
        signer=signer,
        signed_at=now,
        meaning=meaning,
        method=method,
        subject_kind=subject_kind,
        subject_id=subject_id,
        payload=data,
        data_hash=_canonical_hash(data),
    )


def _void_signature(signature: Signature, *, reason: str, now: datetime) -> None:
    signature.voided_at = now
    signature.void_reason = reason
    signature.save(update_fields=["voided_at", "void_reason"])


def _dlt_subject(
    ae: AdverseEvent, *, rule_ids: Sequence[str], toxicity_onset: date
) -> dict[str, Any]:
    """What a DLT adjudication decides on: the term and its worst grade, the rules it met,
    when the toxicity began, and the attribution. A later change to any of these voids the
    adjudication's signature; a change elsewhere (the event resolving later, its outcome)
    does not."""
    attributions = AdverseEventAttribution.objects.filter(adverse_event=ae).select_related("agent")
    return {
        "adverse_event": ae.pk,
        "ctcae_version": ae.ctcae_version,
        "meddra_code": ae.meddra_code,
        "term": ae.term,
        "max_grade": ae.max_grade,
        "rule_ids": sorted(rule_ids),
        "toxicity_onset": toxicity_onset.isoformat(),
        "attribution": sorted([a.agent.code, a.attribution] for a in attributions),
    }


def _ae_snapshot(ae: AdverseEvent) -> dict[str, Any]:
    """The facts of an event that an adjudication or an SAE signature covers."""
    episodes = AdverseEventGrade.objects.filter(adverse_event=ae).order_by("onset_date")
    attributions = AdverseEventAttribution.objects.filter(adverse_event=ae).select_related("agent")
    data = {
        "id": ae.pk,
        "patient": ae.patient_id,
        "ctcae_version": ae.ctcae_version,
        "meddra_code": ae.meddra_code,
        "term": ae.term,
        "onset_date": ae.onset_date.isoformat(),
        "resolution_date": ae.resolution_date.isoformat() if ae.resolution_date else None,
        "max_grade": ae.max_grade,
        "episodes": [
            [
                e.grade,
                e.onset_date.isoformat(),
                e.resolved_on.isoformat() if e.resolved_on else None,
            ]
            for e in episodes
        ],
        "attribution": sorted([a.agent.code, a.attribution, a.action_taken] for a in attributions),
        "with_fever": ae.with_fever,
        "with_bleeding": ae.with_bleeding,
        "with_transfusion": ae.with_transfusion,
        "controlled_within_hours": (
            None if ae.controlled_within_hours is None else str(ae.controlled_within_hours)
        ),
        "cycle2_delay_days": ae.cycle2_delay_days,
        "outcome": ae.outcome,
        "seriousness": [name for name in SERIOUSNESS_FIELDS if getattr(ae, name)],
    }
    return data
