"""The live Simon (1989) two-stage monitor: recomputed from the patients' stored responses after
each response update, stored per trial, and the trial's investigators notified (by email) when
the futility boundary is reached, when stage 1 can be decided and at the final verdict."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from response import selectors
from response.domain.simon import SimonMonitorState, SimonPatient, SimonRule, monitor_simon
from response.models import PatientResponse, SimonMonitor, SimonNotification
from response.models.simon import NotificationKind
from trials import selectors as trial_selectors
from trials.audit import audited
from trials.domain.design import SimonParameters
from trials.models import Membership, Role, Trial

logger = logging.getLogger(__name__)


def simon_outcome(
    response: PatientResponse | None, *, off_treatment: bool
) -> tuple[bool | None, bool | None]:
    """(evaluable, responder) of one patient as the monitor counts them.

    * No measurable disease at baseline: not response-evaluable (replaced).
    * No response assessment yet: not known while on treatment; not evaluable once off it.
    * A confirmed best overall response of PR or better: a responder.
    * Confirmed progression, or off treatment without such a response: a non-responder.
    * Otherwise (still on treatment, no response yet): pending.
    """
    if response is not None and response.baseline_date is not None and not response.measurable:
        return False, None
    if response is None or not response.evaluable:
        return (False, None) if off_treatment else (None, None)
    if response.best_overall_response in selectors.ORR_CATEGORIES:
        return True, True
    if response.progression_date is not None or off_treatment:
        return True, False
    return True, None


def simon_patients(trial: Trial) -> tuple[list[SimonPatient], str]:
    """The monitor's view of the RP2D population (see ``selectors.simon_population``)."""
    population = selectors.simon_population(trial)
    responses = {
        r.patient_id: r
        for r in PatientResponse.objects.filter(patient__in=[p.pk for p in population.patients])
    }
    states = []
    for order, patient in enumerate(population.patients, start=1):
        evaluable, responder = simon_outcome(
            responses.get(patient.pk),
            off_treatment=patient.status in selectors.OFF_TREATMENT_STATUSES,
        )
        states.append(SimonPatient(patient.label, order, evaluable, responder))
    return states, population.rule


def _jsonable(state: SimonMonitorState) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(state), default=str))


def design_key(simon: SimonParameters) -> str:
    return f"{simon.r1}/{simon.n1}, {simon.r}/{simon.n}"


def _due_notifications(state: SimonMonitorState) -> list[str]:
    due = []
    if (
        state.stage1_outcome_certain is SimonRule.STOP_FUTILITY
        or state.rule is SimonRule.STOP_FUTILITY
    ):
        due.append(NotificationKind.FUTILITY_BOUNDARY)
    if state.stage1_decidable:
        due.append(NotificationKind.STAGE1_DECIDABLE)
    if state.final_verdict is not None:
        due.append(NotificationKind.FINAL_VERDICT)
    return due


def _message(
    trial: Trial, simon: SimonParameters, state: SimonMonitorState, kind: str
) -> tuple[str, str]:
    b = state.boundaries
    design = f"{b.rule_text}" + (f" ({simon.label})" if simon.assumed else "")
    if kind == NotificationKind.FUTILITY_BOUNDARY:
        subject = f"{trial.code}: the Simon futility boundary is reached"
        lead = (
            f"{state.stage1_responders} responder(s) among the first {b.n1} evaluable patients "
            f"at the RP2D, with {state.stage1_pending} outcome(s) pending: whatever they are, "
            f"stage 1 ends with {b.r1} or fewer responders, which means stop for futility."
        )
    elif kind == NotificationKind.STAGE1_DECIDABLE:
        verdict = "stop for futility" if state.rule is SimonRule.STOP_FUTILITY else "continue"
        subject = f"{trial.code}: Simon stage 1 can be decided ({verdict})"
        lead = (
            f"All {b.n1} stage-1 outcomes are known: {state.stage1_responders} responder(s). "
            f"The rule says: {verdict}."
        )
    else:
        verdict = "promising" if state.final_verdict is SimonRule.PROMISING else "not promising"
        subject = f"{trial.code}: Simon final verdict ({verdict})"
        lead = (
            f"{state.total_responders_in_design} responder(s) counted by the design: the drug is "
            f"{verdict} by the rule."
        )
    body = "\n".join(
        [
            lead,
            "",
            f"Design: {design}",
            *state.explanation,
            "",
            "This message comes from TrialDesk's Simon monitor; the decision is the "
            "investigators' and the statisticians'.",
        ]
    )
    return subject, body


