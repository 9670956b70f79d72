"""Admin for dose levels (edited by trial admins). The escalation records — slots, decisions,
signatures, simulations — are read-only here: only the dosing services write them, so that
every change goes through the rules, the locks and the audit context."""

from django.contrib import admin

from dosing.models import (
    DecisionSignature,
    DoseLevel,
    DoseLevelDose,
    EscalationDecision,
    OcSimulationJob,
    SlotAssignment,
    TrialEscalation,
)


class DoseLevelDoseInline(admin.TabularInline):
    model = DoseLevelDose
    extra = 0


@admin.register(DoseLevel)
class DoseLevelAdmin(admin.ModelAdmin):
    list_display = ["trial", "number", "label", "is_starting", "introduced_in", "retired_in"]
    list_filter = ["trial"]
    inlines = [DoseLevelDoseInline]


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(TrialEscalation)
class TrialEscalationAdmin(ReadOnlyAdmin):
    list_display = ["trial", "stage", "open_level_number", "cohort_target", "step", "on_hold"]


@admin.register(SlotAssignment)
class SlotAssignmentAdmin(ReadOnlyAdmin):
    list_display = ["trial", "patient", "level_number", "kind", "seat", "status", "assigned_at"]
    list_filter = ["trial", "kind", "status"]
    list_select_related = ["trial", "patient"]


class DecisionSignatureInline(admin.TabularInline):
    model = DecisionSignature
    extra = 0
    can_delete = False
    fields = ["signer", "signed_at", "kind", "meaning", "status", "void_reason"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(EscalationDecision)
class EscalationDecisionAdmin(ReadOnlyAdmin):
    list_display = ["trial", "number", "kind", "rule_id", "action", "status", "created_at"]
    list_filter = ["trial", "kind", "status"]
    inlines = [DecisionSignatureInline]


@admin.register(OcSimulationJob)
class OcSimulationJobAdmin(ReadOnlyAdmin):
    list_display = ["trial", "pk", "n_sims", "status", "progress", "created_at"]
    list_filter = ["trial", "status"]
