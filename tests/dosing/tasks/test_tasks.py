"""The dosing tasks: thin and idempotent, swept by beat, and run by a real worker on the test
database (an evaluation enqueued after commit stores its decision; a simulation job reports
its progress and result)."""

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction

from config.celery import app
from config.enqueue import enqueue_on_commit
from dosing import services, tasks
from dosing.domain.escalation import input_hash
from dosing.domain.operating_characteristics import exact_operating_characteristics
from dosing.models import EscalationDecision, JobStatus, OcSimulationJob
from dosing.selectors import escalation_input
from tests.dosing.factories import cohort, evaluate

WORKER_WAIT_SECONDS = 60


@pytest.fixture
def eager():
    """Celery's local mode: a sent task runs in this process."""
    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


def _wait_for(condition, *, seconds: float = WORKER_WAIT_SECONDS):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not done within {seconds} s")


def test_the_beat_schedule_sweeps_escalations_every_minute():
    entry = app.conf.beat_schedule["dosing-sweep-escalations"]

    assert (entry["task"], entry["schedule"]) == ("dosing.sweep_escalations", 60.0)


@pytest.mark.django_db
def test_the_sweep_evaluates_every_trial_in_escalation(ipd, cfz, eager):
    cohort(ipd, ["NO_DLT", "NO_DLT", "DLT"])

    tasks.sweep_escalations.run()
    tasks.sweep_escalations.run()

    assert services.trials_in_escalation() == [ipd.trial.pk]
    assert list(EscalationDecision.objects.values_list("trial__code", "rule_id")) == [
        ("IPD", "3p3.R2")
    ]


@pytest.mark.django_db
def test_the_tasks_tolerate_missing_rows(db):
    tasks.evaluate_escalation.run(10**9)
    tasks.notify_decision_awaiting.run(10**9)
    tasks.simulate_operating_characteristics.run(10**9)

    assert not EscalationDecision.objects.exists()


@pytest.mark.django_db
def test_a_finished_simulation_is_not_run_again(ipd, eager):
    settings = escalation_input(ipd.trial).settings
    job = services.oc_simulation_start(
        trial=ipd.trial,
        settings=settings,
        true_dlt_rates=[0.1, 0.2, 0.3],
        n_sims=300,
        seed=1,
        acting_user=ipd.statistician,
    )

    services.oc_simulation_run(job_id=job.pk)
    first = OcSimulationJob.objects.get(pk=job.pk)
    services.oc_simulation_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.progress, job.attempts) == (JobStatus.DONE, 100, 1)
    assert job.result == first.result


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_stores_the_decision_enqueued_after_commit(ipd, celery_worker_process):
    # given a complete DL1 cohort with one DLT, committed
    cohort(ipd, ["NO_DLT", "DLT", "NO_DLT"])

    # when the evaluation is enqueued after commit (as the safety app does)
    enqueue_on_commit(tasks.evaluate_escalation, ipd.trial.pk)

    # then the worker stores the decision
    decision = _wait_for(lambda: EscalationDecision.objects.filter(trial=ipd.trial).first())
    assert (decision.rule_id, decision.status) == ("3p3.R2", "awaiting_signature")
    assert evaluate(ipd.trial).pk == decision.pk  # and running it again stores nothing new


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_a_simulation_with_progress(ipd, celery_worker_process):
    settings = escalation_input(ipd.trial).settings
    rates = [0.1, 0.25, 0.4]

    job = services.oc_simulation_start(
        trial=ipd.trial,
        settings=settings,
        true_dlt_rates=rates,
        n_sims=4000,
        seed=20241,
        acting_user=ipd.statistician,
    )

    done = _wait_for(
        lambda: OcSimulationJob.objects.filter(pk=job.pk, status=JobStatus.DONE).first()
    )
    exact = exact_operating_characteristics(rates, settings)
    assert done.progress == 100
    assert done.result["n_sims"] == 4000
    for simulated, se, truth in zip(
        done.result["p_select"], done.result["se_p_select"], exact.p_select, strict=True
    ):
        assert abs(simulated - truth) <= 4 * se + 1e-9


