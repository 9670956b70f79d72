"""factory_boy factories for the records every test builds on."""

from __future__ import annotations

import factory

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
