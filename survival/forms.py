"""Forms of the statistician's page: the analysis date and the export request."""

from __future__ import annotations

from django import forms

from survival.domain.jobs import DEFAULT_FORMAT, EXPORT_FORMATS

FORMAT_LABELS = {
    "csv": "CSV (UTF-8, one file per dataset)",
    "xlsx": "Excel (one workbook per dataset)",
    "xpt": "SAS transport, XPT v5",
    "parquet": "Parquet (typed)",
}


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


class AnalysisForm(forms.Form):
    data_cut = forms.DateField(
        label="Data cut",
        required=False,
        widget=DateInput(),
        help_text="Records dated after this day are not used (YYYY-MM-DD; default today).",
    )


class ExportForm(forms.Form):
    format = forms.ChoiceField(
        label="Format",
        choices=[(f, FORMAT_LABELS[f]) for f in EXPORT_FORMATS],
        initial=DEFAULT_FORMAT,
    )
    data_cut = forms.DateField(
        label="Data cut",
        required=False,
        widget=DateInput(),
        help_text="Default today; leave empty to export a named cut again.",
    )
    cut_name = forms.CharField(
        label="Name this data cut (optional)",
        required=False,
        max_length=60,
        help_text="A named cut is frozen: exporting it again later gives identical files.",
    )
