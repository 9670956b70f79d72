"""The HTML pages of the trials app. Reads go through selectors, writes through services; a
service's field messages are put back on the form, so a refused save loses nothing typed."""

from __future__ import annotations

from html import escape

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, prefetch_related_objects
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import localize
from django.utils.safestring import mark_safe

from dosing.selectors import dose_levels, enrolment_slot_status, level_dose
from trials import selectors, services, timeline
from trials.audit import history_for
from trials.domain import dosing as dosing_rules
from trials.domain.labs import ANALYTES
from trials.domain.schedule import VisitKind, VisitState
from trials.domain.transitions import (
    DATA_ENTRY_STATUSES,
    PATIENT_STATUS_LABELS,
    PatientStatus,
    patient_targets,
    trial_targets,
)
from trials.forms import (
    ConsentForm,
    DesignAmendForm,
    EligibilityForm,
    EnrolForm,
    LastContactForm,
    MissedVisitForm,
    PatientEditForm,
    PatientTransitionForm,
    ScreenForm,
    TrialTransitionForm,
    UnscheduledVisitForm,
    VisitForm,
    apply_service_errors,
)
from trials.models import (
    IDENTIFIER_FIELDS,
    DoseAdministration,
    Membership,
    ProtocolVersion,
    Role,
    Visit,
)
from trials.selectors import get_patient_for_user, trials_for_user

PATIENT_EDIT_ROLES = (Role.COORDINATOR, Role.TRIAL_ADMIN)
PAGE_SIZE = 50
WIZARD_STEPS = ("Screening", "Eligibility", "Consent", "Enrolment")


@login_required
def home(request):
    memberships = (
        Membership.objects.filter(user=request.user, active=True)
        .select_related("trial")
        .prefetch_related("sites")
        .order_by("trial__code", "role")
    )
    trials = trials_for_user(request.user).annotate(n_patients=Count("patients"))
    context = {"memberships": memberships, "trials": trials, **_first_things(request.user)}
    return render(request, "trials/home.html", context)


HOME_LIST_LIMIT = 10


def _first_things(user) -> dict:
    """What each role needs first: due visits, items awaiting a signature, recent exports."""
    from dosing.selectors import awaiting_signature
    from safety.models import PotentialDltStatus
    from safety.selectors import potential_dlts_for_user
    from survival.selectors import analysis_trials_for_user, export_jobs

    roles = selectors.user_roles(user)
    things: dict = {"home_roles": roles}
    if Role.COORDINATOR in roles:
        things["due_visits"] = list(
            selectors.patient_worklist(
                user, today=timezone.localdate(), statuses=DATA_ENTRY_STATUSES
            ).filter(next_visit_code__isnull=False)[:HOME_LIST_LIMIT]
        )
    if Role.INVESTIGATOR in roles:
        investigator_trials = trials_for_user(user).filter(
            memberships__user=user, memberships__role=Role.INVESTIGATOR, memberships__active=True
        )
        things["decisions_to_sign"] = [
            decision
            for trial in investigator_trials
            for decision in awaiting_signature(trial).select_related("trial")[:HOME_LIST_LIMIT]
        ]
        things["dlts_to_adjudicate"] = list(
            potential_dlts_for_user(user, status=PotentialDltStatus.PENDING)[:HOME_LIST_LIMIT]
        )
    if Role.STATISTICIAN in roles or Role.TRIAL_ADMIN in roles:
        things["recent_exports"] = [
            job
            for trial in analysis_trials_for_user(user)
            for job in export_jobs(trial).select_related("trial")[:5]
        ]
    return things


@login_required
def trial_list(request):
    trials = trials_for_user(request.user).annotate(n_sites=Count("trial_sites"))
    return render(request, "trials/trial_list.html", {"trials": trials})


