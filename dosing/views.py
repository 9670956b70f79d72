"""The dose-escalation pages: the investigators' grid and decisions (sign or override), the
printable decision table, the dose-path view, and the operating characteristics.

Reads go through ``dosing.selectors`` scoped by ``trials.selectors``: a trial the user is not a
member of is a 404; a member whose role does not see the escalation (a site coordinator) gets a
403, and so does anyone but an investigator trying to sign. Signing re-checks the password (and
the authenticator code) with ``config.otp.verify_signature`` before the service runs.
"""

from __future__ import annotations

from dataclasses import replace

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from config.otp import otp_verified_for_signing, user_has_confirmed_device, verify_signature
from dosing import forms as f
from dosing import plots, selectors, services
from dosing.domain.decision_table import decision_table, dose_paths, flatten_paths, what_if
from dosing.domain.escalation import (
    RULE_VERSION,
    EscalationInputError,
    EscalationSettings,
    EscalationState,
    input_hash,
)
from dosing.domain.operating_characteristics import exact_operating_characteristics
from dosing.domain.three_plus_three import RULES, recommend
from dosing.models import DecisionKind, DecisionStatus, EscalationDecision, OcSimulationJob
from dosing.selectors import EscalationNotConfigured
from dosing.services import DecisionConflict
from trials import selectors as trial_selectors
from trials.audit import history_for
from trials.forms import apply_service_errors
from trials.models import Role, Trial

READ_DENIED = (
    "Only the trial's investigators, statisticians, monitors and admins see the escalation."
)
SIGN_DENIED = "Only an investigator of the trial signs escalation decisions."
#: Roles that may start a simulation or re-run the evaluation (monitors only read).
RUN_ROLES = (Role.INVESTIGATOR, Role.STATISTICIAN, Role.TRIAL_ADMIN)
DEFAULT_RATES = (0.05, 0.10, 0.20, 0.30, 0.50, 0.60, 0.70, 0.80)
PAGE_SIZE = 50


def _reader_trial(request, code: str) -> Trial:
    trial = trial_selectors.get_trial_for_user(request.user, code=code)
    if not selectors.can_read_escalation(request.user, trial):
        raise PermissionDenied(READ_DENIED)
    return trial


def _design_settings(trial: Trial) -> EscalationSettings:
    try:
        return selectors.escalation_settings(trial, levels=list(selectors.dose_levels(trial)))
    except EscalationNotConfigured as exc:
        raise Http404(str(exc)) from None


def _method(user) -> str:
    return "password+otp" if user_has_confirmed_device(user) else "password"


def _level_numbers(decision: EscalationDecision) -> list[int]:
    if decision.kind == DecisionKind.RP2D:
        return list(decision.input_snapshot.get("levels", []))
    return list(EscalationSettings(**decision.input_snapshot["settings"]).levels)


def _forms_for(decision: EscalationDecision, *, sign_form=None, override_form=None) -> dict:
    rp2d = decision.kind == DecisionKind.RP2D
    return {
        "decision": decision,
        "sign_form": sign_form or f.SignForm(rp2d=rp2d, decision_pk=decision.pk),
        "override_form": override_form
        or f.OverrideForm(levels=_level_numbers(decision), rp2d=rp2d, decision_pk=decision.pk),
    }


@login_required
def index(request):
    trials = [
        t
        for t in trial_selectors.trials_for_user(request.user)
        if selectors.can_read_escalation(request.user, t)
        and selectors.escalation_design(t) is not None
    ]
    return render(request, "dosing/index.html", {"trials": trials})


