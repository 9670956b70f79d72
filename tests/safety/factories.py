"""Builders for safety records. Clinical rows go through the services (the database checks
grades against the CTCAE term, so hand-built rows would have to repeat the services' work);
``SignatureFactory`` builds a bare signature for constraint tests."""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal

import factory
from django.utils import timezone

from safety import services
from safety.models import AdverseEvent, Signature
from tests.factories import UserFactory, days_ago, enrolled_patient
from trials import services as trial_services
from trials.models import Patient, Visit
from trials.services import DoseInput

FULL_C1_DOSES = [
    DoseInput("IXA", "given", Decimal(3)),
    DoseInput("POM", "given", Decimal(4)),
    DoseInput("DEX", "given", Decimal(40)),
]
POM_DEX = [
    DoseInput("POM", "given", Decimal(4)),
    DoseInput("DEX", "given", Decimal(40)),
]
DEX_ONLY = [DoseInput("DEX", "given", Decimal(40))]


class SignatureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Signature

    signer = factory.SubFactory(UserFactory)
    signed_at = factory.LazyFunction(timezone.now)
    meaning = "I reviewed this record"
    method = "password"
    subject_kind = "test"
    subject_id = 1
    payload = factory.LazyFunction(dict)
    data_hash = factory.LazyFunction(lambda: hashlib.sha256(b"{}").hexdigest())


def dosed_patient(
    t, *, first_dose_days_ago: int = 15, site=None, coordinator=None, today: date | None = None
) -> Patient:
    """An enrolled trial-A patient at DL1 whose C1D1 doses were given ``first_dose_days_ago``
    days ago (the trials service opens the DLT window through the safety hook)."""
    site = site or t.site_a
    coordinator = coordinator or t.coordinator_a
    patient = enrolled_patient(
        t.trial,
        site,
        coordinator,
        consent_date=days_ago(first_dose_days_ago + 5),
        enrolment_date=days_ago(first_dose_days_ago + 3),
        planned_start_date=days_ago(first_dose_days_ago),
    )
    record_visit(
        patient, "C1D1", days_ago(first_dose_days_ago), coordinator, FULL_C1_DOSES, today=today
    )
    return patient


def record_visit(
    patient: Patient, code: str, on: date, user, doses, *, today: date | None = None
) -> Visit:
    """Record a visit's doses through the trials service, which runs the safety hook (as of
    ``today``, default the real today)."""
    visit = Visit.objects.get(patient=patient, code=code)
    trial_services.visit_record(
        visit=visit,
        visit_date=on,
        acting_user=user,
        expected_version=None,
        doses=doses,
        today=today,
    )
    return visit


def neutropenia(patient: Patient, user, *, onset: date, grade: int = 4, **fields) -> AdverseEvent:
    fields.setdefault("attributions", [services.AttributionInput("IXA", "possible", "held")])
    return services.adverse_event_create(
        patient=patient,
        term="Neutrophil count decreased",
        onset_date=onset,
        grade=grade,
        acting_user=user,
        **fields,
    )
