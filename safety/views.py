"""The safety pages. Reads go through ``safety.selectors`` (scoped by membership: another
site's record is a 404), writes through ``safety.services``; a user who may read but not do
the action gets a 403. Signing pages re-check the password and the authenticator code with
``config.otp.verify_signature`` before the service runs."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from config.otp import otp_verified_for_signing, user_has_confirmed_device, verify_signature
from safety import forms as f
from safety import selectors, services
from safety.models import (
    AdverseEvent,
    CtcaeTerm,
    DltWindowState,
    PotentialDltStatus,
    SaeReport,
)
from safety.models.adverse_events import SERIOUSNESS_FIELDS
from safety.services import ConflictError
from trials import selectors as trial_selectors
from trials.forms import apply_service_errors

WRITE_DENIED = "Only the site's coordinators and trial admins record adverse events."
SIGN_DENIED = "Only an investigator of the patient's site signs."


def _require_writer(user, patient) -> None:
    if not selectors.can_write_adverse_events(user, patient):
        raise PermissionDenied(WRITE_DENIED)


def _require_signer(user, patient) -> None:
    if not selectors.can_sign(user, patient):
        raise PermissionDenied(SIGN_DENIED)


def _method(user) -> str:
    return "password+otp" if user_has_confirmed_device(user) else "password"


def _grade_options(term: CtcaeTerm | None, *, placeholder: bool = True) -> list[tuple]:
    """(value, label, allowed) for a grade <select>: a term's disallowed grades are disabled."""
    options: list[tuple] = [("", "Choose the grade", True)] if placeholder else []
    for grade in range(1, 6):
        if term is None:
            options.append((grade, f"Grade {grade}", True))
            continue
        text = term.grade_text(grade)
        if text is None:
            options.append((grade, f"Grade {grade}: not defined for this term", False))
        else:
            options.append((grade, f"Grade {grade}: {text}", True))
    return options


def _term_of(trial, data) -> CtcaeTerm | None:
    version = selectors.ctcae_version_for(trial)
    code = (data.get("meddra_code") or "").strip()
    if code.isdigit():
        return selectors.ctcae_term_by_code(version, int(code))
    name = (data.get("term") or "").strip()
    return selectors.ctcae_term_by_name(version, name) if name else None


# --- Trial pages -------------------------------------------------------------------------------


@login_required
def index(request):
    trials = list(trial_selectors.trials_for_user(request.user))
    if len(trials) == 1:
        return redirect("safety_trial", code=trials[0].code)
    return render(request, "safety/index.html", {"trials": trials})


@login_required
def trial_home(request, code: str):
    trial = trial_selectors.get_trial_for_user(request.user, code=code)
    today = timezone.localdate()
    patients = trial_selectors.patients_for_user(request.user, trial=trial).values("pk")
    counts = AdverseEvent.objects.filter(patient__in=patients).aggregate(
        events=Count("pk"),
        grade_3_plus=Count("pk", filter=Q(max_grade__gte=3)),
    )
    context = {
        "trial": trial,
        "ctcae_version": selectors.ctcae_version_for(trial),
        "counts": counts,
        "pending_suggestions": selectors.lab_suggestions_for_user(
            request.user, trial=trial
        ).count(),
        "pending_dlts": selectors.potential_dlts_for_user(
            request.user, trial=trial, status=PotentialDltStatus.PENDING
        ).count(),
        "closing_soon": selectors.windows_closing_soon(
            request.user, trial=trial, today=today
        ).count(),
        "open_saes": selectors.sae_reports_for_user(
            request.user, trial=trial, statuses=["open", "initial_submitted", "full_submitted"]
        ).count(),
    }
    return render(request, "safety/trial_home.html", context)


@login_required
def ae_list(request, code: str):
    trial = trial_selectors.get_trial_for_user(request.user, code=code)
    events = selectors.adverse_events_for_user(request.user, trial=trial)
    writable = (
        trial_selectors.patients_for_user(request.user, trial=trial, roles=selectors.AE_WRITE_ROLES)
        .filter(dose_level__isnull=False)
        .order_by("site__code", "screening_number")
    )
    return render(
        request,
        "safety/ae_list.html",
        {"trial": trial, "events": events, "writable_patients": writable},
    )


# --- Adverse event entry -----------------------------------------------------------------------


