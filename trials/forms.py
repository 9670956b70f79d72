from django import forms
from django.contrib.auth.forms import AuthenticationForm

from trials.models import Patient


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email",
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )


class ReasonForChangeMixin(forms.Form):
    reason = forms.CharField(
        label="Reason for change",
        help_text="Required: kept in the audit trail with your name and the time.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


class PatientEditForm(ReasonForChangeMixin, forms.ModelForm):
    version = forms.IntegerField(widget=forms.HiddenInput)

    class Meta:
        model = Patient
        fields = ["given_name", "family_name", "date_of_birth", "sex"]
        widgets = {"date_of_birth": forms.DateInput(attrs={"type": "date"})}
