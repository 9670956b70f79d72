"""Serializers of the survival API (the export jobs, data cuts and Kaplan–Meier summary)."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from survival.domain.jobs import DEFAULT_FORMAT, EXPORT_FORMATS
from survival.models import DataCut, ExportJob


class ExportRequestSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=EXPORT_FORMATS, default=DEFAULT_FORMAT)
    data_cut = serializers.DateField(
        required=False,
        allow_null=True,
        help_text="Ignore records dated after this day (YYYY-MM-DD; default today, or the "
        "named cut's date).",
    )
    cut_name = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=60,
        help_text="Freeze a new named data cut, or export an existing one again identically.",
    )


class ExportFileSerializer(serializers.Serializer):
    name = serializers.CharField()
    sha256 = serializers.CharField()
    bytes = serializers.IntegerField()
    rows = serializers.IntegerField(required=False)


class ExportJobSerializer(serializers.ModelSerializer):
    """One export: who, when, scope (trial, data cut, format), progress, and file hashes."""

    trial = serializers.CharField(source="trial.code")
    requested_by = serializers.SerializerMethodField()
    named_cut = serializers.SerializerMethodField()
    files = ExportFileSerializer(many=True)
    row_counts = serializers.DictField(child=serializers.IntegerField())
    status_url = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = ExportJob
        fields = [
            "id",
            "trial",
            "status",
            "progress",
            "step",
            "error",
            "format",
            "data_cut",
            "cut_name",
            "named_cut",
            "source",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
            "files",
            "row_counts",
            "zip_sha256",
            "software_version",
            "status_url",
            "download_url",
        ]
        read_only_fields = fields

    def get_requested_by(self, job: ExportJob) -> str | None:
        return job.requested_by.email if job.requested_by else None

    def get_named_cut(self, job: ExportJob) -> str | None:
        return job.named_cut.name if job.named_cut else None

    def _url(self, name: str, job: ExportJob) -> str:
        path = reverse(name, kwargs={"code": job.trial.code, "pk": job.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def get_status_url(self, job: ExportJob) -> str:
        return self._url("api-survival-export", job)

    def get_download_url(self, job: ExportJob) -> str | None:
        if job.status != "done":
            return None
        return self._url("api-survival-export-download", job)


class DataCutSerializer(serializers.ModelSerializer):
    trial = serializers.CharField(source="trial.code")
    created_by = serializers.SerializerMethodField()

    class Meta:
        model = DataCut
        fields = [
            "id",
            "trial",
            "name",
            "cut_date",
            "row_counts",
            "frozen_files",
            "software_version",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_created_by(self, cut: DataCut) -> str | None:
        return cut.created_by.email if cut.created_by else None


# --- The Kaplan–Meier summary (described for the schema; built by the analysis) ---------------


class LandmarkSerializer(serializers.Serializer):
    months = serializers.FloatField()
    survival = serializers.FloatField(allow_null=True)
    lcl = serializers.FloatField(allow_null=True)
    ucl = serializers.FloatField(allow_null=True)
    n_at_risk = serializers.IntegerField()
    display = serializers.CharField()


class FitSerializer(serializers.Serializer):
    group = serializers.CharField(help_text="ALL, or the dose level")
    n = serializers.IntegerField()
    events = serializers.IntegerField()
    censored = serializers.IntegerField()
    median_months = serializers.FloatField(allow_null=True, help_text="null = not reached")
    median_lcl_months = serializers.FloatField(allow_null=True)
    median_ucl_months = serializers.FloatField(allow_null=True)
    median_display = serializers.CharField()
    landmarks = LandmarkSerializer(many=True)


class EndpointSerializer(serializers.Serializer):
    paramcd = serializers.ChoiceField(choices=["TTP", "PFS", "DOR", "OS"])
    param = serializers.CharField()
    fits = FitSerializer(many=True)


class FollowUpSerializer(serializers.Serializer):
    method = serializers.CharField()
    months = serializers.FloatField(allow_null=True)
    lcl_months = serializers.FloatField(allow_null=True)
    ucl_months = serializers.FloatField(allow_null=True)
    display = serializers.CharField()


class ResponseRateSerializer(serializers.Serializer):
    group = serializers.CharField()
    responders = serializers.IntegerField()
    evaluable = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True)
    lcl = serializers.FloatField(allow_null=True)
    ucl = serializers.FloatField(allow_null=True)
    display = serializers.CharField()
    method = serializers.CharField()


class SourceSerializer(serializers.Serializer):
    name = serializers.CharField()
    available = serializers.BooleanField()
    detail = serializers.CharField()


class KmSummarySerializer(serializers.Serializer):
    trial = serializers.CharField()
    data_cut = serializers.DateField()
    n_enrolled = serializers.IntegerField()
    n_treated = serializers.IntegerField()
    ci_method = serializers.CharField()
    time_unit = serializers.CharField()
    median_follow_up = FollowUpSerializer()
    endpoints = EndpointSerializer(many=True)
    response_rates = ResponseRateSerializer(many=True)
    sources = SourceSerializer(many=True)


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