@login_required
def trial_detail(request, code: str):
    trial = selectors.get_trial_for_user(request.user, code=code)
    is_admin = selectors.is_trial_admin(request.user, trial)
    transition_form = None
    if is_admin:
        targets = trial_targets(trial.status, trial.phase)
        if request.method == "POST":
            transition_form = TrialTransitionForm(request.POST, targets=targets)
            if transition_form.is_valid():
                try:
                    services.trial_transition(
                        trial=trial, acting_user=request.user, **transition_form.cleaned_data
                    )
                except ValidationError as exc:
                    apply_service_errors(transition_form, exc)
                else:
                    trial.refresh_from_db()
                    messages.success(request, f"{trial.code} is now {trial.get_status_display()}.")
                    return redirect("trial_detail", code=trial.code)
        elif targets:
            transition_form = TrialTransitionForm(targets=targets)
    elif request.method == "POST":
        raise PermissionDenied("Only the trial's admins change its status.")
    context = {
        "trial": trial,
        "trial_sites": trial.trial_sites.select_related("site").order_by("number"),
        "design": selectors.trial_design(trial),
        "agents": selectors.trial_agents(trial),
        "dose_levels": dose_levels(trial),
        "criteria": selectors.eligibility_criteria(trial),
        "versions": selectors.protocol_versions(trial),
        "is_admin": is_admin,
        "transition_form": transition_form,
        "can_screen": selectors.writable_sites(request.user, trial=trial).exists(),
    }
    return render(request, "trials/trial_detail.html", context)


@login_required
def trial_design_amend(request, code: str):
    trial = selectors.get_trial_for_user(request.user, code=code)
    if not selectors.is_trial_admin(request.user, trial):
        raise PermissionDenied("Only the trial's admins amend its design.")
    design = selectors.trial_design(trial)
    if request.method == "POST":
        form = DesignAmendForm(request.POST)
        if form.is_valid():
            try:
                version = services.trial_design_amend(
                    trial=trial,
                    changes=form.changes(),
                    reason=form.cleaned_data["reason"],
                    effective_date=form.cleaned_data["effective_date"],
                    label=form.cleaned_data["label"],
                    acting_user=request.user,
                )
            except ValidationError as exc:
                apply_service_errors(
                    form,
                    exc,
                    {k: DesignAmendForm.field_for(k) for k in getattr(exc, "message_dict", {})},
                )
            else:
                messages.success(request, f"Protocol version {version.number} recorded.")
                return redirect("trial_detail", code=trial.code)
    else:
        form = DesignAmendForm(
            initial={**DesignAmendForm.initial_for(design), "effective_date": timezone.localdate()}
        )
    return render(request, "trials/design_amend.html", {"trial": trial, "form": form})


# --- My patients ---------------------------------------------------------------------------


@login_required
def patient_list(request):
    """ "My patients": overdue visits first, then by the next visit due; one query per page."""
    today = timezone.localdate()
    trials = list(trials_for_user(request.user))
    trial = site = None
    if request.GET.get("trial"):
        # The filter's trial is one of the user's trials: no second query for it.
        trial = next((t for t in trials if t.code == request.GET["trial"]), None)
        if trial is None:
            raise Http404("No such trial among yours.")
    if request.GET.get("site"):
        site = get_object_or_404(selectors.sites_for_user(request.user), code=request.GET["site"])
    status = request.GET.get("status") or ""
    worklist = selectors.patient_worklist_pages(
        request.user,
        today=today,
        trial=trial,
        site=site,
        statuses=[status] if status in PatientStatus.__members__.values() else None,
    )
    page = Paginator(worklist, PAGE_SIZE).get_page(request.GET.get("page"))
    patients = list(page.object_list)
    screen_trials = (
        [t for t in trials if selectors.writable_sites(request.user, trial=t).exists()]
        if len(trials) <= 5
        else []
    )
    return render(
        request,
        "trials/patient_list.html",
        {
            "patients": patients,
            "patient_rows": _worklist_rows(patients, today=today),
            "page": page,
            "trial": trial,
            "site": site,
            "status": status,
            "today": today,
            "trials": trials,
            "sites": selectors.sites_for_user(request.user, trial=trial),
            "statuses": PATIENT_STATUS_LABELS.items(),
            "screen_trials": screen_trials,
        },
    )


