"""Celery entry points of the dosing app: thin, id-only, idempotent.

``evaluate_escalation`` is enqueued (after commit, via ``config.enqueue``) by every event that
can change a trial's escalation decision — a DLT adjudicated, a DLT window completed, a patient
made not evaluable — and a beat sweep runs it for every trial in escalation, so a message lost
to a broker outage is made up for. Running it twice on the same input stores nothing new (the
decision's input hash is unique), which is also what makes ``acks_late`` safe: a worker killed
mid-evaluation rolls its transaction back and the re-delivered message stores the decision once.
"""

from __future__ import annotations

from celery import shared_task


@shared_task(
    name="dosing.evaluate_escalation",
    ignore_result=True,
    acks_late=True,
    soft_time_limit=60,
    time_limit=90,
)
def evaluate_escalation(trial_id: int) -> None:
    from dosing import services

    services.escalation_evaluate(trial_id=trial_id)


@shared_task(
    name="dosing.sweep_escalations", ignore_result=True, soft_time_limit=300, time_limit=360
)
def sweep_escalations() -> None:
    """Evaluate every trial in dose escalation (the safety net behind the event-driven path)."""
    from config.enqueue import send_quietly
    from dosing import services

    for trial_id in services.trials_in_escalation():
        send_quietly(evaluate_escalation, trial_id)


@shared_task(
    name="dosing.notify_decision_awaiting",
    ignore_result=True,
    acks_late=True,
    soft_time_limit=60,
    time_limit=90,
)
def notify_decision_awaiting(decision_id: int) -> None:
    """Email the trial's investigators that a decision awaits their signature (once)."""
    from dosing import services

    services.decision_notify_investigators(decision_id=decision_id)


@shared_task(
    name="dosing.simulate_operating_characteristics",
    ignore_result=True,
    acks_late=True,
    soft_time_limit=15 * 60,
    time_limit=16 * 60,
)
def simulate_operating_characteristics(job_id: int) -> None:
    """Run a Monte Carlo simulation job, updating its progress (a finished job is skipped)."""
    from dosing import services

    services.oc_simulation_run(job_id=job_id)
