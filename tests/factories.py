"""factory_boy factories for the records every test builds on."""

from __future__ import annotations

from datetime import date, timedelta

import factory
from django.utils import timezone

from trials.models import Membership, Patient, Phase, Role, Site, Trial, TrialSite, User

TEST_PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.org")
    full_name = factory.Faker("name")
    password = factory.django.Password(TEST_PASSWORD)


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site

    code = factory.Sequence(lambda n: f"SITE{n}")
    name = factory.Sequence(lambda n: f"Hospital {n}")
    country = "GB"


class TrialFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Trial

    code = factory.Sequence(lambda n: f"TR{n}")
    title = factory.Sequence(lambda n: f"Trial {n}")
    phase = Phase.PHASE_I_II


class TrialSiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TrialSite

    trial = factory.SubFactory(TrialFactory)
    site = factory.SubFactory(SiteFactory)
    number = factory.Sequence(lambda n: f"{(n % 98) + 1:02d}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)
    trial = factory.SubFactory(TrialFactory)
    role = Role.COORDINATOR
    all_sites = False

    @factory.post_generation
    def sites(self, create, extracted, **kwargs):
        if create and extracted:
            self.sites.set(extracted)


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    trial = factory.SubFactory(TrialFactory)
    site = factory.SubFactory(SiteFactory)
    screening_number = factory.Sequence(lambda n: f"{n + 1:03d}")
    given_name = factory.Faker("first_name")
    family_name = factory.Faker("last_name")
    sex = "F"


# --- Helpers that walk a patient through the services (screen → eligibility → consent → enrol) --


def days_ago(n: int) -> date:
    return timezone.localdate() - timedelta(days=n)


def answer_all_eligible(patient: Patient, user: User):
    """Every inclusion criterion met, no exclusion applies."""
    from trials import selectors, services

    answers = {c.code: c.kind == "inclusion" for c in selectors.eligibility_criteria(patient.trial)}
    return services.eligibility_record(patient=patient, answers=answers, acting_user=user)


def screen_patient(trial: Trial, site: Site, user: User, **fields) -> Patient:
    from trials import services

    fields.setdefault("given_name", "Ada")
    fields.setdefault("family_name", "Lovelace")
    fields.setdefault("sex", "F")
    return services.patient_screen(trial=trial, site=site, acting_user=user, **fields)


def enrolled_patient(
    trial: Trial,
    site: Site,
    user: User,
    *,
    consent_date: date | None = None,
    enrolment_date: date | None = None,
    planned_start_date: date | None = None,
    dose_level: int | None = 1,
    height_cm=None,
    weight_kg=None,
    **fields,
) -> Patient:
    from trials import services

    patient = screen_patient(trial, site, user, **fields)
    answer_all_eligible(patient, user)
    services.consent_record(
        patient=patient,
        version="1.0",
        consent_date=consent_date or days_ago(30),
        acting_user=user,
    )
    patient = services.patient_enrol(
        patient=patient,
        acting_user=user,
        enrolment_date=enrolment_date or days_ago(28),
        planned_start_date=planned_start_date,
        dose_level=dose_level,
        height_cm=height_cm,
        weight_kg=weight_kg,
    )
    patient.refresh_from_db()
    return patient