#: One row of the worklist table (see ``_worklist_rows``).
WORKLIST_ROW = """
    <tr{overdue_class}>
      <td><a href="{url}">{label}</a></td>
      <td>{trial}</td>
      <td>{site}</td>
      <td>{status}</td>
      <td>{dose_level}</td>
      <td>{overdue}</td>
      <td>{next_visit}</td>
      <td>{name}</td>
    </tr>
  """


def _worklist_rows(patients, *, today) -> list[str]:
    """The rows of the worklist table, formatted in one pass (as ``_timeline_rows``): the HTML
    the template's per-cell tags made, every value escaped as ``{{ }}`` does.
    """
    rows = []
    for p in patients:
        overdue = p.overdue_count
        if p.next_visit_code:
            next_visit = f"{escape(str(p.next_visit_code))} · {_ymd(p.next_visit_date)}"
            if p.next_visit_date is not None and p.next_visit_date <= today:
                next_visit += ' <span class="badge badge-due">Due</span>'
        else:
            next_visit = '<span class="muted">none planned</span>'
        dose_label = p.dose_level.display_label if p.dose_level is not None else ""
        rows.append(
            mark_safe(  # noqa: S308 - every value above is escaped
                WORKLIST_ROW.format(
                    overdue_class=' class="row-overdue"' if overdue else "",
                    url=reverse("patient_detail", args=[p.pk]),
                    label=escape(str(p.label)),
                    trial=escape(str(p.trial.code)),
                    site=escape(str(p.site.code)),
                    status=escape(str(p.get_status_display())),
                    dose_level=escape(str(dose_label)) if dose_label else "—",
                    overdue=(
                        f'<span class="badge badge-overdue">{escape(localize(overdue))} overdue'
                        "</span>"
                        if overdue
                        else '<span class="muted">—</span>'
                    ),
                    next_visit=next_visit,
                    name=(
                        f"{escape(str(p.given_name))} {escape(str(p.family_name))}"
                        if p.can_see_identifiers
                        else '<span class="muted">hidden</span>'
                    ),
                )
            )
        )
    return rows


# --- The patient page ---------------------------------------------------------------------


@login_required
def patient_detail(request, pk: int):
    patient = get_patient_for_user(request.user, pk=pk)
    today = timezone.localdate()
    can_edit = selectors.can_write_clinical(request.user, patient)
    design = selectors.trial_design(patient.trial)
    agents = selectors.trial_agents(patient.trial)
    visits = selectors.patient_page_visits(patient)
    consents = list(selectors.consents(patient))
    rows, eligibility = selectors.patient_eligibility(patient)
    missing = selectors.patient_missing_items(
        patient,
        visits=visits,
        design=design,
        agents=agents,
        has_consent=bool(consents),
        eligibility_complete=eligibility.complete,
        today=today,
    )
    first_dose = next(
        (
            v.visit_date
            for v in sorted((v for v in visits if v.visit_date), key=lambda v: (v.visit_date, v.pk))
            if any(d.status in dosing_rules.RECEIVED for d in v.doses.all())
        ),
        None,
    )
    context = {
        "patient": patient,
        "can_edit": can_edit,
        "design": design,
        "timeline": _timeline_rows(
            selectors.visit_timeline(visits, today=today), can_edit=can_edit
        ),
        "extra_timeline": timeline.collect(patient, today=today),
        "missing": missing,
        "consents": consents,
        "eligibility": eligibility,
        "eligibility_rows": rows,
        "status_changes": list(selectors.status_history(patient, with_authors=False)),
        "last_contact": selectors.last_contact(patient),
        "first_dose": first_dose,
        "targets": patient_targets(patient.status),
        "wizard_step": _wizard_step(patient, consents, eligibility),
        "today": today,
    }
    return render(request, "trials/patient_detail.html", context)


#: One row of the patient page's timeline table (see ``_timeline_rows``).
TIMELINE_ROW = """
    <tr class="timing-{timing}">
      <td>{label}{response}</td>
      <td>{planned}</td>
      <td>{done}{missed}</td>
      <td>
<span class="badge badge-{timing}">{timing_label}</span>
</td>
      <td>{doses}</td>
      <td>{labs}</td>
      <td><a href="{url}">{action}<span class="sr-only"> {label}</span></a></td>
    </tr>
  """


