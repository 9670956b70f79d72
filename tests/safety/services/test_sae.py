"""SAE reports: the clock from awareness, submissions, the investigator's signature, the
transition table, and a signature voided by a change to the event."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from safety import selectors, services
from safety.models import SaeReport
from tests.factories import days_ago

pytestmark = pytest.mark.django_db


@pytest.fixture
def sae(ipd, in_window):
    aware = timezone.now() - timedelta(hours=2)
    ae = services.adverse_event_create(
        patient=in_window,
        term="Lung infection",
        onset_date=days_ago(1),
        grade=3,
        seriousness=["serious_hospitalisation"],
        awareness_at=aware,
        acting_user=ipd.coordinator_a,
    )
    return SaeReport.objects.get(adverse_event=ae)


def submit(report, user, kind, **kwargs):
    report.refresh_from_db()
    return services.sae_report_submit(
        sae_report=report, kind=kind, acting_user=user, expected_version=report.version, **kwargs
    )


def sign(report, user):
    report.refresh_from_db()
    return services.sae_report_sign(
        sae_report=report,
        signer=user,
        meaning="I have reviewed this SAE report",
        acting_user=user,
        expected_version=report.version,
    )


def test_the_clock_runs_from_awareness_with_the_trials_deadline(ipd, sae):
    clock = selectors.sae_report_clock(sae, now=timezone.now())

    assert sae.full_report_days == 5
    assert clock.initial.status.value == "pending"
    assert timedelta(hours=21) < clock.initial.time_remaining < timedelta(hours=22, minutes=1)
    assert clock.full.due_at == sae.awareness_at + timedelta(days=5)


def test_initial_then_full_then_signed(ipd, sae):
    submit(sae, ipd.coordinator_a, "initial")
    submit(sae, ipd.coordinator_a, "full", narrative="Admitted with pneumonia, IV antibiotics.")
    report = sign(sae, ipd.investigator)

    assert report.status == "signed"
    assert report.signature.signer == ipd.investigator
    assert report.signature.payload["narrative"] == "Admitted with pneumonia, IV antibiotics."
    clock = selectors.sae_report_clock(report, now=timezone.now())
    assert clock.complete and not clock.overdue


def test_a_full_report_first_also_satisfies_the_initial_report(ipd, sae):
    report = submit(sae, ipd.coordinator_a, "full")

    clock = selectors.sae_report_clock(report, now=timezone.now() + timedelta(days=2))
    assert clock.initial.status.value == "submitted_on_time"


def test_steps_out_of_order_are_refused(ipd, sae):
    with pytest.raises(ValidationError):
        sign(sae, ipd.investigator)  # nothing submitted yet
    submit(sae, ipd.coordinator_a, "full")
    with pytest.raises(ValidationError):
        submit(sae, ipd.coordinator_a, "initial")
    with pytest.raises(ValidationError):
        submit(sae, ipd.coordinator_a, "full", submitted_at=sae.awareness_at - timedelta(hours=1))


def test_only_an_investigator_signs(ipd, sae):
    submit(sae, ipd.coordinator_a, "full")

    with pytest.raises(PermissionDenied):
        sign(sae, ipd.coordinator_a)


def test_a_change_to_the_signed_event_voids_the_signature(ipd, sae):
    submit(sae, ipd.coordinator_a, "full")
    report = sign(sae, ipd.investigator)
    signature = report.signature

    services.adverse_event_update(
        adverse_event=report.adverse_event,
        acting_user=ipd.coordinator_a,
        reason="grade 4 on review",
        expected_version=report.adverse_event.version,
        grades=[services.GradeChange(days_ago(1), 4)],
    )

    report.refresh_from_db()
    signature.refresh_from_db()
    assert report.status == "full_submitted"
    assert report.signature is None
    assert signature.voided_at is not None
    assert "grade 4 on review" in signature.void_reason


def test_the_database_refuses_a_signed_status_without_a_signature(ipd, sae):
    with pytest.raises(IntegrityError), transaction.atomic():
        SaeReport.objects.filter(pk=sae.pk).update(
            status="signed", full_submitted_at=timezone.now()
        )