@pytest.mark.django_db
def test_the_job_progress_follows_the_engines_progress_callback(ipd, monkeypatch):
    settings = escalation_input(ipd.trial).settings
    job = services.oc_simulation_start(
        trial=ipd.trial,
        settings=settings,
        true_dlt_rates=[0.1, 0.2, 0.3],
        n_sims=1000,
        seed=5,
        acting_user=ipd.statistician,
    )
    seen: list[int] = []
    real = services.simulate_operating_characteristics

    def watched(rates, settings, n_sims, rng, progress):
        def report(done, total):
            progress(done, total)
            seen.append(OcSimulationJob.objects.get(pk=job.pk).progress)

        return real(rates, settings, n_sims, rng, progress=report)

    monkeypatch.setattr(services, "simulate_operating_characteristics", watched)

    services.oc_simulation_run(job_id=job.pk)

    job.refresh_from_db()
    assert seen[:3] == [1, 2, 3]
    assert seen[-1] == 99  # 100 only once the result is stored
    assert (job.status, job.progress) == (JobStatus.DONE, 100)


def _start_worker(queue: str, log_path: Path) -> subprocess.Popen:
    """A worker subprocess of our own (the test kills it), consuming ``queue``."""
    env = dict(os.environ)
    env.update(
        DATABASE_NAME=settings.DATABASES["default"]["NAME"],
        CELERY_QUEUE=queue,
        PYTHONUNBUFFERED="1",
    )
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "celery"),
                "-A",
                "config",
                "worker",
                "-l",
                "info",
                # the solo pool runs the task in this very process, so SIGKILL stops the
                # evaluation itself (a prefork child would outlive its killed parent)
                "--pool",
                "solo",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"killable-{uuid.uuid4().hex[:6]}@%h",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    _wait_for(lambda: "ready" in log_path.read_text() or proc.poll() is not None)
    assert proc.poll() is None, log_path.read_text()
    return proc


def _backends_waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


class _Rollback(Exception):
    pass


@pytest.mark.slow
@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_evaluation_leaves_nothing_and_the_rerun_stores_one_decision(
    ipd, celery_worker_process, tmp_path
):
    # given a complete cohort, and a transaction of ours holding the decision's input hash, so
    # that the worker's insert waits on the unique index: the worker is stopped mid-evaluation,
    # inside its transaction, after it took the escalation row lock
    cohort(ipd, ["NO_DLT", "DLT", "NO_DLT"])
    data = escalation_input(ipd.trial)
    held, release = threading.Event(), threading.Event()

    def hold_the_hash():
        try:
            with transaction.atomic():
                EscalationDecision.objects.create(
                    trial=ipd.trial,
                    number=999,
                    kind="escalation",
                    step=0,
                    input_snapshot={},
                    input_hash=input_hash(data.settings, data.state),
                    rule_set="3+3",
                    rule_id="-",
                    rule_text="-",
                    rule_version="-",
                    output={},
                    action="-",
                    status="recorded",
                )
                held.set()
                release.wait(timeout=WORKER_WAIT_SECONDS)
                raise _Rollback
        except _Rollback:
            pass
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_hash)
    holder.start()
    assert held.wait(timeout=10)
    queue = f"trialdesk-test-kill-{uuid.uuid4().hex[:6]}"
    worker = _start_worker(queue, tmp_path / "worker.log")

    # when the worker is killed while evaluating
    tasks.evaluate_escalation.apply_async(args=[ipd.trial.pk], queue=queue)
    _wait_for(lambda: _backends_waiting_on_a_lock() > 0)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=20)
    release.set()
    holder.join(timeout=20)

    # then nothing of its evaluation was committed
    assert not EscalationDecision.objects.filter(trial=ipd.trial).exists()

    # and the evaluation run again (the message re-delivered, or the next sweep) stores exactly
    # one decision, however often it runs
    tasks.evaluate_escalation.delay(ipd.trial.pk)
    decision = _wait_for(lambda: EscalationDecision.objects.filter(trial=ipd.trial).first())
    # (run again synchronously: a message still in flight when the test ends would race the
    # table flush that follows every transactional test)
    evaluate(ipd.trial)
    assert decision.rule_id == "3p3.R2"
    assert EscalationDecision.objects.filter(trial=ipd.trial).count() == 1
