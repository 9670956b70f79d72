"""Forms of the dosing pages: signing and overriding a decision, operating characteristics."""

from __future__ import annotations

from django import forms

from dosing.models import MAX_SIMULATIONS
from dosing.services import OVERRIDE_ACTIONS, RP2D_ACTION

DEFAULT_MEANING = (
    "I have reviewed the DLT data and the rule that produced this recommendation, and I approve "
    "it as the next step of the dose escalation."
)
DEFAULT_OVERRIDE_MEANING = (
    "I have reviewed the DLT data and decide the next step of the dose escalation as stated, "
    "instead of the recommendation, for the reason given."
)
DEFAULT_RP2D_MEANING = (
    "I have reviewed the dose-escalation results and declare this level the recommended "
    "phase II dose."
)
ACTION_LABELS = {
    "ESCALATE": "Escalate to a higher level",
    "EXPAND": "Expand: treat 3 more at the level",
    "DEESCALATE": "De-escalate to a lower level",
    "STOP_MTD": "Stop: declare the MTD",
    "STOP_NO_TOLERABLE_DOSE": "Stop: no tolerable dose",
    RP2D_ACTION: "Declare another level the RP2D",
}


class _SignatureFields(forms.Form):
    meaning = forms.CharField(
        label="Meaning of your signature",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    otp_token = forms.CharField(
        label="Authenticator code",
        required=False,
        max_length=10,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9 ]*"}
        ),
        help_text="The 6-digit code from your authenticator app.",
    )


class SignForm(_SignatureFields):
    def __init__(self, *args, rp2d: bool = False, decision_pk: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial.setdefault("meaning", DEFAULT_RP2D_MEANING if rp2d else DEFAULT_MEANING)
        # Two decisions may await a signature on one page: their fields need distinct ids.
        self.auto_id = f"id_sign{decision_pk or ''}_%s"


class OverrideForm(_SignatureFields):
    action = forms.ChoiceField(label="Decide instead")
    level = forms.TypedChoiceField(
        label="Level",
        coerce=int,
        empty_value=None,
        required=False,
        help_text="Default: the level the action implies (one up, one down, or the current level).",
    )
    reason = forms.CharField(
        label="Reason for overriding", max_length=1000, widget=forms.Textarea(attrs={"rows": 2})
    )

    field_order = ["action", "level", "reason", "meaning", "password", "otp_token"]

    def __init__(self, *args, levels, rp2d: bool = False, decision_pk: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        actions = [RP2D_ACTION] if rp2d else [a.value for a in OVERRIDE_ACTIONS]
        self.fields["action"].choices = [(a, ACTION_LABELS[a]) for a in actions]
        self.fields["level"].choices = [("", "—")] + [(n, f"Level {n}") for n in levels]
        self.initial.setdefault("meaning", DEFAULT_OVERRIDE_MEANING)
        self.auto_id = f"id_override{decision_pk or ''}_%s"


class OcForm(forms.Form):
    rates = forms.CharField(
        label="Assumed true DLT rates",
        max_length=200,
        help_text="One per dose level, lowest first, separated by commas (e.g. 0.05, 0.10, 0.20).",
    )
    allow_deescalate = forms.BooleanField(label="Allow de-escalation (Korn)", required=False)
    require_six_at_mtd = forms.BooleanField(label="Require six at the MTD", required=False)


class SimulationForm(OcForm):
    n_sims = forms.IntegerField(
        label="Simulated trials", min_value=100, max_value=MAX_SIMULATIONS, initial=10_000
    )
    seed = forms.IntegerField(
        label="Random seed", required=False, min_value=0, help_text="Empty: a random seed."
    )
