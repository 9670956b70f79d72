"""Every write to trials, sites, memberships and patients.

Each service runs in one transaction, names its actor (``acting_user``) and writes its audit
context; updates of clinical records require a reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from trials.audit import audited, require_reason
from trials.models import Membership, Patient, Role, Site, Trial, TrialSite, User

PATIENT_EDITABLE_FIELDS = ("given_name", "family_name", "date_of_birth", "sex")


class ConflictError(Exception):
    """Someone else saved the record after this edit was started."""

    def __init__(self, message: str, *, current_version: int):
        super().__init__(message)
        self.current_version = current_version


@transaction.atomic
def user_create(
    *, email: str, full_name: str, password: str | None, acting_user: User | None, **extra: Any
) -> User:
    with audited(acting_user=acting_user, reason="account created"):
        return User.objects.create_user(
            email=email, password=password, full_name=full_name, **extra
        )


@transaction.atomic
def site_create(*, code: str, name: str, country: str = "", acting_user: User | None) -> Site:
    site = Site(code=code, name=name, country=country)
    site.full_clean()
    with audited(acting_user=acting_user, reason="site created"):
        site.save()
    return site


@transaction.atomic
def trial_create(
    *, code: str, title: str, phase: str, acting_user: User | None, **fields: Any
) -> Trial:
    trial = Trial(code=code, title=title, phase=phase, **fields)
    trial.full_clean()
    with audited(acting_user=acting_user, reason="trial created"):
        trial.save()
    return trial


@transaction.atomic
def trial_site_add(*, trial: Trial, site: Site, number: str, acting_user: User | None) -> TrialSite:
    trial_site = TrialSite(trial=trial, site=site, number=number)
    trial_site.full_clean()
    with audited(acting_user=acting_user, reason="site added to trial"):
        trial_site.save()
    return trial_site


@transaction.atomic
def membership_grant(
    *,
    user: User,
    trial: Trial,
    role: str,
    sites: Iterable[Site] = (),
    all_sites: bool = False,
    acting_user: User | None,
    reason: str = "access granted",
) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    sites = list(sites)
    if not all_sites and not sites:
        raise ValidationError({"sites": "Choose at least one site, or all sites."})
    trial_site_ids = set(TrialSite.objects.filter(trial=trial).values_list("site_id", flat=True))
    outside = [s.code for s in sites if s.pk not in trial_site_ids]
    if outside:
        raise ValidationError({"sites": f"Not sites of {trial.code}: {', '.join(outside)}."})
    with audited(acting_user=acting_user, reason=reason):
        membership, _ = Membership.objects.update_or_create(
            user=user, trial=trial, role=role, defaults={"all_sites": all_sites, "active": True}
        )
        membership.sites.set(sites)
    return membership


@transaction.atomic
def membership_revoke(*, membership: Membership, acting_user: User, reason: str) -> Membership:
    reason = require_reason(reason)
    with audited(acting_user=acting_user, reason=reason):
        membership.active = False
        membership.save(update_fields=["active"])
    return membership


@transaction.atomic
def patient_update(
    *,
    patient: Patient,
    acting_user: User,
    reason: str | None,
    expected_version: int | None = None,
    **changes: Any,
) -> Patient:
    """Correct a patient's demographic record. Refuses a stale edit instead of overwriting."""
    reason = require_reason(reason)
    unknown = set(changes) - set(PATIENT_EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, "This field cannot be changed here."))
    locked = Patient.objects.select_for_update().get(pk=patient.pk)
    if expected_version is not None and locked.version != expected_version:
        raise ConflictError(
            "This patient was changed by someone else after you opened it. "
            "Reload to see their change, then make yours again.",
            current_version=locked.version,
        )
    changed = {k: v for k, v in changes.items() if getattr(locked, k) != v}
    if not changed:
        return locked
    for field, value in changed.items():
        setattr(locked, field, value)
    locked.version += 1
    locked.full_clean(exclude=["study_id"])
    with audited(acting_user=acting_user, reason=reason):
        locked.save(update_fields=[*changed, "version", "updated_at"])
    return locked
