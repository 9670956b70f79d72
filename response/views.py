"""The response pages. Reads go through ``response.selectors`` (scoped: another site's patient
is 404), writes through the services; a role that may not act gets 403."""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from config.otp import otp_verified_for_signing, verify_signature
from response import selectors, services
from response.domain.queries import ACTIVE_STATUSES, QUERY_STATUS_LABELS, query_targets
from response.forms import (
    EntryForm,
    LesionForm,
    QueryActionForm,
    RecistAssessmentForm,
    ResponseLabsForm,
    SignForm,
)
from response.models import EntryScope
from response.models.recist import LesionKind
from response.plots import FORMATS, waterfall_figure
from response.plots import render as render_plot
from response.services import LesionInput
from trials import selectors as trial_selectors
from trials.domain.schedule import VisitState
from trials.models import Role


def _form_errors(form, exc: ValidationError, *, prefix_map: dict[str, str] | None = None) -> None:
    """Put a service's field messages on the form (unknown fields become form errors)."""
    prefix_map = prefix_map or {}
    for field, errors in exc.message_dict.items():
        name = prefix_map.get(field, field)
        for message in errors:
            form.add_error(name if name in form.fields else None, message)


# --- One patient ----------------------------------------------------------------------------


def _page(request, patient, *, status: int = 200, **forms):
    roles = selectors.patient_roles(request.user, patient)
    design = trial_selectors.trial_design(patient.trial)
    imwg = not design.response.is_recist
    view = selectors.patient_response_view(patient)
    dates = [row.computed.assessment_date for row in view.rows]
    is_investigator = Role.INVESTIGATOR in roles
    can_enter_data = bool(roles & set(selectors.LAB_ENTRY_ROLES))
    context = {
        "patient": patient,
        "view": view,
        "design": design,
        "imwg": imwg,
        "criteria": design.response.criteria,
        "is_investigator": is_investigator,
        "can_enter_data": can_enter_data,
        "query_actors": roles & set(selectors.QUERY_ANSWER_ROLES),
        "status_labels": QUERY_STATUS_LABELS,
    }
    if is_investigator:
        context["entry_form"] = forms.get("entry_form") or EntryForm(dates=dates, imwg=imwg)
        if view.response is not None:
            context["sign_form"] = forms.get("sign_form") or SignForm()
    if can_enter_data and imwg:
        visits = [
            v
            for v in trial_selectors.patient_visits(patient)
            if v.status == VisitState.DONE and v.visit_date is not None
        ]
        context["labs_form"] = forms.get("labs_form") or ResponseLabsForm(visits=visits)
    if not imwg:
        lesions = selectors.recist_lesions(patient)
        context["lesions"] = lesions
        context["recist_assessments"] = selectors.recist_assessments(patient)
        if can_enter_data:
            context["lesion_form"] = forms.get("lesion_form") or LesionForm()
            targets = [lesion for lesion in lesions if lesion.kind == LesionKind.TARGET]
            context["assessment_form"] = forms.get("assessment_form") or RecistAssessmentForm(
                targets=targets
            )
    actors = context["query_actors"]
    context["query_rows"] = [
        (q, [t.value for t in query_targets(q.status, actors)]) for q in view.queries
    ]
    return render(request, "response/patient.html", context, status=status)


@login_required
def patient_response(request, pk: int):
    patient = selectors.get_patient(request.user, pk=pk)
    return _page(request, patient)


@login_required
@require_POST
def entry_record(request, pk: int):
    patient = selectors.get_patient(request.user, pk=pk)
    if not selectors.has_patient_role(request.user, patient, selectors.INVESTIGATOR_ROLES):
        raise PermissionDenied("Only investigators enter responses.")
    design = trial_selectors.trial_design(patient.trial)
    dates = [tp.assessment_date for tp in selectors.timepoints(patient)]
    form = EntryForm(request.POST, dates=dates, imwg=not design.response.is_recist)
    if form.is_valid():
        data = form.cleaned_data
        target = data["target"]
        scope = EntryScope.BEST_OVERALL_RESPONSE if target == "bor" else EntryScope.ASSESSMENT
        try:
            services.investigator_response_record(
                patient=patient,
                scope=scope,
                assessment_date=None if target == "bor" else date.fromisoformat(target),
                category=data["category"],
                pd_basis=data.get("pd_basis") or "",
                note=data["note"],
                reason=data["reason"] or None,
                expected_version=data["version"],
                acting_user=request.user,
            )
        except services.ConflictError as exc:
            form.add_error(None, str(exc))
        except ValidationError as exc:
            _form_errors(form, exc, prefix_map={"assessment_date": "target", "scope": "target"})
        else:
            messages.success(request, "Your response is recorded beside the computed call.")
            return redirect("response:patient", pk=patient.pk)
    return _page(request, patient, status=400, entry_form=form)


