"""The statistician's pages: Kaplan–Meier results and plots, the export with its progress bar,
and the downloads. Reads go through ``survival.selectors``, writes through
``survival.services``. The trial's investigators, statisticians and trial admins read the
results; only statisticians and trial admins export and download. Other members of the trial
get 403; anyone else 404."""

from __future__ import annotations

import datetime as dt
import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from survival import selectors, services
from survival.domain.analysis import SWIMMER_MAX_PATIENTS
from survival.domain.endpoints import PARAM_LABELS, PARAMCDS
from survival.domain.jobs import JobSource
from survival.domain.plots import FORMATS as PLOT_FORMATS
from survival.forms import AnalysisForm, ExportForm
from survival.models import ExportJob

logger = logging.getLogger(__name__)

PLOT_CONTENT_TYPES = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}
RECENT_EXPORTS = 20


def _data_cut(request) -> dt.date:
    """The page's data cut: the valid ``data_cut`` parameter, else today."""
    form = AnalysisForm(request.GET)
    if form.is_valid() and form.cleaned_data["data_cut"]:
        try:
            return services.check_data_cut(form.cleaned_data["data_cut"])
        except ValidationError:
            pass  # a future or implausible date: show today's analysis instead
    return timezone.localdate()


@login_required
def analysis_index(request):
    trials = selectors.results_trials_for_user(request.user)
    if len(trials) == 1:
        return redirect("survival_trial", code=trials[0].code)
    return render(request, "survival/index.html", {"trials": trials})


def _export_rows(trial):
    return selectors.export_jobs(trial)[:RECENT_EXPORTS]


@login_required
def trial_analysis(request, code: str):
    trial = selectors.results_trial_for_user(request.user, code=code)
    can_export = selectors.can_see_analysis(request.user, trial)
    data_cut = _data_cut(request)
    endpoint = request.GET.get("endpoint", "OS")
    if endpoint not in PARAMCDS:
        endpoint = "OS"
    summary = error = None
    try:
        analysis = services.survival_analysis(trial, data_cut=data_cut)
    except services.ExportError as exc:
        error = str(exc)
    else:
        summary = analysis.summary()
    return render(
        request,
        "survival/trial.html",
        {
            "trial": trial,
            "data_cut": data_cut,
            "export_form": ExportForm(),
            "summary": summary,
            "missing_sources": [
                x for x in (summary or {}).get("sources", []) if not x["available"]
            ],
            "error": error,
            "endpoint": endpoint,
            "endpoints": [(p, PARAM_LABELS[p]) for p in PARAMCDS],
            "plot_formats": PLOT_FORMATS,
            "swimmer_max": SWIMMER_MAX_PATIENTS,
            "can_export": can_export,
            "exports": _export_rows(trial) if can_export else (),
            "data_cuts": selectors.data_cuts(trial) if can_export else (),
        },
    )


@login_required
@require_GET
def km_plot(request, code: str, fmt: str):
    trial = selectors.results_trial_for_user(request.user, code=code)
    endpoint = request.GET.get("endpoint", "OS")
    if fmt not in PLOT_FORMATS or endpoint not in PARAMCDS:
        raise Http404
    by_dose_level = request.GET.get("by") == "dose_level"
    data_cut = _data_cut(request)
    try:
        analysis = services.survival_analysis(trial, data_cut=data_cut)
        image = analysis.km_plot(endpoint, by_dose_level=by_dose_level, fmt=fmt)
    except (services.ExportError, ValueError) as exc:
        return HttpResponse(str(exc), status=409, content_type="text/plain; charset=utf-8")
    by = "_by_dose_level" if by_dose_level else ""
    return _image(image, fmt, f"{trial.code}_{endpoint}_km{by}_{data_cut:%Y-%m-%d}", request)


@login_required
@require_GET
def swimmer_plot(request, code: str, fmt: str):
    trial = selectors.results_trial_for_user(request.user, code=code)
    if fmt not in PLOT_FORMATS:
        raise Http404
    data_cut = _data_cut(request)
    try:
        image = services.survival_analysis(trial, data_cut=data_cut).swimmer_plot(fmt=fmt)
    except (services.ExportError, ValueError) as exc:
        return HttpResponse(str(exc), status=409, content_type="text/plain; charset=utf-8")
    return _image(image, fmt, f"{trial.code}_swimmer_{data_cut:%Y-%m-%d}", request)


def _image(data: bytes, fmt: str, stem: str, request) -> HttpResponse:
    response = HttpResponse(data, content_type=PLOT_CONTENT_TYPES[fmt])
    disposition = "attachment" if request.GET.get("download") else "inline"
    response["Content-Disposition"] = f'{disposition}; filename="{stem}.{fmt}"'
    return response


@login_required
@require_POST
def export_start(request, code: str):
    trial = selectors.analysis_trial_for_user(request.user, code=code)
    form = ExportForm(request.POST)
    if form.is_valid():
        try:
            job = services.export_job_start(
                trial=trial,
                acting_user=request.user,
                fmt=form.cleaned_data["format"],
                data_cut=form.cleaned_data["data_cut"],
                cut_name=form.cleaned_data["cut_name"] or None,
                source=JobSource.WEB,
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for message in errors:
                    form.add_error(field if field in form.fields else None, message)
        else:
            messages.success(request, f"Export #{job.pk} started.")
            return redirect("survival_export", code=trial.code, pk=job.pk)
    return render(
        request,
        "survival/export_form.html",
        {"trial": trial, "export_form": form},
        status=400,
    )


def _status(job: ExportJob) -> dict[str, object]:
    code = job.trial.code
    done = job.status == "done"
    return {
        "id": job.pk,
        "status": job.status,
        "progress": job.progress,
        "step": job.step,
        "error": job.error,
        "finished": job.finished,
        "download_url": (
            reverse("survival_export_download", kwargs={"code": code, "pk": job.pk})
            if done
            else None
        ),
        "zip_sha256": job.zip_sha256 or None,
    }


@login_required
def export_detail(request, code: str, pk: int):
    trial = selectors.analysis_trial_for_user(request.user, code=code)
    job = selectors.get_export_job(trial, pk=pk)
    return render(
        request, "survival/export.html", {"trial": trial, "job": job, "status": _status(job)}
    )


@login_required
@require_GET
def export_status(request, code: str, pk: int):
    trial = selectors.analysis_trial_for_user(request.user, code=code)
    job = selectors.get_export_job(trial, pk=pk)
    response = JsonResponse(_status(job))
    response["Cache-Control"] = "no-store"
    return response


def download_response(job: ExportJob, user) -> FileResponse:
    """The job's ZIP (checked against its hash), or 404 when it is not there (any more)."""
    path = services.export_zip_path(job)
    if path is None:
        raise Http404("This export has no download (not finished, failed, or removed).")
    logger.info(
        "export downloaded",
        extra={"trial": job.trial.code, "job": job.pk, "user": user.pk, "sha256": job.zip_sha256},
    )
    return FileResponse(
        path.open("rb"), as_attachment=True, filename=path.name, content_type="application/zip"
    )


@login_required
@require_GET
def export_download(request, code: str, pk: int):
    trial = selectors.analysis_trial_for_user(request.user, code=code)
    job = selectors.get_export_job(trial, pk=pk)
    return download_response(job, request.user)
