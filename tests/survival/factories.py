"""Factories for survival tests: enrolled patients with doses, contacts, deaths and status steps.

They write rows directly (fast, and the same rows the trials services write), so a test can
build a patient's whole history in a few lines and read it back through the selectors.
"""

from __future__ import annotations

import datetime as dt
from datetime import date
from decimal import Decimal

import factory

from dosing.models import DoseLevel
from survival.domain.endpoints import SourcedDate
from survival.domain.inputs import PatientRecord, SourceStatus, TrialInputs
from tests.factories import PatientFactory
from trials.models import (
    Consent,
    DoseAdministration,
    LabResult,
    LastContact,
    Patient,
    PatientStatusChange,
    Site,
    Trial,
    TrialAgent,
    TrialSite,
    Visit,
    VitalStatus,
)


class VisitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Visit

    patient = factory.SubFactory(PatientFactory)
    code = factory.Sequence(lambda n: f"V{n}")
    kind = "treatment"
    status = "done"
    visit_date = date(2024, 1, 1)


class DoseAdministrationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DoseAdministration

    visit = factory.SubFactory(VisitFactory)
    status = "given"
    dose_mg = Decimal("3")
    allowed_mg = Decimal("3")
    level_dose = Decimal("3")
    level_unit = "mg"


class LastContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LastContact

    vital_status = VitalStatus.ALIVE
    source = "clinic visit"


class ConsentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Consent

    version = "1.0"


class PatientStatusChangeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PatientStatusChange


def study_patient(
    trial: Trial,
    site: Site,
    number: int,
    *,
    enrolled: date = date(2024, 1, 1),
    dose_level: int = 1,
    status: str = "on_treatment",
) -> Patient:
    """An enrolled patient with study ID ``<TRIAL>-<site number>-<number>`` and a consent."""
    site_number = TrialSite.objects.get(trial=trial, site=site).number
    level = DoseLevel.objects.get(trial=trial, number=dose_level, retired_in__isnull=True)
    patient = PatientFactory(
        trial=trial,
        site=site,
        screening_number=f"S{site_number}{number:03d}",
        study_id=f"{trial.code}-{site_number}-{number:03d}",
        enrolment_date=enrolled,
        dose_level=level,
        status=status,
    )
    ConsentFactory(patient=patient, consent_date=enrolled)
    return patient


def dose(patient: Patient, day: date, *, status: str = "given") -> DoseAdministration:
    """A done treatment visit on ``day`` with the first agent's dose (given by default)."""
    agent = TrialAgent.objects.filter(trial_id=patient.trial_id).order_by("position").first()
    visit = VisitFactory(patient=patient, code=f"D{day:%Y%m%d}", visit_date=day)
    return DoseAdministrationFactory(
        visit=visit, agent=agent, dose_level_id=patient.dose_level_id, status=status
    )


def seen(patient: Patient, day: date, *, kind: str = "follow_up") -> Visit:
    return VisitFactory(patient=patient, code=f"F{day:%Y%m%d}", kind=kind, visit_date=day)


def lab(patient: Patient, day: date, *, visit: Visit | None = None) -> LabResult:
    """A haemoglobin result collected on ``day`` (at ``visit``, else at a visit that day)."""
    visit = visit or seen(patient, day, kind="unscheduled")
    return LabResult.objects.create(
        patient=patient,
        visit=visit,
        analyte="HGB",
        collected_on=day,
        value_as_entered="120",
        unit_as_entered="g/L",
        value=Decimal("120"),
        unit="g/L",
    )


def alive(patient: Patient, day: date) -> LastContact:
    return LastContactFactory(patient=patient, contact_date=day)


def died(patient: Patient, day: date, *, learnt: date | None = None) -> LastContact:
    return LastContactFactory(
        patient=patient,
        contact_date=learnt or day,
        vital_status=VitalStatus.DEAD,
        death_date=day,
        cause_of_death="disease progression",
    )


def step(
    patient: Patient, to_status: str, day: date, *, reason_code: str = "", from_status: str = ""
) -> PatientStatusChange:
    return PatientStatusChangeFactory(
        patient=patient,
        from_status=from_status or patient.status,
        to_status=to_status,
        effective_date=day,
        reason_code=reason_code,
    )


# --- The reference toy cohort, as analysis inputs (no database) -----------------------------

START = dt.date(2024, 1, 1)
#: the dose-finding reference notes §4.2's toy vector: OS days and events.
TOY_TIMES = (35, 60, 60, 95, 120, 150, 180, 210, 240, 300, 330, 365)
TOY_EVENTS = (1, 1, 0, 1, 0, 1, 1, 0, 1, 0, 0, 0)


def toy_patient(i: int, days: int, event: int, level: str) -> PatientRecord:
    end = START + dt.timedelta(days=days)
    return PatientRecord(
        patient_id=i,
        usubjid=f"IPD-01-{i:03d}",
        siteid="ALPHA",
        dose_level=level,
        dose_level_number=int(level[-1]),
        consent_date=START,
        enrolment_date=START,
        first_dose=SourcedDate(START, "EX", str(100 + i)),
        last_dose=START,
        death=SourcedDate(end, "DS", str(200 + i)) if event else None,
        known_alive=() if event else (SourcedDate(end, "SS", str(300 + i)),),
    )


def toy_inputs() -> TrialInputs:
    patients = tuple(
        toy_patient(i + 1, t, e, "DL1" if i % 2 == 0 else "DL2")
        for i, (t, e) in enumerate(zip(TOY_TIMES, TOY_EVENTS, strict=True))
    )
    return TrialInputs.from_records(
        studyid="IPD",
        data_cut=dt.date(2025, 6, 30),
        patients=patients,
        agents=("Ixazomib", "Pomalidomide", "Dexamethasone"),
        dose_levels=((1, "DL1"), (2, "DL2"), (3, "DL3")),
        sources=(SourceStatus("response", False, "not recorded yet"),),
    )