@login_required
def ae_new(request, pk: int):
    patient = trial_selectors.get_patient_for_user(request.user, pk=pk)
    _require_writer(request.user, patient)
    agents = trial_selectors.trial_agents(patient.trial)
    form = f.AdverseEventForm(request.POST or None, agents=agents)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            ae = services.adverse_event_create(
                patient=patient,
                term=d["term"],
                meddra_code=d.get("meddra_code"),
                onset_date=d["onset_date"],
                grade=d["grade"],
                attributions=form.attribution_inputs(),
                acting_user=request.user,
                **form.service_fields(),
            )
        except ValidationError as exc:
            apply_service_errors(form, exc, mapping=_AE_FIELD_MAP)
        else:
            _flash_after_save(request, ae)
            return redirect("safety_ae_detail", pk=ae.pk)
    term = _term_of(patient.trial, request.POST) if request.method == "POST" else None
    return render(
        request,
        "safety/ae_form.html",
        {
            "patient": patient,
            "form": form,
            "search_url": reverse("api-safety-ctcae-terms") + f"?trial={patient.trial.code}",
            "grade_options": _grade_options(term),
            "selected_grade": str(request.POST.get("grade", "")),
            "term": term,
            "ctcae_version": selectors.ctcae_version_for(patient.trial),
        },
    )


_AE_FIELD_MAP = {"grades": "grade", "non_field_errors": None}


def _flash_after_save(request, ae: AdverseEvent) -> None:
    messages.success(request, f"{ae.term} grade {ae.max_grade} saved for {ae.patient.label}.")
    potential = AdverseEvent.objects.filter(pk=ae.pk, potential_dlt__status="pending").exists()
    if potential:
        messages.warning(
            request, "This event matches the trial's DLT definition: flagged as a potential DLT."
        )
    if ae.is_serious:
        messages.warning(request, "Serious adverse event: the SAE reporting clock has started.")


def _ae_context(request, ae: AdverseEvent, **bound) -> dict:
    patient = ae.patient
    agents = trial_selectors.trial_agents(patient.trial)
    current = {a.agent_id: a for a in ae.attributions.all()}
    can_write = selectors.can_write_adverse_events(request.user, patient)
    potential = getattr(ae, "potential_dlt", None)
    report = getattr(ae, "sae_report", None)
    initial_attribution = {"version": ae.version}
    for agent in agents:
        row = current.get(agent.pk)
        if row is not None:
            initial_attribution[f"attribution_{agent.code}"] = row.attribution
            initial_attribution[f"action_{agent.code}"] = row.action_taken
    return {
        "ae": ae,
        "patient": patient,
        "episodes": selectors.episodes_of(ae),
        "attribution_rows": [(agent, current.get(agent.pk)) for agent in agents],
        "seriousness": ae.seriousness_labels,
        "potential": potential,
        "adjudication": selectors.valid_adjudication(potential) if potential else None,
        "report": report,
        "clock": selectors.sae_report_clock(report, now=timezone.now()) if report else None,
        "can_write": can_write,
        "grade_options": _grade_options(ae.ctcae_term),
        "grade_form": bound.get("grade_form")
        or f.GradeChangeForm(initial={"version": ae.version, "on_date": timezone.localdate()}),
        "attribution_form": bound.get("attribution_form")
        or f.AttributionForm(agents=agents, initial=initial_attribution),
    }


@login_required
def ae_detail(request, pk: int):
    ae = selectors.get_adverse_event_for_user(request.user, pk=pk)
    return render(request, "safety/ae_detail.html", _ae_context(request, ae))


@login_required
@require_POST
def ae_grade_change(request, pk: int):
    ae = selectors.get_adverse_event_for_user(request.user, pk=pk)
    _require_writer(request.user, ae.patient)
    form = f.GradeChangeForm(request.POST)
    if form.is_valid():
        d = form.cleaned_data
        try:
            ae = services.adverse_event_grade_change(
                adverse_event=ae,
                grade=d["grade"],
                on_date=d["on_date"],
                acting_user=request.user,
                reason=d["reason"],
                expected_version=d["version"],
            )
        except ConflictError as exc:
            form.add_error(None, str(exc))
        except ValidationError as exc:
            apply_service_errors(form, exc, mapping={"grades": "grade"})
        else:
            _flash_after_save(request, ae)
            return redirect("safety_ae_detail", pk=ae.pk)
    ae = selectors.get_adverse_event_for_user(request.user, pk=pk)
    return render(
        request, "safety/ae_detail.html", _ae_context(request, ae, grade_form=form), status=400
    )


