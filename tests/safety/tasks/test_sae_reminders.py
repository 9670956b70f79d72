"""The hourly SAE reminder sweep: due reminders are mailed once, overdue ones escalate, and
a submitted report stops its reminders. Run directly and through a real worker."""

import time
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from safety import services
from safety.models import SaeReminder, SaeReport
from safety.tasks import sae_reminders
from tests.factories import days_ago
from tests.safety.factories import dosed_patient


def serious_event(t, patient, *, aware_hours_ago: float):
    ae = services.adverse_event_create(
        patient=patient,
        term="Febrile neutropenia",
        onset_date=days_ago(2),
        grade=3,
        with_fever=True,
        seriousness=["serious_hospitalisation"],
        awareness_at=timezone.now() - timedelta(hours=aware_hours_ago),
        acting_user=t.coordinator_a,
    )
    return SaeReport.objects.get(adverse_event=ae)


@pytest.mark.django_db
def test_a_due_reminder_is_mailed_once_to_the_sites_team(ipd, in_window):
    # given the site learned of the SAE 13 hours ago: the "12 h before" reminder is due
    report = serious_event(ipd, in_window, aware_hours_ago=13)

    # when the beat task runs twice
    assert sae_reminders() == 1
    assert sae_reminders() == 0

    # then one mail, to the investigator and site A's coordinator only
    (message,) = mail.outbox
    assert "SAE initial report due" in message.subject
    assert sorted(message.to) == ["coord.a@example.org", "inv@example.org"]
    reminder = SaeReminder.objects.get()
    assert (reminder.sae_report, reminder.kind, reminder.overdue) == (report, "initial", False)
    assert reminder.remind_at == report.initial_due_at - timedelta(hours=12)


@pytest.mark.django_db
def test_an_overdue_report_escalates_and_a_submission_stops_the_reminders(ipd, in_window):
    report = serious_event(ipd, in_window, aware_hours_ago=30)

    assert services.sae_reminders_send() == 1
    assert "OVERDUE" in mail.outbox[0].subject
    assert SaeReminder.objects.get().overdue

    services.sae_report_submit(
        sae_report=report,
        kind="initial",
        acting_user=ipd.coordinator_a,
        expected_version=report.version,
    )
    later = timezone.now() + timedelta(hours=25)
    assert services.sae_reminders_send(now=later) == 0


@pytest.mark.django_db
def test_the_full_report_reminders_follow_the_trials_deadline(ipd, in_window):
    report = serious_event(ipd, in_window, aware_hours_ago=2)
    services.sae_report_submit(
        sae_report=report,
        kind="initial",
        acting_user=ipd.coordinator_a,
        expected_version=report.version,
    )

    three_days_on = report.awareness_at + timedelta(days=3, minutes=5)
    assert services.sae_reminders_send(now=three_days_on) == 1

    reminder = SaeReminder.objects.get()
    assert (reminder.kind, reminder.remind_at) == ("full", report.full_due_at - timedelta(days=2))


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_beat_task_through_a_real_worker_records_the_reminder(celery_worker_process, ipd):
    patient = dosed_patient(ipd, first_dose_days_ago=10)
    report = serious_event(ipd, patient, aware_hours_ago=13)

    sae_reminders.delay()

    deadline = time.monotonic() + 30
    while (
        time.monotonic() < deadline and not SaeReminder.objects.filter(sae_report=report).exists()
    ):
        time.sleep(0.2)
    assert SaeReminder.objects.filter(sae_report=report, kind="initial").count() == 1