@login_required
@require_POST
def query_act(request, query_id: int):
    query = get_object_or_404(selectors.queries_for_user(request.user), pk=query_id)
    if not selectors.has_patient_role(request.user, query.patient, selectors.QUERY_ANSWER_ROLES):
        raise PermissionDenied("Only the site's coordinators and the investigators act on queries.")
    form = QueryActionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Write the answer or resolution before sending it.")
        return redirect("response:patient", pk=query.patient_id)
    try:
        services.query_transition(
            query=query,
            to_status=form.cleaned_data["to_status"],
            text=form.cleaned_data["text"],
            expected_version=form.cleaned_data["version"],
            acting_user=request.user,
        )
    except services.ConflictError as exc:
        messages.error(request, str(exc))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, f"Query {QUERY_STATUS_LABELS[form.cleaned_data['to_status']].lower()}."
        )
    return redirect("response:patient", pk=query.patient_id)


@login_required
@require_POST
@otp_verified_for_signing
def sign(request, pk: int):
    patient = selectors.get_patient(request.user, pk=pk)
    if not selectors.has_patient_role(request.user, patient, selectors.INVESTIGATOR_ROLES):
        raise PermissionDenied("Only investigators sign responses.")
    form = SignForm(request.POST)
    if form.is_valid():
        try:
            verify_signature(
                request,
                password=form.cleaned_data["password"],
                otp_token=form.cleaned_data["otp_token"],
                action=f"response:{patient.pk} sign",
            )
            services.response_sign(
                patient=patient, acting_user=request.user, meaning=form.cleaned_data["meaning"]
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, "The final response is signed.")
            return redirect("response:patient", pk=patient.pk)
    return _page(request, patient, status=400, sign_form=form)


@login_required
@require_POST
def labs_record(request, pk: int):
    """Enter a visit's response labs through the trials lab service; the evaluation runs in
    the background after commit."""
    from trials import services as trial_services

    patient = selectors.get_patient(request.user, pk=pk)
    if not selectors.has_patient_role(request.user, patient, selectors.LAB_ENTRY_ROLES):
        raise PermissionDenied("Only the site's coordinators enter labs.")
    visits = [
        v
        for v in trial_selectors.patient_visits(patient)
        if v.status == VisitState.DONE and v.visit_date is not None
    ]
    form = ResponseLabsForm(request.POST, visits=visits)
    if form.is_valid():
        visit = next(v for v in visits if str(v.pk) == form.cleaned_data["visit"])
        entered = form.entered()
        if not entered:
            form.add_error(None, "Enter at least one result.")
        else:
            try:
                with transaction.atomic():
                    for analyte, value, unit in entered:
                        try:
                            trial_services.lab_result_record(
                                visit=visit,
                                analyte=analyte,
                                value=value,
                                unit=unit,
                                acting_user=request.user,
                                reason=request.POST.get("reason") or None,
                            )
                        except ValidationError as exc:
                            for field, errors in exc.message_dict.items():
                                for message in errors:
                                    form.add_error(
                                        analyte if field in ("value", "unit") else None, message
                                    )
                    if form.errors:
                        raise ValidationError("rolled back")
            except ValidationError:
                pass
            else:
                messages.success(
                    request,
                    f"{len(entered)} result(s) saved for {visit.label}. The response is being "
                    "computed; reload in a moment.",
                )
                return redirect("response:patient", pk=patient.pk)
    return _page(request, patient, status=400, labs_form=form)


@login_required
@require_POST
def lesion_add(request, pk: int):
    patient = selectors.get_patient(request.user, pk=pk)
    services.require_patient_role(
        request.user, patient, selectors.RECIST_ENTRY_ROLES, "record lesions"
    )
    form = LesionForm(request.POST)
    if form.is_valid():
        d = form.cleaned_data
        try:
            services.recist_lesion_add(
                patient=patient,
                lesion=LesionInput(
                    code=d["code"],
                    kind=d["kind"],
                    organ=d["organ"],
                    baseline_date=d["baseline_date"],
                    baseline_diameter_mm=d["baseline_diameter_mm"],
                    is_node=d["is_node"],
                    method=d["method"],
                ),
                acting_user=request.user,
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, "Lesion recorded.")
            return redirect("response:patient", pk=patient.pk)
    return _page(request, patient, status=400, lesion_form=form)