def _investigator_emails(trial: Trial) -> list[str]:
    return sorted(
        Membership.objects.filter(
            trial=trial, role=Role.INVESTIGATOR, active=True, user__is_active=True
        )
        .values_list("user__email", flat=True)
        .distinct()
    )


def simon_monitor_update(*, trial_id: int) -> SimonMonitor | None:
    """Recompute and store the trial's monitor; notify on the events that became due. Idempotent:
    an unchanged state writes nothing, and each notification is sent once per design."""
    with transaction.atomic():
        trial = Trial.objects.select_for_update().filter(pk=trial_id).first()
        if trial is None:
            return None
        simon = trial_selectors.trial_design(trial).simon
        if simon is None:
            return None
        patients, rule = simon_patients(trial)
        state = monitor_simon(simon, patients)
        payload = {"state": _jsonable(state), "design": dataclasses.asdict(simon), "rule": rule}
        digest = hashlib.sha256(
            json.dumps(payload, sort_keys=True, default=str).encode()
        ).hexdigest()
        monitor = SimonMonitor.objects.select_for_update().filter(trial=trial).first()
        if monitor is None or monitor.input_hash != digest:
            values = {
                "r1": simon.r1,
                "n1": simon.n1,
                "r": simon.r,
                "n": simon.n,
                "design_assumed": simon.assumed,
                "design_label": simon.label,
                "stage": state.stage,
                "rule": state.rule.value,
                "stage1_decidable": state.stage1_decidable,
                "stage1_responders": state.stage1_responders,
                "stage1_pending": state.stage1_pending,
                "responders": state.responders,
                "evaluable_with_outcome": state.evaluable_with_outcome,
                "total_responders_in_design": state.total_responders_in_design,
                "at_futility_boundary": state.at_futility_boundary,
                "final_verdict": state.final_verdict.value if state.final_verdict else None,
                "state": payload["state"],
                "population_rule": rule,
                "rule_version": state.rule_version,
                "input_hash": digest,
                "updated_at": timezone.now(),
            }
            with audited(acting_user=None, reason="Simon monitor recomputed"):
                if monitor is None:
                    monitor = SimonMonitor.objects.create(trial=trial, **values)
                else:
                    for k, v in values.items():
                        setattr(monitor, k, v)
                    monitor.save()
                key = design_key(simon)
                recipients = _investigator_emails(trial)
                for kind in _due_notifications(state):
                    if SimonNotification.objects.filter(
                        trial=trial, kind=kind, design_key=key
                    ).exists():
                        continue
                    subject, body = _message(trial, simon, state, kind)
                    SimonNotification.objects.create(
                        trial=trial,
                        kind=kind,
                        design_key=key,
                        subject=subject,
                        body=body,
                        recipients=recipients,
                        created_at=timezone.now(),
                    )
    _send_pending(trial)
    return monitor


def _send_pending(trial: Trial) -> None:
    """Send the notifications not sent yet (after the commit that created them)."""
    pending = SimonNotification.objects.filter(trial=trial, sent_at__isnull=True, error="")
    for note in pending.order_by("created_at", "pk"):
        error = ""
        if not note.recipients:
            error = "No active investigator to notify."
        else:
            try:
                for address in note.recipients:
                    send_mail(note.subject, note.body, settings.DEFAULT_FROM_EMAIL, [address])
            except Exception as exc:  # noqa: BLE001 - any mail failure is recorded, not raised
                error = f"not sent: {exc!r}"
        with audited(acting_user=None, reason="Simon notification sent"):
            SimonNotification.objects.filter(pk=note.pk).update(
                sent_at=None if error else timezone.now(), error=error
            )
        logger.info(
            "simon notification",
            extra={"trial": trial.code, "kind": note.kind, "sent": not error, "error": error},
        )
