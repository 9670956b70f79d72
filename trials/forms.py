"""Forms of the coordinator's pages. They collect input; the services decide what is valid, and
their field messages are mapped back onto these fields so nothing typed is lost."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from trials.domain.dosing import DOSE_STATUS_LABELS, DoseStatus
from trials.domain.labs import ANALYTES, GROUP_LABELS
from trials.domain.transitions import (
    PATIENT_STATUS_LABELS,
    TRIAL_STATUS_LABELS,
    OffStudyReason,
    OffTreatmentReason,
    ScreenFailureReason,
    reason_choices,
)
from trials.models import Patient, Sex, VitalStatus

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


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


def apply_service_errors(form: forms.Form, exc: ValidationError, mapping=None) -> None:
    """Put a service's field messages on the form's fields (unknown keys go to the top)."""
    mapping = mapping or {}
    messages = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
    for key, texts in messages.items():
        field = mapping.get(key, key)
        if field not in form.fields:
            field = None
        for text in texts:
            form.add_error(field, text)


# --- Enrolment wizard ---------------------------------------------------------------------


class ScreenForm(forms.Form):
    site = forms.ModelChoiceField(queryset=None, empty_label=None)
    screening_number = forms.CharField(
        required=False,
        max_length=30,
        help_text="From the site's screening log. Leave blank to get the next free number.",
    )
    given_name = forms.CharField(required=False, max_length=100)
    family_name = forms.CharField(required=False, max_length=100)
    date_of_birth = forms.DateField(required=False, widget=DATE)
    sex = forms.ChoiceField(choices=[("", "—"), *Sex.choices], required=False)
    height_cm = forms.DecimalField(
        label="Height (cm)", required=False, max_digits=5, decimal_places=1
    )
    weight_kg = forms.DecimalField(
        label="Weight (kg)", required=False, max_digits=5, decimal_places=1
    )

    def __init__(self, *args, sites, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites
        self.fields["site"].widget.attrs["autofocus"] = True


class EligibilityForm(forms.Form):
    """One yes/no question per criterion (inclusion: met? exclusion: applies?)."""

    reason = forms.CharField(
        required=False,
        label="Reason for changing an answer",
        help_text="Needed only when you change an answer given before.",
    )

    def __init__(self, *args, rows, **kwargs):
        super().__init__(*args, **kwargs)
        self.rows = rows
        for i, row in enumerate(rows):
            c = row.criterion
            field = forms.TypedChoiceField(
                label=f"{c.code}: {c.text}",
                choices=[("yes", "Yes"), ("no", "No")],
                widget=forms.RadioSelect,
                required=False,
                coerce=lambda v: {"yes": True, "no": False}.get(v),
                empty_value=None,
                help_text="Inclusion: is it met?"
                if c.kind == "inclusion"
                else "Exclusion: does it apply?",
            )
            if i == 0:
                field.widget.attrs["autofocus"] = True
            self.fields[f"c_{c.code}"] = field
            self.initial.setdefault(f"c_{c.code}", {True: "yes", False: "no"}.get(row.answer))
            self.fields[f"note_{c.code}"] = forms.CharField(
                label=f"Note on {c.code}",
                required=False,
                max_length=300,
                widget=forms.TextInput(attrs={"placeholder": "Note (optional)"}),
            )
            self.initial.setdefault(f"note_{c.code}", row.note)

    def criterion_fields(self):
        for row in self.rows:
            code = row.criterion.code
            yield row, self[f"c_{code}"], self[f"note_{code}"]

    def answers(self) -> dict[str, bool]:
        return {
            row.criterion.code: self.cleaned_data[f"c_{row.criterion.code}"]
            for row in self.rows
            if self.cleaned_data.get(f"c_{row.criterion.code}") is not None
        }

    def notes(self) -> dict[str, str]:
        return {
            row.criterion.code: self.cleaned_data.get(f"note_{row.criterion.code}", "")
            for row in self.rows
        }


class ConsentForm(forms.Form):
    version = forms.CharField(
        max_length=40,
        label="Consent form version",
        widget=forms.TextInput(attrs={"autofocus": True}),
    )
    consent_date = forms.DateField(label="Date signed", widget=DATE)


class EnrolForm(forms.Form):
    enrolment_date = forms.DateField(widget=DATE)
    planned_start_date = forms.DateField(
        label="Planned cycle 1 day 1",
        widget=DATE,
        required=False,
        help_text="The first dose; the schedule is planned from it (default: enrolment date).",
    )
    dose_level = forms.TypedChoiceField(coerce=int, empty_value=None, required=False)
    height_cm = forms.DecimalField(
        label="Height (cm)", required=False, max_digits=5, decimal_places=1
    )
    weight_kg = forms.DecimalField(
        label="Weight (kg)", required=False, max_digits=5, decimal_places=1
    )

    def __init__(self, *args, levels, slot_status=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["enrolment_date"].widget.attrs["autofocus"] = True
        self.fields["dose_level"].choices = [("", "—")] + [
            (lv.number, f"{lv.display_label}: " + ", ".join(str(d) for d in lv.doses.all()))
            for lv in levels
        ]
        if slot_status is not None and slot_status.escalation:
            # Dose escalation assigns the level (``dosing.selectors.enrolment_slot_status``).
            if slot_status.level is not None:
                self.initial.setdefault("dose_level", slot_status.level.number)
            self.fields["dose_level"].help_text = (
                "Dose escalation assigns the open level: " + slot_status.message
            )
            return
        starting = next((lv for lv in levels if lv.is_starting), None)
        if starting is not None:
            self.initial.setdefault("dose_level", starting.number)
        self.fields["dose_level"].help_text = "The dose level the patient is given."


# --- Status, contact ---------------------------------------------------------------------


class PatientTransitionForm(forms.Form):
    to_status = forms.ChoiceField(label="New status")
    effective_date = forms.DateField(label="Date", widget=DATE)
    reason_code = forms.ChoiceField(label="Why", required=False)
    reason = forms.CharField(label="Details", required=False, max_length=500)

    def __init__(self, *args, targets, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_status"].choices = [(t.value, PATIENT_STATUS_LABELS[t]) for t in targets]
        self.fields["to_status"].widget.attrs["autofocus"] = True
        self.fields["reason_code"].choices = [
            ("", "—"),
            ("Off treatment", reason_choices(OffTreatmentReason)),
            ("Off study", reason_choices(OffStudyReason)),
            ("Screen failure", reason_choices(ScreenFailureReason)),
        ]


class TrialTransitionForm(forms.Form):
    to_status = forms.ChoiceField(label="New status")
    reason = forms.CharField(max_length=500)

    def __init__(self, *args, targets, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_status"].choices = [(t.value, TRIAL_STATUS_LABELS[t]) for t in targets]


class LastContactForm(forms.Form):
    contact_date = forms.DateField(
        label="Date of contact", widget=forms.DateInput(attrs={"type": "date", "autofocus": True})
    )
    vital_status = forms.ChoiceField(choices=VitalStatus.choices, widget=forms.RadioSelect)
    death_date = forms.DateField(required=False, widget=DATE, label="Date of death")
    cause_of_death = forms.CharField(required=False, max_length=200)
    source = forms.CharField(required=False, max_length=100)


class UnscheduledVisitForm(forms.Form):
    visit_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date", "autofocus": True}))


class MissedVisitForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    missed_reason = forms.CharField(label="Why was the visit missed?", max_length=300)


# --- The visit form ---------------------------------------------------------------------


class VisitForm(forms.Form):
    """Date, body measurements, one row per agent dosed at this visit, the lab panel.

    Built for the keyboard: fields in reading order, autofocus on the date (or the first field
    in error), Enter submits from any field, Alt+S saves.
    """

    visit_date = forms.DateField(widget=DATE)
    weight_kg = forms.DecimalField(
        label="Weight (kg)", required=False, max_digits=5, decimal_places=1
    )
    height_cm = forms.DecimalField(
        label="Height (cm)", required=False, max_digits=5, decimal_places=1
    )
    version = forms.IntegerField(widget=forms.HiddenInput)

    DOSE_CHOICES = [("", "—"), *((s.value, DOSE_STATUS_LABELS[s]) for s in DoseStatus)]

    def __init__(self, *args, agents, allowed, analytes, correcting, **kwargs):
        super().__init__(*args, **kwargs)
        self.agents = agents
        self.allowed = allowed  # agent code -> (level dose text, allowed mg or None)
        self.analytes = analytes
        self.correcting = correcting
        for agent in agents:
            code = agent.code
            self.fields[f"dose_{code}_status"] = forms.ChoiceField(
                label=f"{agent.name}: status", choices=self.DOSE_CHOICES, required=False
            )
            self.fields[f"dose_{code}_mg"] = forms.DecimalField(
                label=f"{agent.name}: dose given (mg)",
                required=False,
                max_digits=8,
                decimal_places=2,
                min_value=Decimal(0),
            )
            self.fields[f"dose_{code}_reason"] = forms.CharField(
                label=f"{agent.name}: reason (reduced, held, missed)",
                required=False,
                max_length=300,
            )
        for code in analytes:
            analyte = ANALYTES[code]
            if analyte.is_categorical:
                self.fields[f"lab_{code}_value"] = forms.ChoiceField(
                    label=analyte.name,
                    required=False,
                    choices=[("", "—"), *((c, c.capitalize()) for c in analyte.categories)],
                )
            else:
                self.fields[f"lab_{code}_value"] = forms.CharField(
                    label=analyte.name,
                    required=False,
                    max_length=30,
                    widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
                )
                self.fields[f"lab_{code}_unit"] = forms.ChoiceField(
                    label=f"{analyte.name}: unit",
                    choices=[(u, u) for u in analyte.accepted_units],
                    required=False,
                )
                self.initial.setdefault(f"lab_{code}_unit", analyte.canonical_unit)
        self.fields["notes"] = forms.CharField(
            required=False, widget=forms.Textarea(attrs={"rows": 2})
        )
        self.fields["reason"] = forms.CharField(
            label="Reason for change",
            required=correcting,
            help_text="Required to correct a visit already recorded (audit trail).",
            widget=forms.TextInput(attrs={"autocomplete": "off"}),
        )
        if not correcting:
            self.fields["reason"].widget = forms.HiddenInput()

    def finalise(self) -> None:
        """Autofocus the first field in error, else the visit date."""
        target = next((name for name in self.fields if name in self.errors), "visit_date")
        self.fields[target].widget.attrs["autofocus"] = True
        for name in self.errors:
            if name in self.fields:
                self.fields[name].widget.attrs["aria-invalid"] = "true"
                self.fields[name].widget.attrs["aria-describedby"] = f"{name}_error"

    def dose_rows(self):
        for agent in self.agents:
            code = agent.code
            yield {
                "agent": agent,
                "planned": self.allowed.get(code),
                "status": self[f"dose_{code}_status"],
                "mg": self[f"dose_{code}_mg"],
                "reason": self[f"dose_{code}_reason"],
            }

    def lab_groups(self):
        groups: dict[str, list] = {}
        for code in self.analytes:
            analyte = ANALYTES[code]
            groups.setdefault(GROUP_LABELS[analyte.group], []).append(
                {
                    "analyte": analyte,
                    "value": self[f"lab_{code}_value"],
                    "unit": self[f"lab_{code}_unit"] if not analyte.is_categorical else None,
                }
            )
        return groups.items()

    def dose_inputs(self):
        from trials.services import DoseInput

        inputs = []
        for agent in self.agents:
            code = agent.code
            status = self.cleaned_data.get(f"dose_{code}_status") or ""
            mg = self.cleaned_data.get(f"dose_{code}_mg")
            reason = self.cleaned_data.get(f"dose_{code}_reason") or ""
            if not status and mg is None and not reason:
                continue  # not recorded at this visit
            inputs.append(
                DoseInput(agent=code, status=status or "given", dose_mg=mg, reason=reason)
            )
        return inputs

    def lab_inputs(self):
        from trials.services import LabInput

        return [
            LabInput(
                analyte=code,
                value=self.cleaned_data.get(f"lab_{code}_value") or "",
                unit=self.cleaned_data.get(f"lab_{code}_unit") or "",
            )
            for code in self.analytes
        ]

    @staticmethod
    def field_for(key: str) -> str | None:
        """Map a service message key (``doses.IXA.dose``) to a form field name."""
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "doses":
            suffix = {"dose": "mg", "status": "status", "reason": "reason"}.get(parts[2])
            return f"dose_{parts[1]}_{suffix}" if suffix else None
        if len(parts) == 3 and parts[0] == "labs":
            return f"lab_{parts[1]}_{'unit' if parts[2] == 'unit' else 'value'}"
        return key


# --- Trial design -------------------------------------------------------------------------


def _int_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.replace(";", ",").split(",") if x.strip()]
    except ValueError:
        raise ValidationError(
            "List whole numbers separated by commas, e.g. 1, 8, 15, 22."
        ) from None


class DesignAmendForm(forms.Form):
    """The settings a trial admin changes most; anything else through "other changes"."""

    dlt_window_days = forms.IntegerField(label="DLT window (days)")
    cycle_length_days = forms.IntegerField(label="Cycle length (days)")
    ctcae_version = forms.ChoiceField(choices=[("5.0", "5.0"), ("6.0", "6.0")])
    sae_full_report_days = forms.IntegerField(label="SAE full report due (days)")
    cycle_1_visit_days = forms.CharField(label="Cycle 1 visit days")
    visit_days = forms.CharField(label="Visit days, later cycles")
    window_days = forms.IntegerField(label="Visit window (± days)")
    follow_up_every_weeks = forms.IntegerField(label="Follow-up every (weeks)")
    response_criteria = forms.ChoiceField(
        choices=[
            ("IMWG2016", "IMWG 2016"),
            ("RECIST1.0", "RECIST 1.0"),
            ("RECIST1.1", "RECIST 1.1"),
        ]
    )
    other_changes = forms.JSONField(
        required=False,
        label="Other changes (JSON)",
        help_text='A partial design, e.g. {"escalation": {"allow_deescalate": true}}',
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    effective_date = forms.DateField(widget=DATE)
    label = forms.CharField(required=False, max_length=60, help_text="e.g. Amendment 2")
    reason = forms.CharField(
        label="Reason for the amendment", widget=forms.Textarea(attrs={"rows": 2})
    )

    @classmethod
    def initial_for(cls, design) -> dict:
        schedule = design.visit_schedule
        return {
            "dlt_window_days": design.dlt_window_days,
            "cycle_length_days": design.cycle_length_days,
            "ctcae_version": design.ctcae_version,
            "sae_full_report_days": design.sae_full_report_days,
            "cycle_1_visit_days": ", ".join(map(str, schedule.cycle_1_visit_days)),
            "visit_days": ", ".join(map(str, schedule.visit_days)),
            "window_days": schedule.window_days,
            "follow_up_every_weeks": schedule.follow_up_every_weeks,
            "response_criteria": design.response.criteria,
        }

    def clean_cycle_1_visit_days(self):
        return _int_list(self.cleaned_data["cycle_1_visit_days"])

    def clean_visit_days(self):
        return _int_list(self.cleaned_data["visit_days"])

    def changes(self) -> dict:
        d = self.cleaned_data
        changes = {
            "dlt_window_days": d["dlt_window_days"],
            "cycle_length_days": d["cycle_length_days"],
            "ctcae_version": d["ctcae_version"],
            "sae_full_report_days": d["sae_full_report_days"],
            "visit_schedule": {
                "cycle_1_visit_days": d["cycle_1_visit_days"],
                "visit_days": d["visit_days"],
                "window_days": d["window_days"],
                "follow_up_every_weeks": d["follow_up_every_weeks"],
            },
            "response": {"criteria": d["response_criteria"]},
        }
        other = d.get("other_changes") or {}
        if not isinstance(other, dict):
            raise ValidationError({"other_changes": "Give a JSON object."})
        for key, value in other.items():
            if isinstance(value, dict) and isinstance(changes.get(key), dict):
                changes[key] = {**changes[key], **value}
            else:
                changes[key] = value
        return changes

    @staticmethod
    def field_for(key: str) -> str | None:
        mapping = {
            "design.visit_schedule.cycle_1_visit_days": "cycle_1_visit_days",
            "design.visit_schedule.visit_days": "visit_days",
            "design.visit_schedule.window_days": "window_days",
            "design.visit_schedule.follow_up_every_weeks": "follow_up_every_weeks",
            "design.response.criteria": "response_criteria",
        }
        if key in mapping:
            return mapping[key]
        if key.startswith("design."):
            name = key.removeprefix("design.")
            return name if "." not in name else "other_changes"
        return key