@login_required
def escalation(request, code: str):
    """The dose-level grid (levels × patients), the current recommendation with the rule row
    that produced it, and the decisions awaiting a signature."""
    trial = _reader_trial(request, code)
    design = selectors.escalation_design(trial)
    if design is None:
        raise Http404(f"{trial.code} has no dose escalation.")
    esc = selectors.escalation_of(trial)
    context: dict = {"trial": trial, "esc": esc, "config_error": None}
    try:
        data = selectors.escalation_input(trial, design=design)
        live = recommend(data.settings, data.state)
    except (EscalationNotConfigured, EscalationInputError) as exc:
        context["config_error"] = str(exc)
        return render(request, "dosing/escalation.html", context)
    current = esc.current_decision if esc else None
    # Only the grid's (phase I) patients: not every patient id of a large phase II trial.
    visible = (
        trial_selectors.patients_for_user(request.user, trial=trial)
        .filter(pk__in=[p.patient_id for p in data.patients])
        .values_list("pk", flat=True)
    )
    can_sign = selectors.can_sign_decisions(request.user, trial)
    awaiting = list(selectors.awaiting_signature(trial))
    context.update(
        settings=data.settings,
        grid=selectors.escalation_grid(
            data,
            visible_patient_ids=list(visible),
            escalation=esc,
            level_counts=[c.to_dict() for c in live.level_counts],
        ),
        phase_ii_count=data.phase_ii_count,
        window_days=data.window_days,
        live=live,
        current=current,
        stale=current is None or current.input_hash != input_hash(data.settings, data.state),
        awaiting=[_forms_for(d) for d in awaiting] if can_sign else [],
        awaiting_count=len(awaiting),
        recent=list(selectors.decisions_for_trial(trial)[:8]),
        can_sign=can_sign,
        can_run=trial_selectors.user_has_role(request.user, trial=trial, roles=RUN_ROLES),
        slot_status=selectors.enrolment_slot_status(trial, data=data, escalation=esc),
    )
    return render(request, "dosing/escalation.html", context)


@login_required
@require_POST
def evaluate_now(request, code: str):
    trial = _reader_trial(request, code)
    if not trial_selectors.user_has_role(request.user, trial=trial, roles=RUN_ROLES):
        raise PermissionDenied("Monitors read the escalation; they do not re-run it.")
    decision = services.escalation_evaluate(trial_id=trial.pk, acting_user=request.user)
    if decision is None:
        messages.warning(request, "The escalation could not be evaluated (see the page).")
    else:
        messages.success(request, f"Evaluated: the current decision is #{decision.number}.")
    return redirect("dosing_escalation", code=trial.code)


@login_required
def decision_list(request, code: str):
    trial = _reader_trial(request, code)
    page = Paginator(selectors.decisions_for_trial(trial), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "dosing/decisions.html", {"trial": trial, "page": page})


def _snapshot_rows(decision: EscalationDecision) -> list[dict]:
    if decision.kind != DecisionKind.ESCALATION:
        return []
    return [
        {
            "level": level["level"],
            "patients": level["patients"],
            "counts": next(
                (
                    c
                    for c in decision.output.get("level_counts", [])
                    if c["level"] == level["level"]
                ),
                {},
            ),
        }
        for level in sorted(decision.input_snapshot["state"]["levels"], key=lambda lv: -lv["level"])
    ]


def _decision_context(request, trial: Trial, decision: EscalationDecision, **forms) -> dict:
    can_sign = selectors.can_sign_decisions(request.user, trial)
    context = {
        "trial": trial,
        "decision": decision,
        "signatures": list(decision.signatures.all()),
        "snapshot_rows": _snapshot_rows(decision),
        "can_sign": can_sign,
        "signable": can_sign
        and decision.status in (DecisionStatus.AWAITING_SIGNATURE, DecisionStatus.SIGNED),
    }
    if context["signable"]:
        context.update(_forms_for(decision, **forms))
    context["audit"] = sorted(
        [*history_for(decision), *(e for s in context["signatures"] for e in history_for(s))],
        key=lambda e: e.at,
    )
    return context


def _decision(trial: Trial, pk: int) -> EscalationDecision:
    return get_object_or_404(selectors.decisions_for_trial(trial), pk=pk)


@login_required
def decision_detail(request, code: str, pk: int):
    trial = _reader_trial(request, code)
    decision = _decision(trial, pk)
    return render(
        request, "dosing/decision_detail.html", _decision_context(request, trial, decision)
    )


def _signed(request, trial: Trial, decision: EscalationDecision, form, *, override: bool):
    """Run the e-signature check and the service; None when it worked, else the response."""
    d = form.cleaned_data
    verb = "override" if override else "approve"
    try:
        # Before the service's transaction: failed attempts must stay counted.
        verify_signature(
            request,
            password=d["password"],
            otp_token=d.get("otp_token"),
            action=f"escalation_decision:{decision.pk} {verb}",
        )
        if override:
            services.escalation_decision_override(
                decision=decision,
                signer=request.user,
                meaning=d["meaning"],
                reason=d["reason"],
                action=d["action"],
                level=d.get("level"),
                acting_user=request.user,
                signature_method=_method(request.user),
            )
        else:
            services.escalation_decision_sign(
                decision=decision,
                signer=request.user,
                meaning=d["meaning"],
                acting_user=request.user,
                signature_method=_method(request.user),
            )
    except DecisionConflict as exc:
        form.add_error(None, str(exc))
        return 409
    except ValidationError as exc:
        apply_service_errors(form, exc, mapping={"level": "level", "action": "action"})
        return 400
    return None


