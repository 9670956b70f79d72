"""The survival API: start an export (a background job), follow its progress, download it, list
the export log and the named data cuts, and read the Kaplan–Meier results and plots.

Thin views over ``survival.selectors`` and ``survival.services``. Exports, the export log, data
cuts and downloads are for the trial's statisticians and trial admins; the Kaplan–Meier results
and plots for its investigators too. Another member of the trial gets 403, anyone else 404;
bad input is 400 with field messages; data that cannot give endpoints is 409. Never a 500.
"""

from __future__ import annotations

import datetime as dt

from django.http import Http404, HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from survival import selectors, services
from survival.api import serializers as s
from survival.domain.endpoints import PARAMCDS
from survival.domain.jobs import JobSource
from survival.domain.plots import FORMATS as PLOT_FORMATS
from survival.views import PLOT_CONTENT_TYPES, download_response

CODE = OpenApiParameter("code", str, OpenApiParameter.PATH, description="Trial code, e.g. IPD")
DATA_CUT = OpenApiParameter(
    "data_cut", OpenApiTypes.DATE, description="Ignore records dated after this day (default today)"
)
ERRORS = {
    403: OpenApiResponse(s.ErrorSerializer, description="A member of the trial without access"),
    404: OpenApiResponse(s.ErrorSerializer, description="Not one of your trials, or no such job"),
}
CONFLICT = {
    409: OpenApiResponse(
        s.ErrorSerializer, description="The recorded data cannot give the result (detail says why)"
    )
}


def analysis_trial(request, code: str):
    """For exports, the export log, data cuts and downloads (statisticians, trial admins)."""
    return selectors.analysis_trial_for_user(request.user, code=code)


def results_trial(request, code: str):
    """For the Kaplan–Meier results and plots (investigators too)."""
    return selectors.results_trial_for_user(request.user, code=code)


def data_cut_param(request) -> dt.date:
    """The ``data_cut`` query parameter (default today); a bad one is 400."""
    text = request.query_params.get("data_cut")
    if not text:
        return timezone.localdate()
    field = serializers.DateField()
    try:
        day = field.to_internal_value(text)
    except serializers.ValidationError as exc:
        raise serializers.ValidationError({"data_cut": exc.detail}) from None
    return services.check_data_cut(day)


def conflict(message: str) -> Response:
    return Response({"detail": message}, status=status.HTTP_409_CONFLICT)


class FileView(APIView):
    """A view answering with a file: a client asking only for that file type still gets its
    errors as JSON instead of a 406."""

    def perform_content_negotiation(self, request, force=False):
        return super().perform_content_negotiation(request, force=True)


@extend_schema(parameters=[CODE])
class ExportListView(generics.ListAPIView):
    """The export log of a trial (newest first): who, when, scope, status and file hashes."""

    serializer_class = s.ExportJobSerializer

    def get_queryset(self):
        return selectors.export_jobs(analysis_trial(self.request, self.kwargs["code"]))

    @extend_schema(responses={200: s.ExportJobSerializer(many=True), **ERRORS})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=s.ExportRequestSerializer,
        responses={
            202: s.ExportJobSerializer,
            400: OpenApiResponse(description="Bad input"),
            **ERRORS,
        },
    )
    def post(self, request, code: str):
        """Start an export: a background job. Follow ``status_url``; download when done."""
        trial = analysis_trial(request, code)
        payload = s.ExportRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        job = services.export_job_start(
            trial=trial,
            acting_user=request.user,
            fmt=data["format"],
            data_cut=data.get("data_cut"),
            cut_name=data.get("cut_name") or None,
            source=JobSource.API,
        )
        job = selectors.get_export_job(trial, pk=job.pk)
        body = s.ExportJobSerializer(job, context={"request": request}).data
        return Response(
            body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["status_url"]}
        )


class ExportJobView(APIView):
    @extend_schema(
        parameters=[CODE, OpenApiParameter("pk", int, OpenApiParameter.PATH)],
        responses={200: s.ExportJobSerializer, **ERRORS},
    )
    def get(self, request, code: str, pk: int):
        """One export job: status, progress 0–100, error, files and their SHA-256."""
        job = selectors.get_export_job(analysis_trial(request, code), pk=pk)
        return Response(s.ExportJobSerializer(job, context={"request": request}).data)


