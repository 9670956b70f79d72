"""Decision latency: from committing a DLT adjudication to the escalation decision being stored.

Runs inside ``python -m bench.run --part latency`` with ``DATABASE_NAME`` set to a database of
its own (the reference trial A, built through the services as the test suite builds it: the
generated benchmark data has no DLT windows) and ``CELERY_BROKER_URL`` set for Redis or unset
for the PostgreSQL broker. A real ``celery worker`` subprocess consumes a queue of its own.

One event: an investigator confirms a pending potential DLT (grade 4 neutropenia for 12 days, in
the patient's DLT window) through ``safety.services.potential_dlt_adjudicate``; after commit the
service enqueues ``dosing.evaluate_escalation``; the worker evaluates and stores the trial's new
current decision. Latency = the escalation row's ``updated_at`` (written by the worker in the
transaction that stores the decision) minus the adjudication's commit time (an ``on_commit``
callback registered before the service's own). Between events the event is undone (the AE is
corrected to grade 3, which withdraws the potential DLT and re-evaluates, then back to grade 4,
which flags it again) and the worker is left to go idle, so every event starts from the same
state and measures one evaluation, not a queue.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TRIAL_CODE = "IPD"
COORDINATOR = "latency.coordinator@bench.trialdesk.invalid"
INVESTIGATOR = "latency.investigator@bench.trialdesk.invalid"
ADMIN = "latency.admin@bench.trialdesk.invalid"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100), linear between closest ranks."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    k = (len(ordered) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def _build_fixture():
    """Trial A open in phase I, one patient dosed 15 days ago, one potential DLT pending."""
    from tests.factories import (
        MembershipFactory,
        SiteFactory,
        TrialFactory,
        TrialSiteFactory,
        UserFactory,
        days_ago,
    )
    from tests.safety.factories import dosed_patient, neutropenia
    from trials import services as trial_services
    from trials.models import Role
    from trials.reference_trials import configure_reference_trial

    trial = TrialFactory(code=TRIAL_CODE)
    site = SiteFactory(code="LATENCY")
    TrialSiteFactory(trial=trial, site=site, number="01")
    coordinator = UserFactory(email=COORDINATOR)
    investigator = UserFactory(email=INVESTIGATOR)
    admin = UserFactory(email=ADMIN)
    MembershipFactory(user=coordinator, trial=trial, role=Role.COORDINATOR, sites=[site])
    MembershipFactory(user=investigator, trial=trial, role=Role.INVESTIGATOR, all_sites=True)
    MembershipFactory(user=admin, trial=trial, role=Role.TRIAL_ADMIN, all_sites=True)
    configure_reference_trial(TRIAL_CODE, acting_user=admin, effective_date=days_ago(400))
    for status in ("open", "phase_i"):
        trial_services.trial_transition(
            trial=trial, to_status=status, acting_user=admin, reason="approved"
        )
    trial.refresh_from_db()

    class _T:  # the shape tests.safety.factories expects
        pass

    t = _T()
    t.trial, t.site_a, t.coordinator_a = trial, site, coordinator
    patient = dosed_patient(t, first_dose_days_ago=15)
    neutropenia(patient, coordinator, onset=days_ago(12))


def _fixture():
    from safety.models import PotentialDlt
    from trials.models import Trial, User

    if not Trial.objects.filter(code=TRIAL_CODE).exists():
        _build_fixture()
    potential = PotentialDlt.objects.select_related("adverse_event").get(
        adverse_event__patient__trial__code=TRIAL_CODE
    )
    return (
        Trial.objects.get(code=TRIAL_CODE),
        potential,
        User.objects.get(email=COORDINATOR),
        User.objects.get(email=INVESTIGATOR),
    )


def _regrade(potential, coordinator, grade: int) -> None:
    from safety.models import AdverseEvent
    from safety.services import GradeChange, adverse_event_update
    from tests.factories import days_ago

    ae = AdverseEvent.objects.get(pk=potential.adverse_event_id)
    adverse_event_update(
        adverse_event=ae,
        acting_user=coordinator,
        reason=f"Benchmark: ANC re-read, grade {grade}",
        expected_version=ae.version,
        grades=[GradeChange(days_ago(12), grade)],
    )


def _escalation_stamp(trial) -> tuple[datetime | None, int | None]:
    from dosing.models import TrialEscalation

    row = (
        TrialEscalation.objects.filter(trial=trial)
        .values_list("updated_at", "current_decision_id")
        .first()
    )
    return row if row else (None, None)


def _wait_for_change(trial, before, *, timeout_s: float) -> tuple[datetime, int | None]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stamp = _escalation_stamp(trial)
        if stamp[0] is not None and stamp != before:
            return stamp
        time.sleep(0.005)
    raise TimeoutError(f"no escalation decision stored within {timeout_s} s")


def _settle(trial, *, quiet_s: float = 0.8, timeout_s: float = 30) -> None:
    """Wait until the escalation row has not changed for ``quiet_s`` (the worker is idle)."""
    deadline = time.monotonic() + timeout_s
    last, since = _escalation_stamp(trial), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now_stamp = _escalation_stamp(trial)
        if now_stamp != last:
            last, since = now_stamp, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return


def _make_pending(trial, potential, coordinator) -> None:
    """Bring the potential DLT back to pending (a confirmed one is withdrawn, then re-flagged)."""
    potential.refresh_from_db()
    if potential.status != "pending":
        before = _escalation_stamp(trial)
        _regrade(potential, coordinator, 3)
        if potential.status == "confirmed":
            _wait_for_change(trial, before, timeout_s=60)
        _regrade(potential, coordinator, 4)
    _settle(trial)
    potential.refresh_from_db()
    if potential.status != "pending":
        raise RuntimeError(f"the potential DLT is {potential.status}, not pending")


def _adjudicate(potential, investigator) -> datetime:
    """Confirm the potential DLT; return the commit time."""
    from django.db import transaction

    from safety.services import potential_dlt_adjudicate

    committed: list[datetime] = []
    with transaction.atomic():
        # Registered before the service registers its enqueue, so it runs first after commit.
        transaction.on_commit(lambda: committed.append(datetime.now(UTC)))
        potential_dlt_adjudicate(
            potential_dlt=potential,
            decision="confirmed",
            reason="Benchmark: meets the protocol DLT definition",
            signer=investigator,
            meaning="I confirm my DLT assessment",
            acting_user=investigator,
            expected_version=potential.version,
        )
    return committed[0]


def start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with log_path.open("w") as log:
        proc = subprocess.Popen(  # noqa: S603
            [
                str(Path(sys.executable).parent / "celery"),
                "-A",
                "config",
                "worker",
                "-l",
                "info",
                "--concurrency",
                "2",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"bench-{uuid.uuid4().hex[:6]}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if "ready" in log_path.read_text():
            return proc
        if proc.poll() is not None:
            raise RuntimeError(f"celery worker exited early:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"celery worker did not start:\n{log_path.read_text()[-3000:]}")


def stop_worker(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def measure_decision_latency(*, events: int = 50, log_dir: Path) -> dict[str, Any]:
    """Median and p95 (seconds) over ``events`` adjudications, with a real worker."""
    from django.conf import settings

    trial, potential, coordinator, investigator = _fixture()
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["CELERY_QUEUE"] = settings.CELERY_TASK_DEFAULT_QUEUE
    log_dir.mkdir(parents=True, exist_ok=True)
    worker = start_worker(env, log_dir / f"worker-{settings.CELERY_BROKER_KIND}.log")
    samples: list[float] = []
    try:
        for _ in range(events):
            _make_pending(trial, potential, coordinator)
            potential.refresh_from_db()
            before = _escalation_stamp(trial)
            committed = _adjudicate(potential, investigator)
            stored, _ = _wait_for_change(trial, before, timeout_s=60)
            samples.append((stored - committed).total_seconds())
    finally:
        stop_worker(worker)
    return {
        "median": round(statistics.median(samples), 3),
        "p95": round(percentile(samples, 95), 3),
        "events": len(samples),
        "max": round(max(samples), 3),
        "broker": settings.CELERY_BROKER_KIND,
    }
