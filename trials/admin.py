"""The Django admin for trial set-up. Status changes and design amendments go through the same
services as the app (transition table, versioned amendments with a reason); clinical records
(visits, doses, labs, consents) are read-only here: they are entered through the app."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import ValidationError
from django.utils import timezone

from trials import selectors, services
from trials.domain.design import DesignError
from trials.domain.transitions import TransitionError, check_trial_transition
from trials.models import (
    Consent,
    DoseAdministration,
    EligibilityCriterion,
    LabReferenceRange,
    LabResult,
    LastContact,
    Membership,
    Patient,
    PatientStatusChange,
    ProtocolVersion,
    Site,
    Trial,
    TrialAgent,
    TrialSite,
    TrialStatus,
    User,
    Visit,
)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "is_active", "is_staff"]
    search_fields = ["email", "full_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Person", {"fields": ("full_name",)}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "full_name", "password1", "password2")}),
    )


class TrialSiteInline(admin.TabularInline):
    model = TrialSite
    extra = 0


class TrialAgentInline(admin.TabularInline):
    model = TrialAgent
    extra = 0


class EligibilityCriterionInline(admin.TabularInline):
    model = EligibilityCriterion
    extra = 0


class ProtocolVersionInline(admin.TabularInline):
    model = ProtocolVersion
    extra = 0
    fields = ["number", "label", "effective_date", "reason", "changes", "created_by"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


class TrialAdminForm(forms.ModelForm):
    change_status_to = forms.ChoiceField(
        choices=[("", "— keep —"), *TrialStatus.choices], required=False
    )
    status_reason = forms.CharField(required=False, help_text="Required to change the status.")

    class Meta:
        model = Trial
        fields = ["code", "title", "phase", "registry_id"]

    def clean(self):
        cleaned = super().clean()
        target = cleaned.get("change_status_to")
        if target and self.instance.pk:
            try:
                check_trial_transition(self.instance.status, target, phase=self.instance.phase)
            except TransitionError as exc:
                self.add_error("change_status_to", exc.message)
            if len((cleaned.get("status_reason") or "").strip()) < 3:
                self.add_error("status_reason", "Give a reason for the status change.")
        return cleaned


@admin.register(Trial)
class TrialAdmin(admin.ModelAdmin):
    form = TrialAdminForm
    list_display = ["code", "title", "phase", "status"]
    inlines = [TrialSiteInline, TrialAgentInline, EligibilityCriterionInline, ProtocolVersionInline]
    readonly_fields = ["status"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        target = form.cleaned_data.get("change_status_to")
        if target and target != obj.status:
            try:
                services.trial_transition(
                    trial=obj,
                    to_status=target,
                    acting_user=request.user,
                    reason=form.cleaned_data["status_reason"],
                )
            except ValidationError as exc:
                self.message_user(request, "; ".join(exc.messages), level=messages.ERROR)


class AmendmentForm(forms.ModelForm):
    """A new protocol version = the current design plus ``changes``, with a reason."""

    amendment = forms.JSONField(
        help_text='A partial design, e.g. {"dlt_window_days": 28}.', initial=dict
    )

    class Meta:
        model = ProtocolVersion
        fields = ["trial", "label", "effective_date", "reason"]

    def clean(self):
        cleaned = super().clean()
        trial, changes = cleaned.get("trial"), cleaned.get("amendment")
        if not isinstance(changes, dict):
            self.add_error("amendment", "Give a JSON object.")
            return cleaned
        if trial is None:
            return cleaned
        current = selectors.trial_design(trial)
        try:
            amended = current.with_changes(changes)
        except DesignError as exc:
            self.add_error("amendment", f"{exc.field}: {exc.message}")
            return cleaned
        previous = selectors.current_protocol_version(trial)
        if previous is not None and not current.diff(amended):
            self.add_error("amendment", "This amendment changes nothing in the design.")
        effective = cleaned.get("effective_date")
        if previous is not None and effective and effective < previous.effective_date:
            self.add_error(
                "effective_date",
                f"Version {previous.number} is effective from {previous.effective_date}.",
            )
        if len((cleaned.get("reason") or "").strip()) < 3:
            self.add_error("reason", "Give the reason for the amendment.")
        cleaned["design"] = amended
        return cleaned


@admin.register(ProtocolVersion)
class ProtocolVersionAdmin(admin.ModelAdmin):
    list_display = ["trial", "number", "label", "effective_date", "created_by"]
    list_filter = ["trial"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = AmendmentForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["trial", "label", "effective_date", "reason", "amendment"]
        return ["trial", "number", "label", "effective_date", "reason", "changes", "design"]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj) if obj is not None else []

    def get_changeform_initial_data(self, request):
        return {"effective_date": timezone.localdate()}

    def save_model(self, request, obj, form, change):
        if change:
            return
        version = services.protocol_version_create(
            trial=form.cleaned_data["trial"],
            design=form.cleaned_data["design"],
            effective_date=form.cleaned_data["effective_date"],
            reason=form.cleaned_data["reason"],
            label=form.cleaned_data["label"],
            acting_user=request.user,
        )
        obj.pk = version.pk
        obj.number = version.number

    def has_change_permission(self, request, obj=None):
        return obj is None or super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "country"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "trial", "role", "all_sites", "active"]
    list_filter = ["trial", "role", "active"]
    filter_horizontal = ["sites"]


@admin.register(LabReferenceRange)
class LabReferenceRangeAdmin(admin.ModelAdmin):
    list_display = ["site", "analyte", "lln", "uln"]
    list_filter = ["site"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Clinical records are entered in the app (services check them); the admin only shows."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Patient)
class PatientAdmin(ReadOnlyAdmin):
    list_display = ["label", "trial", "site", "status", "dose_level"]
    list_filter = ["trial", "site", "status"]


@admin.register(Visit)
class VisitAdmin(ReadOnlyAdmin):
    list_display = ["patient", "code", "status", "planned_date", "visit_date"]
    list_filter = ["status", "kind"]


@admin.register(DoseAdministration)
class DoseAdministrationAdmin(ReadOnlyAdmin):
    list_display = ["visit", "agent", "status", "dose_mg", "allowed_mg"]


@admin.register(LabResult)
class LabResultAdmin(ReadOnlyAdmin):
    list_display = ["patient", "analyte", "collected_on", "value", "unit", "value_as_entered"]
    list_filter = ["analyte"]


@admin.register(Consent)
class ConsentAdmin(ReadOnlyAdmin):
    list_display = ["patient", "version", "consent_date"]


@admin.register(PatientStatusChange)
class PatientStatusChangeAdmin(ReadOnlyAdmin):
    list_display = ["patient", "from_status", "to_status", "effective_date", "reason_code"]


@admin.register(LastContact)
class LastContactAdmin(ReadOnlyAdmin):
    list_display = ["patient", "contact_date", "vital_status", "death_date"]
