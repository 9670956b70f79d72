"""The HTML pages of the trials app. Reads go through selectors, writes through services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render

from trials import selectors, services
from trials.audit import history_for
from trials.forms import PatientEditForm
from trials.models import IDENTIFIER_FIELDS, Membership, Role
from trials.selectors import get_patient_for_user, patients_for_user, trials_for_user

PATIENT_EDIT_ROLES = (Role.COORDINATOR, Role.TRIAL_ADMIN)


@login_required
def home(request):
    memberships = (
        Membership.objects.filter(user=request.user, active=True)
        .select_related("trial")
        .prefetch_related("sites")
        .order_by("trial__code", "role")
    )
    trials = trials_for_user(request.user).annotate(n_patients=Count("patients"))
    return render(request, "trials/home.html", {"memberships": memberships, "trials": trials})


@login_required
def trial_list(request):
    trials = trials_for_user(request.user).annotate(n_sites=Count("trial_sites"))
    return render(request, "trials/trial_list.html", {"trials": trials})


@login_required
def trial_detail(request, code: str):
    trial = selectors.get_trial_for_user(request.user, code=code)
    trial_sites = trial.trial_sites.select_related("site").order_by("number")
    return render(request, "trials/trial_detail.html", {"trial": trial, "trial_sites": trial_sites})


@login_required
def patient_list(request):
    trial = None
    code = request.GET.get("trial")
    if code:
        trial = selectors.get_trial_for_user(request.user, code=code)
    patients = patients_for_user(request.user, trial=trial).order_by(
        "trial__code", "site__code", "screening_number"
    )
    return render(request, "trials/patient_list.html", {"patients": patients, "trial": trial})


@login_required
def patient_detail(request, pk: int):
    patient = get_patient_for_user(request.user, pk=pk)
    can_edit = selectors.user_has_role(
        request.user, trial=patient.trial, roles=PATIENT_EDIT_ROLES, site=patient.site
    )
    return render(request, "trials/patient_detail.html", {"patient": patient, "can_edit": can_edit})


@login_required
def patient_edit(request, pk: int):
    patient = get_patient_for_user(request.user, pk=pk)
    if not selectors.user_has_role(
        request.user, trial=patient.trial, roles=PATIENT_EDIT_ROLES, site=patient.site
    ):
        raise PermissionDenied("Only the site's coordinators and trial admins edit patients.")
    if request.method == "POST":
        form = PatientEditForm(request.POST, instance=patient)
        if form.is_valid():
            data = {f: form.cleaned_data[f] for f in services.PATIENT_EDITABLE_FIELDS}
            try:
                services.patient_update(
                    patient=patient,
                    acting_user=request.user,
                    reason=form.cleaned_data["reason"],
                    expected_version=form.cleaned_data["version"],
                    **data,
                )
            except services.ConflictError as exc:
                form.add_error(None, str(exc))
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, f"{patient.label} saved.")
                return redirect("patient_detail", pk=patient.pk)
    else:
        form = PatientEditForm(instance=patient, initial={"version": patient.version})
    return render(request, "trials/patient_edit.html", {"patient": patient, "form": form})


def history_object(user, kind: str, pk: int):
    if kind == "patient":
        return get_patient_for_user(user, pk=pk)
    if kind == "trial":
        trial = trials_for_user(user).filter(pk=pk).first()
        if trial is None:
            raise Http404
        return trial
    if kind == "site":
        site = selectors.sites_for_user(user).filter(pk=pk).first()
        if site is None:
            raise Http404
        return site
    if kind == "membership":
        membership = Membership.objects.filter(pk=pk).select_related("trial", "user").first()
        if membership is None:
            raise Http404
        if membership.user_id == user.pk or selectors.user_has_role(
            user, trial=membership.trial, roles=[Role.TRIAL_ADMIN]
        ):
            return membership
        raise Http404
    raise Http404


HISTORY_KINDS = ("patient", "trial", "site", "membership")


@login_required
def history(request, kind: str, pk: int):
    obj = history_object(request.user, kind, pk)
    entries = history_for(obj, hide_fields=hidden_history_fields(kind, obj))
    return render(request, "trials/history.html", {"object": obj, "kind": kind, "entries": entries})


def hidden_history_fields(kind: str, obj) -> frozenset[str]:
    """Direct identifiers stay hidden in the history of users who may not see them."""
    if kind == "patient" and not getattr(obj, "can_see_identifiers", False):
        return IDENTIFIER_FIELDS
    return frozenset()
