"""Forms of the safety pages. They collect input; the services decide what is valid, and
their field messages are put back on these fields (``trials.forms.apply_service_errors``)."""

from __future__ import annotations

from django import forms

from safety.models import (
    ActionTaken,
    AdjudicationDecision,
    AttributionChoice,
    Expectedness,
    Outcome,
)
from safety.models.adverse_events import SERIOUSNESS_FIELDS, AdverseEvent

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
GRADE_CHOICES = [("", "Choose the grade")] + [(g, f"Grade {g}") for g in range(1, 6)]
SERIOUSNESS_CHOICES = [
    (name, str(AdverseEvent._meta.get_field(name).verbose_name).capitalize())
    for name in SERIOUSNESS_FIELDS
]
DEFAULT_DLT_MEANING = (
    "I have reviewed this adverse event against the protocol's DLT definition, and this is my "
    "decision."
)
DEFAULT_SAE_MEANING = "I have reviewed this SAE report and approve it for submission."


def _reason_field(required: bool = True) -> forms.CharField:
    return forms.CharField(
        label="Reason for change",
        required=required,
        max_length=500,
        help_text="Kept in the audit trail with your name and the time.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


class _EventFieldsForm(forms.Form):
    resolution_date = forms.DateField(
        required=False, widget=DATE, help_text="Date the event ended (resolved, or death)."
    )
    outcome = forms.ChoiceField(choices=Outcome.choices, initial=Outcome.NOT_RECOVERED)
    expectedness = forms.ChoiceField(
        choices=Expectedness.choices, initial=Expectedness.NOT_ASSESSED
    )
    verbatim = forms.CharField(
        label="Description",
        required=False,
        max_length=300,
        help_text="In the investigator's words.",
    )
    seriousness = forms.MultipleChoiceField(
        label="Seriousness criteria",
        choices=SERIOUSNESS_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Any ticked criterion makes it a serious adverse event (SAE): the reporting "
        "clock starts at the awareness time.",
    )
    awareness_at = forms.DateTimeField(
        label="Site aware of the SAE at",
        required=False,
        widget=DATETIME,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        help_text="Default: now.",
    )
    with_fever = forms.BooleanField(label="With fever", required=False)
    with_bleeding = forms.BooleanField(label="With bleeding", required=False)
    with_transfusion = forms.BooleanField(label="Transfusion given", required=False)
    controlled_within_hours = forms.DecimalField(
        label="Controlled within (hours)",
        required=False,
        min_value=0,
        max_digits=6,
        decimal_places=1,
        help_text="Nausea, vomiting, diarrhoea: hours until controlled.",
    )
    cycle2_delay_days = forms.IntegerField(
        label="Cycle 2 delayed by (days)", required=False, min_value=0
    )

    EVENT_FIELDS = (
        "seriousness",
        "awareness_at",
        "outcome",
        "resolution_date",
        "expectedness",
        "verbatim",
        "with_fever",
        "with_bleeding",
        "with_transfusion",
        "controlled_within_hours",
        "cycle2_delay_days",
        "reason",
    )

    def event_fields(self):
        return [self[name] for name in self.EVENT_FIELDS if name in self.fields]

    def service_fields(self) -> dict:
        d = self.cleaned_data
        return {
            "resolution_date": d.get("resolution_date"),
            "outcome": d["outcome"],
            "expectedness": d["expectedness"],
            "verbatim": d.get("verbatim") or "",
            "seriousness": list(d.get("seriousness") or []),
            "awareness_at": d.get("awareness_at"),
            "with_fever": d.get("with_fever", False),
            "with_bleeding": d.get("with_bleeding", False),
            "with_transfusion": d.get("with_transfusion", False),
            "controlled_within_hours": d.get("controlled_within_hours"),
            "cycle2_delay_days": d.get("cycle2_delay_days"),
        }


class _AttributionFieldsMixin:
    """One attribution and one action per agent of the regimen."""

    def add_agent_fields(self, agents) -> None:
        self.agents = list(agents)
        for agent in self.agents:
            self.fields[f"attribution_{agent.code}"] = forms.ChoiceField(
                label=f"{agent.name}: attribution",
                choices=[("", "Not yet assessed"), *AttributionChoice.choices],
                required=False,
            )
            self.fields[f"action_{agent.code}"] = forms.ChoiceField(
                label=f"{agent.name}: action taken",
                choices=ActionTaken.choices,
                initial=ActionTaken.NONE,
                required=False,
            )

    def agent_rows(self):
        for agent in self.agents:
            yield agent, self[f"attribution_{agent.code}"], self[f"action_{agent.code}"]

    def attribution_inputs(self):
        from safety.services import AttributionInput

        out = []
        for agent in self.agents:
            attribution = self.cleaned_data.get(f"attribution_{agent.code}")
            if attribution:
                action = self.cleaned_data.get(f"action_{agent.code}") or ActionTaken.NONE
                out.append(AttributionInput(agent.code, attribution, action))
        return out


class AdverseEventForm(_AttributionFieldsMixin, _EventFieldsForm):
    """A new adverse event: the CTCAE term (picker), grade at onset, and the rest."""

    term = forms.CharField(
        label="CTCAE term",
        max_length=200,
        help_text="Type to search the CTCAE dictionary, then pick the term.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True}),
    )
    meddra_code = forms.IntegerField(required=False, widget=forms.HiddenInput)
    onset_date = forms.DateField(widget=DATE)
    grade = forms.TypedChoiceField(label="Grade at onset", choices=GRADE_CHOICES, coerce=int)

    field_order = ["term", "meddra_code", "onset_date", "grade"]

    def __init__(self, *args, agents, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_agent_fields(agents)


class AdverseEventEditForm(_EventFieldsForm):
    version = forms.IntegerField(widget=forms.HiddenInput)
    reason = _reason_field()


class GradeChangeForm(forms.Form):
    on_date = forms.DateField(label="From", widget=DATE)
    grade = forms.TypedChoiceField(label="New grade", choices=GRADE_CHOICES, coerce=int)
    version = forms.IntegerField(widget=forms.HiddenInput)
    reason = _reason_field()


class AttributionForm(_AttributionFieldsMixin, forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    reason = _reason_field()

    def __init__(self, *args, agents, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_agent_fields(agents)


class SuggestionConfirmForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    existing_event = forms.TypedChoiceField(
        label="Record as",
        coerce=int,
        empty_value=None,
        required=False,
    )

    def __init__(self, *args, events=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["existing_event"].choices = [("", "A new adverse event")] + [
            (
                e.pk,
                f"A grade change of: {e.term}, grade {e.max_grade}, from {e.onset_date:%Y-%m-%d}",
            )
            for e in events
        ]


class SuggestionDismissForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    reason = forms.CharField(
        label="Why dismiss it?",
        max_length=500,
        help_text="e.g. clotted sample, repeat normal; already recorded.",
    )


class _SignatureForm(forms.Form):
    meaning = forms.CharField(
        label="Meaning of your signature",
        max_length=300,
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
    version = forms.IntegerField(widget=forms.HiddenInput)


class AdjudicationForm(_SignatureForm):
    decision = forms.ChoiceField(choices=AdjudicationDecision.choices, widget=forms.RadioSelect)
    reason = forms.CharField(
        label="Reason", max_length=1000, widget=forms.Textarea(attrs={"rows": 2})
    )

    field_order = ["decision", "reason", "meaning", "password", "otp_token", "version"]


class SaeSignForm(_SignatureForm):
    pass


class SaeSubmitForm(forms.Form):
    report = forms.ChoiceField(
        label="Report sent",
        choices=[("initial", "Initial report"), ("full", "Full report")],
        widget=forms.RadioSelect,
    )
    submitted_at = forms.DateTimeField(
        label="Sent at",
        required=False,
        widget=DATETIME,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        help_text="Default: now.",
    )
    narrative = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    version = forms.IntegerField(widget=forms.HiddenInput)