@login_required
@require_POST
@otp_verified_for_signing
def decision_sign(request, code: str, pk: int):
    trial = _reader_trial(request, code)
    decision = _decision(trial, pk)
    if not selectors.can_sign_decisions(request.user, trial):
        raise PermissionDenied(SIGN_DENIED)
    form = f.SignForm(
        request.POST, rp2d=decision.kind == DecisionKind.RP2D, decision_pk=decision.pk
    )
    status = 400
    if form.is_valid():
        status = _signed(request, trial, decision, form, override=False)
        if status is None:
            messages.success(request, f"Decision #{decision.number} signed.")
            return redirect("dosing_escalation", code=trial.code)
    decision = _decision(trial, pk)
    return render(
        request,
        "dosing/decision_detail.html",
        _decision_context(request, trial, decision, sign_form=form),
        status=status,
    )


@login_required
@require_POST
@otp_verified_for_signing
def decision_override(request, code: str, pk: int):
    trial = _reader_trial(request, code)
    decision = _decision(trial, pk)
    if not selectors.can_sign_decisions(request.user, trial):
        raise PermissionDenied(SIGN_DENIED)
    form = f.OverrideForm(
        request.POST,
        levels=_level_numbers(decision),
        rp2d=decision.kind == DecisionKind.RP2D,
        decision_pk=decision.pk,
    )
    status = 400
    if form.is_valid():
        status = _signed(request, trial, decision, form, override=True)
        if status is None:
            messages.success(request, f"Decision #{decision.number} overridden and signed.")
            return redirect("dosing_escalation", code=trial.code)
    decision = _decision(trial, pk)
    return render(
        request,
        "dosing/decision_detail.html",
        _decision_context(request, trial, decision, override_form=form),
        status=status,
    )


@login_required
def decision_table_page(request, code: str):
    """The complete decision table for the trial's settings, for the protocol (printable)."""
    trial = _reader_trial(request, code)
    settings = _design_settings(trial)
    return render(
        request,
        "dosing/decision_table.html",
        {
            "trial": trial,
            "settings": settings,
            "rows": decision_table(settings),
            "rules": list(RULES.values()) if settings.rule_set == "3+3" else [],
            "rule_version": RULE_VERSION,
            "protocol": trial_selectors.current_protocol_version(trial),
            "levels": list(selectors.dose_levels(trial)),
        },
    )


@login_required
def dose_paths_page(request, code: str):
    """ "If the next cohort has 0, 1, 2 or 3 DLTs, then …", from the current data (or from the
    start of the trial), and the tree of the next cohorts."""
    trial = _reader_trial(request, code)
    settings = _design_settings(trial)
    from_start = request.GET.get("from") == "start"
    try:
        depth = min(3, max(1, int(request.GET.get("depth", "2"))))
    except ValueError:
        depth = 2
    try:
        state = (
            EscalationState(current_level=None)
            if from_start
            else selectors.escalation_input(trial).state
        )
        outcomes = what_if(settings, state)
        tree = flatten_paths(dose_paths(settings, state, depth=depth))
        current = recommend(settings, state)
    except (EscalationNotConfigured, EscalationInputError) as exc:
        raise Http404(str(exc)) from None
    return render(
        request,
        "dosing/dose_paths.html",
        {
            "trial": trial,
            "settings": settings,
            "outcomes": outcomes,
            "tree": [(path, node, path.count(" ") + 1 if path else 0) for path, node in tree],
            "current": current,
            "from_start": from_start,
            "depth": depth,
        },
    )


def _oc_settings(settings: EscalationSettings, data: dict) -> EscalationSettings:
    return replace(
        settings,
        allow_deescalate=bool(data.get("allow_deescalate")),
        require_six_at_mtd=bool(data.get("require_six_at_mtd")),
    )


def _exact(settings: EscalationSettings, form) -> tuple:
    """(settings, rates, exact OC) from a valid form, or field errors on the form."""
    data = form.cleaned_data
    oc_settings = _oc_settings(settings, data)
    try:
        rates = services.parse_rates(data["rates"], levels=len(settings.levels))
        return oc_settings, rates, exact_operating_characteristics(rates, oc_settings)
    except ValidationError as exc:
        apply_service_errors(form, exc)
    except EscalationInputError as exc:
        form.add_error(None, str(exc))
    return oc_settings, None, None


