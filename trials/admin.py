from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from trials.models import Membership, Patient, Site, Trial, TrialSite, User


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


@admin.register(Trial)
class TrialAdmin(admin.ModelAdmin):
    list_display = ["code", "title", "phase", "status"]
    inlines = [TrialSiteInline]
    readonly_fields = ["status"]


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "country"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "trial", "role", "all_sites", "active"]
    list_filter = ["trial", "role", "active"]
    filter_horizontal = ["sites"]


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    list_display = ["label", "trial", "site", "status"]
    list_filter = ["trial", "site", "status"]
    readonly_fields = ["status", "version"]
