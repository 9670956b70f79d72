"""Every read of trial data that a page, API view or task needs, scoped by membership.

A user sees a patient only through an active membership of the patient's trial that covers
the patient's site (or all sites). Anything else is "not found": a coordinator of site A gets a
404 for a site B record, never a 403 that would confirm the record exists.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404

from trials.models import Membership, Patient, Role, Site, Trial, User

IDENTIFIER_ROLES = (Role.COORDINATOR, Role.MONITOR)


def active_memberships(user: User) -> QuerySet[Membership]:
    if not user.is_authenticated:
        return Membership.objects.none()
    return Membership.objects.filter(user=user, active=True).select_related("trial")


def user_roles(user: User) -> set[str]:
    if not user.is_authenticated:
        return set()
    return set(Membership.objects.filter(user=user, active=True).values_list("role", flat=True))


def trials_for_user(user: User) -> QuerySet[Trial]:
    if not user.is_authenticated:
        return Trial.objects.none()
    member = Membership.objects.filter(user=user, active=True, trial=OuterRef("pk"))
    return Trial.objects.filter(Exists(member)).order_by("code")


def get_trial_for_user(user: User, *, code: str) -> Trial:
    return get_object_or_404(trials_for_user(user), code=code)


def sites_for_user(user: User, *, trial: Trial | None = None) -> QuerySet[Site]:
    if not user.is_authenticated:
        return Site.objects.none()
    memberships = Membership.objects.filter(user=user, active=True)
    if trial is not None:
        memberships = memberships.filter(trial=trial)
    all_site_trials = memberships.filter(all_sites=True).values("trial")
    return (
        Site.objects.filter(
            Q(memberships__in=memberships) | Q(trial_sites__trial__in=all_site_trials)
        )
        .distinct()
        .order_by("code")
    )


def _covering_memberships(user: User, roles: Iterable[str] | None = None) -> QuerySet:
    qs = Membership.objects.filter(user=user, active=True, trial=OuterRef("trial")).filter(
        Q(all_sites=True) | Q(sites=OuterRef("site"))
    )
    if roles is not None:
        qs = qs.filter(role__in=list(roles))
    return qs


def patients_for_user(
    user: User, *, trial: Trial | None = None, roles: Iterable[str] | None = None
) -> QuerySet[Patient]:
    """Patients the user may read (optionally: through one of ``roles``)."""
    if not user.is_authenticated:
        return Patient.objects.none()
    qs = Patient.objects.filter(Exists(_covering_memberships(user, roles)))
    if trial is not None:
        qs = qs.filter(trial=trial)
    return qs.select_related("trial", "site").annotate(
        can_see_identifiers=Exists(_covering_memberships(user, IDENTIFIER_ROLES))
    )


def get_patient_for_user(user: User, *, pk: int, roles: Iterable[str] | None = None) -> Patient:
    return get_object_or_404(patients_for_user(user, roles=roles), pk=pk)


def user_has_role(
    user: User, *, trial: Trial, roles: Iterable[str], site: Site | None = None
) -> bool:
    if not user.is_authenticated:
        return False
    qs = Membership.objects.filter(user=user, trial=trial, active=True, role__in=list(roles))
    if site is not None:
        qs = qs.filter(Q(all_sites=True) | Q(sites=site))
    return qs.exists()