def _default_oc_data(settings: EscalationSettings) -> dict:
    return {
        "rates": ", ".join(f"{r:.2f}" for r in DEFAULT_RATES[: len(settings.levels)]),
        "allow_deescalate": settings.allow_deescalate,
        "require_six_at_mtd": settings.require_six_at_mtd,
    }


@login_required
def oc_page(request, code: str):
    """Exact operating characteristics for assumed true DLT rates, a plot, and simulations."""
    trial = _reader_trial(request, code)
    settings = _design_settings(trial)
    data = request.GET if "rates" in request.GET else _default_oc_data(settings)
    form = f.OcForm(data)
    oc = None
    query = ""
    if form.is_valid():
        _, _, oc = _exact(settings, form)
        query = request.GET.urlencode() if "rates" in request.GET else _query(data)
    can_run = trial_selectors.user_has_role(request.user, trial=trial, roles=RUN_ROLES)
    return render(
        request,
        "dosing/oc.html",
        {
            "trial": trial,
            "settings": settings,
            "form": form,
            "oc": oc,
            "rows": list(
                zip(oc.levels, oc.true_dlt_rates, oc.p_select, oc.expected_n_per_level, strict=True)
            )
            if oc
            else [],
            "query": query,
            "simulation_form": f.SimulationForm(initial=_default_oc_data(settings))
            if can_run
            else None,
            "jobs": list(selectors.simulation_jobs(trial)[:10]),
        },
    )


def _query(data: dict) -> str:
    from urllib.parse import urlencode

    return urlencode({k: ("on" if v is True else v) for k, v in data.items() if v is not False})


@login_required
def oc_plot(request, code: str, fmt: str):
    trial = _reader_trial(request, code)
    settings = _design_settings(trial)
    if fmt not in plots.FORMATS:
        raise Http404("PNG or SVG.")
    form = f.OcForm(request.GET)
    oc = None
    if form.is_valid():
        oc_settings, _, oc = _exact(settings, form)
    if oc is None:
        return HttpResponseBadRequest(
            "; ".join(str(e) for errs in form.errors.values() for e in errs),
            content_type="text/plain",
        )
    fig = plots.oc_figure(oc, title=f"{trial.code}: {oc_settings.variant} (exact)")
    return HttpResponse(plots.render(fig, fmt), content_type=plots.FORMATS[fmt])


@login_required
@require_POST
def simulation_start(request, code: str):
    trial = _reader_trial(request, code)
    if not trial_selectors.user_has_role(request.user, trial=trial, roles=RUN_ROLES):
        raise PermissionDenied("Monitors read the operating characteristics; they do not run them.")
    settings = _design_settings(trial)
    form = f.SimulationForm(request.POST)
    if form.is_valid():
        d = form.cleaned_data
        try:
            rates = services.parse_rates(d["rates"], levels=len(settings.levels))
            job = services.oc_simulation_start(
                trial=trial,
                settings=_oc_settings(settings, d),
                true_dlt_rates=rates,
                n_sims=d["n_sims"],
                seed=d.get("seed"),
                acting_user=request.user,
            )
        except ValidationError as exc:
            apply_service_errors(form, exc, mapping={"true_dlt_rates": "rates"})
        else:
            return redirect("dosing_simulation", code=trial.code, pk=job.pk)
    return render(
        request,
        "dosing/oc.html",
        {
            "trial": trial,
            "settings": settings,
            "form": f.OcForm(_default_oc_data(settings)),
            "oc": None,
            "rows": [],
            "query": "",
            "simulation_form": form,
            "jobs": list(selectors.simulation_jobs(trial)[:10]),
        },
        status=400,
    )


def _job(request, code: str, pk: int) -> tuple[Trial, OcSimulationJob]:
    trial = _reader_trial(request, code)
    return trial, get_object_or_404(selectors.simulation_jobs(trial), pk=pk)


def simulation_status_data(job: OcSimulationJob) -> dict:
    return {
        "id": job.pk,
        "status": job.status,
        "progress": job.progress,
        "finished": job.finished,
        "error": job.error,
        "result": job.result,
    }


@login_required
def simulation(request, code: str, pk: int):
    trial, job = _job(request, code, pk)
    result = job.result or {}
    rows = []
    if result:
        rows = list(
            zip(
                result["levels"],
                result["true_dlt_rates"],
                result["p_select"],
                result["se_p_select"],
                result["expected_n_per_level"],
                strict=True,
            )
        )
    return render(request, "dosing/simulation.html", {"trial": trial, "job": job, "rows": rows})


@login_required
def simulation_status(request, code: str, pk: int):
    _, job = _job(request, code, pk)
    return JsonResponse(simulation_status_data(job))
