"""Read-only admin views of the response records: every write goes through the services (which
keep the queries, signatures and audit context consistent), so the admin only looks."""

from django.contrib import admin

from response.models import (
    InvestigatorResponse,
    PatientResponse,
    RecistAssessment,
    RecistLesion,
    ResponseQuery,
    ResponseSignature,
    ResponseTimepoint,
    SimonMonitor,
    SimonNotification,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PatientResponse)
class PatientResponseAdmin(ReadOnlyAdmin):
    list_display = [
        "patient",
        "criteria",
        "best_overall_response",
        "progression_date",
        "evaluated_at",
    ]
    list_filter = ["criteria", "best_overall_response"]


@admin.register(ResponseTimepoint)
class ResponseTimepointAdmin(ReadOnlyAdmin):
    list_display = ["patient", "assessment_date", "timepoint", "confirmed", "status"]


@admin.register(InvestigatorResponse)
class InvestigatorResponseAdmin(ReadOnlyAdmin):
    list_display = ["patient", "scope", "assessment_date", "category", "entered_by"]


@admin.register(ResponseQuery)
class ResponseQueryAdmin(ReadOnlyAdmin):
    list_display = ["patient", "flag", "assessment_date", "status", "raised_at"]
    list_filter = ["status", "flag"]


@admin.register(ResponseSignature)
class ResponseSignatureAdmin(ReadOnlyAdmin):
    list_display = ["patient", "signed_by", "signed_at", "voided_at"]


@admin.register(RecistLesion)
class RecistLesionAdmin(ReadOnlyAdmin):
    list_display = ["patient", "code", "kind", "organ", "baseline_diameter_mm"]


@admin.register(RecistAssessment)
class RecistAssessmentAdmin(ReadOnlyAdmin):
    list_display = ["patient", "assessment_date", "non_target_status", "new_lesions"]


@admin.register(SimonMonitor)
class SimonMonitorAdmin(ReadOnlyAdmin):
    list_display = ["trial", "stage", "rule", "responders", "final_verdict", "updated_at"]


@admin.register(SimonNotification)
class SimonNotificationAdmin(ReadOnlyAdmin):
    list_display = ["trial", "kind", "subject", "sent_at"]