@login_required
@require_POST
def ae_attribution(request, pk: int):
    ae = selectors.get_adverse_event_for_user(request.user, pk=pk)
    _require_writer(request.user, ae.patient)
    form = f.AttributionForm(request.POST, agents=trial_selectors.trial_agents(ae.patient.trial))
    if form.is_valid():
        try:
            ae = services.adverse_event_update(
                adverse_event=ae,
                acting_user=request.user,
                reason=form.cleaned_data["reason"],
                expected_version=form.cleaned_data["version"],
                attributions=form.attribution_inputs(),
            )
        except ConflictError as exc:
            form.add_error(None, str(exc))
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            _flash_after_save(request, ae)
            return redirect("safety_ae_detail", pk=ae.pk)
    ae = selectors.get_adverse_event_for_user(request.user, pk=pk)
    return render(
        request,
        "safety/ae_detail.html",
        _ae_context(request, ae, attribution_form=form),
        status=400,
    )


@login_required
def ae_edit(request, pk: int):
    ae = selectors.get_adverse_event_for_user(request.user, pk=pk)
    _require_writer(request.user, ae.patient)
    initial = {
        "version": ae.version,
        "resolution_date": ae.resolution_date,
        "outcome": ae.outcome,
        "expectedness": ae.expectedness,
        "verbatim": ae.verbatim,
        "seriousness": [n for n in SERIOUSNESS_FIELDS if getattr(ae, n)],
        "awareness_at": timezone.localtime(ae.awareness_at) if ae.awareness_at else None,
        "with_fever": ae.with_fever,
        "with_bleeding": ae.with_bleeding,
        "with_transfusion": ae.with_transfusion,
        "controlled_within_hours": ae.controlled_within_hours,
        "cycle2_delay_days": ae.cycle2_delay_days,
    }
    form = f.AdverseEventEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            ae = services.adverse_event_update(
                adverse_event=ae,
                acting_user=request.user,
                reason=form.cleaned_data["reason"],
                expected_version=form.cleaned_data["version"],
                **form.service_fields(),
            )
        except ConflictError as exc:
            form.add_error(None, str(exc))
        except ValidationError as exc:
            apply_service_errors(form, exc, mapping={"grades": None})
        else:
            _flash_after_save(request, ae)
            return redirect("safety_ae_detail", pk=ae.pk)
    return render(request, "safety/ae_edit.html", {"ae": ae, "form": form})


# --- Lab suggestions ---------------------------------------------------------------------------


@login_required
def lab_suggestions(request, code: str):
    trial = trial_selectors.get_trial_for_user(request.user, code=code)
    suggestions = list(selectors.lab_suggestions_for_user(request.user, trial=trial))
    writable = set(
        trial_selectors.patients_for_user(
            request.user, trial=trial, roles=selectors.AE_WRITE_ROLES
        ).values_list("pk", flat=True)
    )
    return render(
        request,
        "safety/lab_suggestions.html",
        {
            "trial": trial,
            "rows": [
                (
                    s,
                    s.patient_id in writable,
                    f.SuggestionDismissForm(initial={"version": s.version}, prefix=f"s{s.pk}"),
                )
                for s in suggestions
            ],
        },
    )


@login_required
@require_POST
def suggestion_confirm(request, pk: int):
    suggestion = selectors.get_lab_suggestion_for_user(request.user, pk=pk)
    _require_writer(request.user, suggestion.patient)
    events = selectors.adverse_events_for_user(request.user, patient=suggestion.patient).filter(
        ctcae_term=suggestion.ctcae_term
    )
    form = f.SuggestionConfirmForm(request.POST, events=events)
    if form.is_valid():
        existing = None
        if form.cleaned_data.get("existing_event"):
            existing = events.filter(pk=form.cleaned_data["existing_event"]).first()
        try:
            ae = services.lab_suggestion_confirm(
                suggestion=suggestion,
                acting_user=request.user,
                expected_version=form.cleaned_data["version"],
                existing_event=existing,
            )
        except (ConflictError, ValidationError) as exc:
            text = str(exc) if isinstance(exc, ConflictError) else "; ".join(exc.messages)
            messages.error(request, text)
        else:
            messages.success(
                request, "Adverse event recorded from the lab result: complete its attribution."
            )
            return redirect("safety_ae_detail", pk=ae.pk)
    return redirect("safety_lab_suggestions", code=suggestion.patient.trial.code)