class ExportDownloadView(FileView):
    @extend_schema(
        parameters=[CODE, OpenApiParameter("pk", int, OpenApiParameter.PATH)],
        responses={(200, "application/zip"): OpenApiTypes.BINARY, **ERRORS},
    )
    def get(self, request, code: str, pk: int):
        """The finished export as a ZIP (404 until it is done)."""
        job = selectors.get_export_job(analysis_trial(request, code), pk=pk)
        return download_response(job, request.user)


@extend_schema(parameters=[CODE])
class DataCutListView(generics.ListAPIView):
    """The trial's named data cuts, each frozen with the hashes of its datasets."""

    serializer_class = s.DataCutSerializer

    def get_queryset(self):
        return selectors.data_cuts(analysis_trial(self.request, self.kwargs["code"]))

    @extend_schema(responses={200: s.DataCutSerializer(many=True), **ERRORS})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class KmSummaryView(APIView):
    @extend_schema(
        parameters=[CODE, DATA_CUT],
        responses={
            200: s.KmSummarySerializer,
            400: OpenApiResponse(description="Bad date"),
            **ERRORS,
            **CONFLICT,
        },
    )
    def get(self, request, code: str):
        """Kaplan–Meier results at a data cut: per endpoint overall (ALL) and by dose level,
        median with 95% CI (log-log; null = not reached), survival at 6, 12 and 24 months,
        median follow-up (reverse Kaplan–Meier), and ORR with exact 95% CIs."""
        trial = results_trial(request, code)
        data_cut = data_cut_param(request)
        try:
            analysis = services.survival_analysis(trial, data_cut=data_cut)
        except services.ExportError as exc:
            return conflict(str(exc))
        return Response(analysis.summary())


PLOT_RESPONSES = {
    (200, "image/png"): OpenApiTypes.BINARY,
    (200, "image/svg+xml"): OpenApiTypes.BINARY,
    (200, "application/pdf"): OpenApiTypes.BINARY,
    **ERRORS,
    **CONFLICT,
}
FMT = OpenApiParameter("fmt", str, OpenApiParameter.PATH, enum=list(PLOT_FORMATS))


def _plot(data: bytes, fmt: str, stem: str) -> HttpResponse:
    response = HttpResponse(data, content_type=PLOT_CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'inline; filename="{stem}.{fmt}"'
    return response


class KmPlotView(FileView):
    @extend_schema(
        parameters=[
            CODE,
            FMT,
            DATA_CUT,
            OpenApiParameter("endpoint", str, enum=list(PARAMCDS), default="OS"),
            OpenApiParameter("by", str, enum=["dose_level"], description="Curves by dose level"),
        ],
        responses=PLOT_RESPONSES,
    )
    def get(self, request, code: str, fmt: str):
        """The Kaplan–Meier plot of one endpoint, with 95% bands and numbers at risk."""
        trial = results_trial(request, code)
        endpoint = request.query_params.get("endpoint", "OS")
        if fmt not in PLOT_FORMATS:
            raise Http404
        if endpoint not in PARAMCDS:
            raise serializers.ValidationError({"endpoint": [f"One of {', '.join(PARAMCDS)}."]})
        data_cut = data_cut_param(request)
        by_dose_level = request.query_params.get("by") == "dose_level"
        try:
            analysis = services.survival_analysis(trial, data_cut=data_cut)
            image = analysis.km_plot(endpoint, by_dose_level=by_dose_level, fmt=fmt)
        except (services.ExportError, ValueError) as exc:
            return conflict(str(exc))
        return _plot(image, fmt, f"{trial.code}_{endpoint}_km_{data_cut:%Y-%m-%d}")


class SwimmerPlotView(FileView):
    @extend_schema(parameters=[CODE, FMT, DATA_CUT], responses=PLOT_RESPONSES)
    def get(self, request, code: str, fmt: str):
        """Time on treatment per patient, with first response, progression and death."""
        trial = results_trial(request, code)
        if fmt not in PLOT_FORMATS:
            raise Http404
        data_cut = data_cut_param(request)
        try:
            image = services.survival_analysis(trial, data_cut=data_cut).swimmer_plot(fmt=fmt)
        except (services.ExportError, ValueError) as exc:
            return conflict(str(exc))
        return _plot(image, fmt, f"{trial.code}_swimmer_{data_cut:%Y-%m-%d}")
