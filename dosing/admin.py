from django.contrib import admin

from dosing.models import DoseLevel, DoseLevelDose


class DoseLevelDoseInline(admin.TabularInline):
    model = DoseLevelDose
    extra = 0


@admin.register(DoseLevel)
class DoseLevelAdmin(admin.ModelAdmin):
    list_display = ["trial", "number", "label", "is_starting", "introduced_in", "retired_in"]
    list_filter = ["trial"]
    inlines = [DoseLevelDoseInline]