@login_required
@require_POST
def recist_assessment_add(request, pk: int):
    patient = selectors.get_patient(request.user, pk=pk)
    services.require_patient_role(
        request.user, patient, selectors.RECIST_ENTRY_ROLES, "record assessments"
    )
    targets = [
        lesion for lesion in selectors.recist_lesions(patient) if lesion.kind == LesionKind.TARGET
    ]
    form = RecistAssessmentForm(request.POST, targets=targets)
    if form.is_valid():
        d = form.cleaned_data
        try:
            services.recist_assessment_record(
                patient=patient,
                assessment_date=d["assessment_date"],
                measurements=form.measurements(),
                non_target_status=d["non_target_status"],
                new_lesions=d["new_lesions"],
                reason=d["reason"] or None,
                expected_version=d["version"],
                acting_user=request.user,
            )
        except services.ConflictError as exc:
            form.add_error(None, str(exc))
        except ValidationError as exc:
            _form_errors(
                form, exc, prefix_map={f"measurements.{t.code}": f"mm_{t.code}" for t in targets}
            )
        else:
            messages.success(request, "Assessment recorded; the response is being computed.")
            return redirect("response:patient", pk=patient.pk)
    return _page(request, patient, status=400, assessment_form=form)


# --- Lists and trial pages ---------------------------------------------------------------------


@login_required
def query_list(request):
    show = request.GET.get("status", "active")
    if show == "all":
        queries = selectors.queries_for_user(request.user)
    elif show in QUERY_STATUS_LABELS:
        queries = selectors.queries_for_user(request.user, statuses=[show])
    else:
        show = "active"
        queries = selectors.queries_for_user(
            request.user, statuses=[s.value for s in ACTIVE_STATUSES]
        )
    return render(
        request,
        "response/queries.html",
        {"queries": queries[:200], "show": show, "status_labels": QUERY_STATUS_LABELS},
    )


def _trial_reader(request, code: str):
    trial = selectors.get_trial(request.user, code=code)
    if not selectors.can_read_trial_summary(request.user, trial):
        raise PermissionDenied("Trial response summaries are for investigators and statisticians.")
    return trial


@login_required
def trial_summary(request, code: str):
    trial = _trial_reader(request, code)
    summary = selectors.response_summary(trial)
    patients = selectors.patients_with_responses(request.user, trial=trial)
    return render(
        request,
        "response/trial.html",
        {
            "trial": trial,
            "summary": summary,
            "patients": patients,
            "has_simon": trial_selectors.trial_design(trial).simon is not None,
        },
    )


@login_required
def waterfall(request, code: str, fmt: str):
    if fmt not in FORMATS:
        raise Http404("No such format.")
    trial = _trial_reader(request, code)
    design = trial_selectors.trial_design(trial)
    figure = waterfall_figure(
        selectors.waterfall_bars(trial),
        criteria=design.response.criteria,
        title=f"{trial.code}: best response per patient ({design.response.criteria})",
    )
    response = HttpResponse(render_plot(figure, fmt), content_type=FORMATS[fmt])
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
def simon(request, code: str):
    trial = _trial_reader(request, code)
    parameters = trial_selectors.trial_design(trial).simon
    if parameters is None:
        raise Http404(f"{trial.code} has no Simon design.")
    designs = selectors.simon_designs(
        parameters.p0, parameters.p1, parameters.alpha, parameters.beta
    )
    monitor = selectors.simon_monitor(trial)
    if monitor is None:
        monitor = services.simon_monitor_update(trial_id=trial.pk)
    return render(
        request,
        "response/simon.html",
        {
            "trial": trial,
            "parameters": parameters,
            "designs": designs,
            "monitor": monitor,
            "notifications": selectors.simon_notifications(trial),
            "stored_matches_optimal": (
                (parameters.r1, parameters.n1, parameters.r, parameters.n)
                == (designs.optimal.r1, designs.optimal.n1, designs.optimal.r, designs.optimal.n)
            ),
        },
    )