@login_required
@require_POST
def suggestion_dismiss(request, pk: int):
    suggestion = selectors.get_lab_suggestion_for_user(request.user, pk=pk)
    _require_writer(request.user, suggestion.patient)
    form = f.SuggestionDismissForm(request.POST, prefix=f"s{pk}")
    if form.is_valid():
        try:
            services.lab_suggestion_dismiss(
                suggestion=suggestion,
                reason=form.cleaned_data["reason"],
                acting_user=request.user,
                expected_version=form.cleaned_data["version"],
            )
        except (ConflictError, ValidationError) as exc:
            text = str(exc) if isinstance(exc, ConflictError) else "; ".join(exc.messages)
            messages.error(request, text)
        else:
            messages.success(request, "Suggestion dismissed.")
    else:
        messages.error(request, "Give the reason for dismissing the suggestion.")
    return redirect("safety_lab_suggestions", code=suggestion.patient.trial.code)


# --- DLT adjudication -------------------------------------------------------------------------


@login_required
def dlt_queue(request, code: str):
    trial = trial_selectors.get_trial_for_user(request.user, code=code)
    today = timezone.localdate()
    return render(
        request,
        "safety/dlt_queue.html",
        {
            "trial": trial,
            "today": today,
            "pending": selectors.potential_dlts_for_user(
                request.user, trial=trial, status=PotentialDltStatus.PENDING
            ),
            "closing_soon": selectors.windows_closing_soon(request.user, trial=trial, today=today),
            "windows": selectors.dlt_windows_for_user(request.user, trial=trial),
            "decided": selectors.potential_dlts_for_user(request.user, trial=trial).filter(
                status__in=[PotentialDltStatus.CONFIRMED, PotentialDltStatus.REJECTED]
            ),
            "is_investigator": trial_selectors.user_has_role(
                request.user, trial=trial, roles=selectors.SIGNING_ROLES
            ),
            "pending_state": DltWindowState.PENDING,
        },
    )


def _potential_context(request, potential, form=None) -> dict:
    ae = selectors.get_adverse_event_for_user(request.user, pk=potential.adverse_event_id)
    can_sign = selectors.can_sign(request.user, ae.patient)
    if form is None and can_sign and potential.status == PotentialDltStatus.PENDING:
        form = f.AdjudicationForm(
            initial={"version": potential.version, "meaning": f.DEFAULT_DLT_MEANING}
        )
    return {
        "potential": potential,
        "ae": ae,
        "episodes": selectors.episodes_of(ae),
        "attributions": list(ae.attributions.all()),
        "window": potential.dlt_window,
        "adjudication": selectors.valid_adjudication(potential),
        "can_sign": can_sign,
        "form": form,
    }


@login_required
def potential_dlt_detail(request, pk: int):
    potential = selectors.get_potential_dlt_for_user(request.user, pk=pk)
    return render(request, "safety/potential_dlt.html", _potential_context(request, potential))


@login_required
@require_POST
@otp_verified_for_signing
def potential_dlt_adjudicate(request, pk: int):
    potential = selectors.get_potential_dlt_for_user(request.user, pk=pk)
    _require_signer(request.user, potential.adverse_event.patient)
    form = f.AdjudicationForm(request.POST)
    if form.is_valid():
        d = form.cleaned_data
        try:
            # Before the service's transaction: failed attempts must stay counted.
            verify_signature(
                request,
                password=d["password"],
                otp_token=d.get("otp_token"),
                action=f"potential_dlt:{potential.pk} {d['decision']}",
            )
            services.potential_dlt_adjudicate(
                potential_dlt=potential,
                decision=d["decision"],
                reason=d["reason"],
                signer=request.user,
                meaning=d["meaning"],
                acting_user=request.user,
                expected_version=d["version"],
                signature_method=_method(request.user),
            )
        except ConflictError as exc:
            form.add_error(None, str(exc))
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            verb = "confirmed" if d["decision"] == "confirmed" else "rejected"
            messages.success(request, f"DLT {verb} and signed. The escalation is re-evaluated.")
            return redirect("safety_potential_dlt", pk=potential.pk)
    potential = selectors.get_potential_dlt_for_user(request.user, pk=pk)
    return render(
        request,
        "safety/potential_dlt.html",
        _potential_context(request, potential, form=form),
        status=400,
    )


# --- SAE reports ------------------------------------------------------------------------------