def _timeline_rows(timeline_visits, *, can_edit: bool) -> list[str]:
    """The rows of the timeline table, formatted here in one pass rather than by per-cell
    template tags, filters and includes (a patient with 30 visits and 200 labs has thousands
    of cells; this is most of the page). The HTML is what the template's own tags made: every
    value is escaped (``escape`` is what ``{{ }}`` applies) and numbers are localised.
    """
    rows = []
    action = "View"
    for row in timeline_visits:
        v = row.visit
        timing = escape(row.timing)
        if can_edit:
            action = "Record" if v.status == VisitState.PLANNED else "Open"
        planned = _ymd(v.planned_date) or "—"
        if v.planned_date and v.window_start != v.window_end:
            planned += f" <small>({_md(v.window_start)} – {_md(v.window_end)})</small>"
        doses = []
        for d in v.doses.all():
            text = escape(d.agent.code)
            if d.dose_mg is not None:
                text += f" {escape(localize(d.dose_mg.normalize()))} mg"
            if d.status != "given":
                text += (
                    f" ({escape(d.status)}: {escape(d.reason)})"
                    if d.reason
                    else (f" ({escape(d.status)})")
                )
            doses.append(f'<span class="dose dose-{escape(d.status)}">{text}</span>')
        labs = ", ".join(
            f'<span class="lab">{escape(r.analyte)} {escape(r.display_value)}</span>'
            for r in v.lab_values
        )
        label = escape(v.label)
        rows.append(
            mark_safe(  # noqa: S308 - every value above is escaped
                TIMELINE_ROW.format(
                    timing=timing,
                    timing_label=timing[:1].upper() + timing[1:],
                    label=label,
                    response=' <span class="badge">Response</span>'
                    if v.response_assessment
                    else "",
                    planned=planned,
                    done=_ymd(v.visit_date),
                    missed=f"<small>{escape(v.missed_reason)}</small>" if v.missed_reason else "",
                    doses=", ".join(doses),
                    labs=labs,
                    url=reverse("visit_record", args=[v.pk]),
                    action=action,
                )
            )
        )
    return rows


def _ymd(day) -> str:
    """``{{ day|date:"Y-m-d" }}``."""
    return day.strftime("%Y-%m-%d") if day else ""


def _md(day) -> str:
    """``{{ day|date:"m-d" }}``."""
    return day.strftime("%m-%d") if day else ""


def _wizard_step(patient, consents, eligibility) -> str | None:
    """The next enrolment step still to do, for a patient in screening."""
    if patient.status != PatientStatus.SCREENING:
        return None
    if not eligibility.complete:
        return "eligibility"
    if not consents:
        return "consent"
    return "enrol"


def _writable_patient(request, pk: int):
    patient = get_patient_for_user(request.user, pk=pk)
    if not selectors.can_write_clinical(request.user, patient):
        raise PermissionDenied("Only the site's coordinators and trial admins record this.")
    return patient


@login_required
def patient_edit(request, pk: int):
    patient = _writable_patient(request, pk)
    if request.method == "POST":
        form = _patient_edit_form(patient, request.POST, instance=patient)
        if form.is_valid():
            data = {
                f: form.cleaned_data[f]
                for f in services.PATIENT_EDITABLE_FIELDS
                if f in form.fields
            }
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
        form = _patient_edit_form(patient, instance=patient, initial={"version": patient.version})
    return render(request, "trials/patient_edit.html", {"patient": patient, "form": form})


def _patient_edit_form(patient, *args, **kwargs) -> PatientEditForm:
    """The edit form; a writer who may not see direct identifiers (a trial admin) gets it
    without them, so the page neither shows nor changes them."""
    form = PatientEditForm(*args, **kwargs)
    if not patient.can_see_identifiers:
        for name in ("given_name", "family_name", "date_of_birth"):
            del form.fields[name]
    return form


