"""Forms of the response pages. They only shape input; every rule is in the services."""

from __future__ import annotations

from django import forms

from response.domain.imwg_discrepancy import PD_BASES
from response.domain.recist import ImagingMethod
from response.models.entries import PD_BASIS_CHOICES, SignatureMeaning
from response.models.recist import IMAGING_METHOD_LABELS, NEW_LESION_CHOICES, NON_TARGET_CHOICES

IMWG_CHOICES = [
    ("sCR", "sCR"),
    ("CR", "CR"),
    ("VGPR", "VGPR"),
    ("PR", "PR"),
    ("MR", "MR"),
    ("SD", "SD"),
    ("PD", "PD"),
    ("NE", "NE"),
]
RECIST_CHOICES = [
    ("CR", "CR"),
    ("PR", "PR"),
    ("SD", "SD"),
    ("NON_CR_NON_PD", "Non-CR/non-PD"),
    ("PD", "PD"),
    ("NE", "NE"),
]


class EntryForm(forms.Form):
    """The investigator's call at one assessment, or the best overall response."""

    target = forms.ChoiceField(label="Which assessment")
    category = forms.ChoiceField(label="Response category")
    pd_basis = forms.ChoiceField(
        label="PD based on", required=False, choices=[("", "—"), *PD_BASIS_CHOICES]
    )
    note = forms.CharField(label="Note", required=False, widget=forms.Textarea(attrs={"rows": 2}))
    reason = forms.CharField(
        label="Reason for the change",
        required=False,
        help_text="Needed when you change an earlier entry.",
    )
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, dates=(), imwg=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].choices = [("bor", "Best overall response")] + [
            (d.isoformat(), d.isoformat()) for d in dates
        ]
        self.fields["category"].choices = IMWG_CHOICES if imwg else RECIST_CHOICES
        if not imwg:
            del self.fields["pd_basis"]

    def clean_pd_basis(self):
        value = self.cleaned_data.get("pd_basis") or ""
        if value and value not in PD_BASES:
            raise forms.ValidationError("Choose a marker.")
        return value


class QueryActionForm(forms.Form):
    to_status = forms.ChoiceField(
        choices=[("answered", "Answer"), ("closed", "Close"), ("open", "Re-open")],
        widget=forms.HiddenInput,
    )
    text = forms.CharField(label="Text", widget=forms.Textarea(attrs={"rows": 2}))
    version = forms.IntegerField(widget=forms.HiddenInput)


class SignForm(forms.Form):
    meaning = forms.ChoiceField(
        label="Meaning of the signature",
        choices=SignatureMeaning.choices,
        widget=forms.RadioSelect,
        initial=SignatureMeaning.FINAL_RESPONSE,
    )
    password = forms.CharField(
        label="Your password", strip=False, widget=forms.PasswordInput(render_value=False)
    )
    otp_token = forms.CharField(
        label="Authenticator code",
        required=False,
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class ResponseLabsForm(forms.Form):
    """The response labs of one visit (canonical units; the lab service converts others)."""

    visit = forms.ChoiceField(label="Visit")
    SPEP_M = forms.CharField(label="Serum M-protein (g/dL)", required=False)
    UPEP_M = forms.CharField(label="24-h urine M-protein (mg/24h)", required=False)
    FLC_KAPPA = forms.CharField(label="Free light chain κ (mg/L)", required=False)
    FLC_LAMBDA = forms.CharField(label="Free light chain λ (mg/L)", required=False)
    SIFE = forms.ChoiceField(
        label="Serum immunofixation",
        required=False,
        choices=[("", "—"), ("positive", "positive"), ("negative", "negative")],
    )
    UIFE = forms.ChoiceField(
        label="Urine immunofixation",
        required=False,
        choices=[("", "—"), ("positive", "positive"), ("negative", "negative")],
    )
    BMPC = forms.CharField(label="Marrow plasma cells (%)", required=False)

    UNITS = {
        "SPEP_M": "g/dL",
        "UPEP_M": "mg/24h",
        "FLC_KAPPA": "mg/L",
        "FLC_LAMBDA": "mg/L",
        "SIFE": "",
        "UIFE": "",
        "BMPC": "%",
    }

    def __init__(self, *args, visits=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["visit"].choices = [
            (str(v.pk), f"{v.label} ({v.visit_date:%Y-%m-%d})") for v in visits
        ]

    def entered(self) -> list[tuple[str, str, str]]:
        """(analyte, value, unit) for every field filled in."""
        return [
            (code, str(self.cleaned_data[code]).strip(), unit)
            for code, unit in self.UNITS.items()
            if str(self.cleaned_data.get(code) or "").strip()
        ]


class LesionForm(forms.Form):
    code = forms.CharField(label="Code", max_length=10, help_text="e.g. T1, NT1")
    kind = forms.ChoiceField(
        label="Kind", choices=[("target", "Target"), ("non_target", "Non-target")]
    )
    organ = forms.CharField(label="Organ", max_length=60)
    is_node = forms.BooleanField(label="Lymph node", required=False)
    method = forms.ChoiceField(
        label="Method", choices=[(m.value, IMAGING_METHOD_LABELS[m]) for m in ImagingMethod]
    )
    baseline_date = forms.DateField(label="Baseline imaging date")
    baseline_diameter_mm = forms.DecimalField(
        label="Diameter (mm)",
        required=False,
        max_digits=6,
        decimal_places=1,
        help_text="Longest diameter; short axis for a node under RECIST 1.1.",
    )


class RecistAssessmentForm(forms.Form):
    assessment_date = forms.DateField(label="Imaging date")
    non_target_status = forms.ChoiceField(label="Non-target lesions", choices=NON_TARGET_CHOICES)
    new_lesions = forms.ChoiceField(label="New lesions", choices=NEW_LESION_CHOICES)
    reason = forms.CharField(label="Reason for the change", required=False)
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, targets=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.targets = list(targets)
        for lesion in self.targets:
            self.fields[f"mm_{lesion.code}"] = forms.DecimalField(
                label=f"{lesion.code} {lesion.organ} (mm)",
                required=False,
                max_digits=6,
                decimal_places=1,
                help_text="0 = disappeared; empty = not evaluated.",
            )

    def measurements(self) -> dict[str, object]:
        return {lesion.code: self.cleaned_data.get(f"mm_{lesion.code}") for lesion in self.targets}