@login_required
def sae_list(request, code: str):
    trial = trial_selectors.get_trial_for_user(request.user, code=code)
    now = timezone.now()
    reports = list(selectors.sae_reports_for_user(request.user, trial=trial))
    rows = [(r, selectors.sae_report_clock(r, now=now)) for r in reports]
    return render(request, "safety/sae_list.html", {"trial": trial, "rows": rows, "now": now})


def _sae_context(request, report: SaeReport, *, submit_form=None, sign_form=None) -> dict:
    patient = report.adverse_event.patient
    can_submit = selectors.can_write_adverse_events(request.user, patient) or selectors.can_sign(
        request.user, patient
    )
    can_sign = selectors.can_sign(request.user, patient)
    open_statuses = ("open", "initial_submitted")
    return {
        "report": report,
        "ae": report.adverse_event,
        "patient": patient,
        "clock": selectors.sae_report_clock(report, now=timezone.now()),
        "reminders": list(report.reminders.order_by("remind_at")),
        "submit_form": submit_form
        or (
            f.SaeSubmitForm(initial={"version": report.version, "narrative": report.narrative})
            if can_submit and report.status in open_statuses
            else None
        ),
        "sign_form": sign_form
        or (
            f.SaeSignForm(initial={"version": report.version, "meaning": f.DEFAULT_SAE_MEANING})
            if can_sign and report.status == "full_submitted"
            else None
        ),
    }


@login_required
def sae_detail(request, pk: int):
    report = selectors.get_sae_report_for_user(request.user, pk=pk)
    return render(request, "safety/sae_detail.html", _sae_context(request, report))


@login_required
@require_POST
def sae_submit(request, pk: int):
    report = selectors.get_sae_report_for_user(request.user, pk=pk)
    patient = report.adverse_event.patient
    if not (
        selectors.can_write_adverse_events(request.user, patient)
        or selectors.can_sign(request.user, patient)
    ):
        raise PermissionDenied("Only the site's coordinators and investigators submit reports.")
    form = f.SaeSubmitForm(request.POST)
    if form.is_valid():
        d = form.cleaned_data
        try:
            services.sae_report_submit(
                sae_report=report,
                kind=d["report"],
                acting_user=request.user,
                expected_version=d["version"],
                submitted_at=d.get("submitted_at"),
                narrative=d.get("narrative"),
            )
        except ConflictError as exc:
            form.add_error(None, str(exc))
        except ValidationError as exc:
            apply_service_errors(form, exc, mapping={"kind": "report", "status": None})
        else:
            messages.success(request, "Submission recorded.")
            return redirect("safety_sae_detail", pk=pk)
    report = selectors.get_sae_report_for_user(request.user, pk=pk)
    return render(
        request,
        "safety/sae_detail.html",
        _sae_context(request, report, submit_form=form),
        status=400,
    )


@login_required
@require_POST
@otp_verified_for_signing
def sae_sign(request, pk: int):
    report = selectors.get_sae_report_for_user(request.user, pk=pk)
    _require_signer(request.user, report.adverse_event.patient)
    form = f.SaeSignForm(request.POST)
    if form.is_valid():
        d = form.cleaned_data
        try:
            verify_signature(
                request,
                password=d["password"],
                otp_token=d.get("otp_token"),
                action=f"sae_report:{report.pk} sign",
            )
            services.sae_report_sign(
                sae_report=report,
                signer=request.user,
                meaning=d["meaning"],
                acting_user=request.user,
                expected_version=d["version"],
                signature_method=_method(request.user),
            )
        except ConflictError as exc:
            form.add_error(None, str(exc))
        except ValidationError as exc:
            apply_service_errors(form, exc, mapping={"status": None})
        else:
            messages.success(request, "SAE report signed.")
            return redirect("safety_sae_detail", pk=pk)
    report = selectors.get_sae_report_for_user(request.user, pk=pk)
    return render(
        request, "safety/sae_detail.html", _sae_context(request, report, sign_form=form), status=400
    )


# --- Tables ------------------------------------------------------------------------------------


@login_required
def tables(request, code: str):
    trial = trial_selectors.get_trial_for_user(request.user, code=code)
    patients = trial_selectors.patients_for_user(request.user, trial=trial)
    overall, by_level = selectors.ae_tables(trial, patients=patients)
    return render(
        request,
        "safety/tables.html",
        {
            "trial": trial,
            "overall": overall,
            "by_level": by_level,
            "dlt_rows": selectors.dlt_listing(trial, patients=patients),
            "grades": range(1, 6),
        },
    )