# --- Enrolment wizard ---------------------------------------------------------------------


def _wizard(step: str) -> dict:
    return {"wizard_steps": WIZARD_STEPS, "wizard_current": step}


@login_required
def patient_screen(request, code: str):
    trial = selectors.get_trial_for_user(request.user, code=code)
    sites = selectors.writable_sites(request.user, trial=trial)
    if not sites.exists():
        raise PermissionDenied(f"You do not screen patients in {trial.code}.")
    form = ScreenForm(request.POST or None, sites=sites)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            patient = services.patient_screen(trial=trial, acting_user=request.user, **data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"{patient.label} registered in screening.")
            return redirect("patient_eligibility", pk=patient.pk)
    return render(
        request, "trials/wizard_screen.html", {"trial": trial, "form": form, **_wizard("Screening")}
    )


@login_required
def patient_eligibility(request, pk: int):
    patient = _writable_patient(request, pk)
    rows, result = selectors.patient_eligibility(patient)
    form = EligibilityForm(request.POST or None, rows=rows)
    if request.method == "POST" and form.is_valid():
        try:
            result = services.eligibility_record(
                patient=patient,
                answers=form.answers(),
                notes=form.notes(),
                reason=form.cleaned_data["reason"],
                acting_user=request.user,
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            if result.failing and result.complete:
                messages.warning(
                    request,
                    f"{patient.label} is a screen failure: " + ", ".join(result.failing) + ".",
                )
                return redirect("patient_detail", pk=patient.pk)
            if not result.complete:
                messages.info(request, "Answers saved; some criteria are still unanswered.")
                return redirect("patient_eligibility", pk=patient.pk)
            messages.success(request, f"{patient.label} meets every criterion.")
            return redirect("patient_consent", pk=patient.pk)
    return render(
        request,
        "trials/wizard_eligibility.html",
        {"patient": patient, "form": form, "result": result, **_wizard("Eligibility")},
    )


@login_required
def patient_consent(request, pk: int):
    patient = _writable_patient(request, pk)
    form = ConsentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.consent_record(patient=patient, acting_user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, "Consent recorded.")
            if patient.status == PatientStatus.SCREENING:
                return redirect("patient_enrol", pk=patient.pk)
            return redirect("patient_detail", pk=patient.pk)
    return render(
        request,
        "trials/wizard_consent.html",
        {
            "patient": patient,
            "form": form,
            "consents": selectors.consents(patient),
            **_wizard("Consent"),
        },
    )


@login_required
def patient_enrol(request, pk: int):
    patient = _writable_patient(request, pk)
    levels = list(dose_levels(patient.trial))
    initial = {
        "enrolment_date": timezone.localdate(),
        "height_cm": patient.height_cm,
        "weight_kg": patient.weight_kg,
    }
    form = EnrolForm(
        request.POST or None,
        levels=levels,
        initial=initial,
        slot_status=enrolment_slot_status(patient.trial),
    )
    if request.method == "POST" and form.is_valid():
        try:
            enrolled = services.patient_enrol(
                patient=patient, acting_user=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            apply_service_errors(form, exc, {"eligibility": None, "consent": None})
        else:
            messages.success(
                request,
                f"Enrolled as {enrolled.study_id} at {enrolled.dose_level.display_label}.",
            )
            return redirect("patient_detail", pk=patient.pk)
    return render(
        request,
        "trials/wizard_enrol.html",
        {"patient": patient, "form": form, **_wizard("Enrolment")},
    )


# --- Status, contact, unscheduled visits ----------------------------------------------------


@login_required
def patient_status(request, pk: int):
    patient = _writable_patient(request, pk)
    targets = patient_targets(patient.status)
    form = PatientTransitionForm(
        request.POST or None, targets=targets, initial={"effective_date": timezone.localdate()}
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.patient_transition(
                patient=patient, acting_user=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            patient.refresh_from_db()
            messages.success(request, f"{patient.label} is now {patient.get_status_display()}.")
            return redirect("patient_detail", pk=patient.pk)
    return render(
        request,
        "trials/patient_status.html",
        {"patient": patient, "form": form, "targets": targets},
    )


@login_required
def last_contact(request, pk: int):
    patient = _writable_patient(request, pk)
    form = LastContactForm(
        request.POST or None,
        initial={"contact_date": timezone.localdate(), "vital_status": "alive"},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.last_contact_record(
                patient=patient, acting_user=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, "Last contact recorded.")
            return redirect("patient_detail", pk=patient.pk)
    return render(
        request,
        "trials/last_contact.html",
        {"patient": patient, "form": form, "contacts": patient.contacts.all()},
    )


@login_required
def visit_add(request, pk: int):
    patient = _writable_patient(request, pk)
    form = UnscheduledVisitForm(request.POST or None, initial={"visit_date": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        try:
            visit = services.visit_add_unscheduled(
                patient=patient, acting_user=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            return redirect("visit_record", pk=visit.pk)
    return render(request, "trials/visit_add.html", {"patient": patient, "form": form})


# --- The visit form -------------------------------------------------------------------------


def _visit_agents(patient, visit, agents):
    if visit.kind not in (VisitKind.TREATMENT, VisitKind.UNSCHEDULED) or not patient.dose_level:
        return []
    recorded = {d.agent_id for d in visit.doses.all()}
    return [
        a
        for a in agents
        if a.pk in recorded or visit.kind == VisitKind.UNSCHEDULED or a.recorded_on(visit.day)
    ]


def _planned_doses(patient, agents) -> dict[str, str]:
    """What the level gives of each agent, for the hint beside the dose field."""
    level = patient.dose_level
    if level is None:
        return {}
    planned = {}
    for agent in agents:
        spec = level_dose(level, agent)
        if spec is not None:
            text = f"{spec.dose.normalize():f} {spec.get_unit_display()}"
            if spec.unit == dosing_rules.MG_PER_M2:
                text += " × BSA"
            planned[agent.code] = f"{level.display_label}: {text}"
    return planned


def _visit_analytes(design, visit) -> list[str]:
    schedule = design.visit_schedule
    codes = list(schedule.required_labs)
    if visit.response_assessment or visit.kind in (VisitKind.SCREENING, VisitKind.END_OF_TREATMENT):
        codes += [c for c in schedule.response_labs if c not in codes]
    recorded = [r.analyte for r in visit.lab_results.all() if r.analyte not in codes]
    others = [c for c in ANALYTES if c not in codes and c not in recorded]
    return codes + recorded + others


@login_required
def visit_record(request, pk: int):
    patient = selectors.get_visit_for_user(request.user, pk=pk).patient
    visit = Visit.objects.prefetch_related(
        Prefetch("doses", queryset=DoseAdministration.objects.select_related("agent")),
        "lab_results",
    ).get(pk=pk)
    visit.patient = patient
    if patient.dose_level is not None:
        prefetch_related_objects([patient.dose_level], "doses__agent")
    can_edit = selectors.can_write_clinical(request.user, patient)
    design = selectors.trial_design(patient.trial)
    agents = _visit_agents(patient, visit, selectors.trial_agents(patient.trial))
    analytes = _visit_analytes(design, visit)
    correcting = visit.status == VisitState.DONE
    form_kwargs = {
        "agents": agents,
        "allowed": _planned_doses(patient, agents),
        "analytes": analytes,
        "correcting": correcting,
    }
    missed_form = None
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied("Only the site's coordinators and trial admins record visits.")
        if "mark_missed" in request.POST:
            missed_form = MissedVisitForm(request.POST)
            form = VisitForm(initial=_visit_initial(visit), **form_kwargs)
            if missed_form.is_valid():
                try:
                    services.visit_mark_missed(
                        visit=visit,
                        reason=missed_form.cleaned_data["missed_reason"],
                        expected_version=missed_form.cleaned_data["version"],
                        acting_user=request.user,
                    )
                except services.ConflictError as exc:
                    missed_form.add_error(None, str(exc))
                except ValidationError as exc:
                    apply_service_errors(missed_form, exc, {"reason": "missed_reason"})
                else:
                    messages.success(request, f"{visit.label} recorded as missed.")
                    return redirect("patient_detail", pk=patient.pk)
        else:
            form = VisitForm(request.POST, **form_kwargs)
            if form.is_valid():
                try:
                    services.visit_complete(
                        visit=visit,
                        visit_date=form.cleaned_data["visit_date"],
                        weight_kg=form.cleaned_data["weight_kg"],
                        height_cm=form.cleaned_data["height_cm"],
                        notes=form.cleaned_data["notes"],
                        doses=form.dose_inputs(),
                        labs=form.lab_inputs(),
                        expected_version=form.cleaned_data["version"],
                        reason=form.cleaned_data.get("reason"),
                        acting_user=request.user,
                    )
                except services.ConflictError as exc:
                    form.add_error(None, str(exc))
                    form.conflict = True
                except ValidationError as exc:
                    apply_service_errors(
                        form,
                        exc,
                        {k: VisitForm.field_for(k) for k in getattr(exc, "message_dict", {})},
                    )
                else:
                    messages.success(request, f"{visit.label} saved.")
                    return redirect("patient_detail", pk=patient.pk)
    else:
        form = VisitForm(initial=_visit_initial(visit), **form_kwargs)
    if missed_form is None and visit.status == VisitState.PLANNED:
        missed_form = MissedVisitForm(initial={"version": visit.version})
    form.finalise()
    return render(
        request,
        "trials/visit_form.html",
        {
            "patient": patient,
            "visit": visit,
            "form": form,
            "missed_form": missed_form,
            "can_edit": can_edit,
            "error_summary": _error_summary(form),
        },
    )


def _visit_initial(visit) -> dict:
    initial = {
        "visit_date": visit.visit_date
        or (
            visit.planned_date
            if visit.planned_date and visit.planned_date <= timezone.localdate()
            else timezone.localdate()
        ),
        "weight_kg": visit.weight_kg,
        "height_cm": visit.height_cm,
        "notes": visit.notes,
        "version": visit.version,
    }
    for dose in visit.doses.all():
        code = dose.agent.code
        initial[f"dose_{code}_status"] = dose.status
        initial[f"dose_{code}_mg"] = dose.dose_mg
        initial[f"dose_{code}_reason"] = dose.reason
    for lab in visit.lab_results.all():
        initial[f"lab_{lab.analyte}_value"] = lab.category or lab.value_as_entered
        initial[f"lab_{lab.analyte}_unit"] = lab.unit_as_entered
    return initial


def _error_summary(form) -> list[tuple[str, str, str]]:
    """(field id, label, message) for the summary at the top, non-field messages first."""
    summary = [("", "", e) for e in form.non_field_errors()]
    for name, errors in form.errors.items():
        if name == "__all__" or name not in form.fields:
            continue
        field = form[name]
        for error in errors:
            summary.append((field.id_for_label, field.label, error))
    return summary


# --- History --------------------------------------------------------------------------------


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
    if kind == "visit":
        return selectors.get_visit_for_user(user, pk=pk)
    if kind == "lab":
        return selectors.get_lab_for_user(user, pk=pk)
    if kind == "protocol":
        version = ProtocolVersion.objects.filter(pk=pk, trial__in=trials_for_user(user)).first()
        if version is None:
            raise Http404
        return version
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


HISTORY_KINDS = ("patient", "trial", "site", "membership", "visit", "lab", "protocol")


@login_required
def history(request, kind: str, pk: int):
    obj = history_object(request.user, kind, pk)
    entries = history_for(obj, hide_fields=hidden_history_fields(kind, obj))
    back = None
    if kind == "visit":
        back = reverse("visit_record", args=[obj.pk])
    return render(
        request,
        "trials/history.html",
        {"object": obj, "kind": kind, "entries": entries, "back": back},
    )


def hidden_history_fields(kind: str, obj) -> frozenset[str]:
    """Direct identifiers stay hidden in the history of users who may not see them."""
    if kind == "patient" and not getattr(obj, "can_see_identifiers", False):
        return IDENTIFIER_FIELDS
    return frozenset()
