"""Serializers of the safety API: output shapes and validated input for the services."""

from __future__ import annotations

from rest_framework import serializers

from safety.models import (
    ActionTaken,
    AdjudicationDecision,
    AdverseEvent,
    AttributionChoice,
    DltWindow,
    Expectedness,
    LabGradeSuggestion,
    Outcome,
    PotentialDlt,
    SaeReport,
)
from safety.models.adverse_events import SERIOUSNESS_FIELDS


class PatientRefSerializer(serializers.Serializer):
    """A patient as everyone may see it: the study ID (never the name)."""

    id = serializers.IntegerField(source="pk")
    label = serializers.CharField()
    site = serializers.CharField(source="site.code")


class CtcaeGradeSerializer(serializers.Serializer):
    grade = serializers.IntegerField()
    text = serializers.CharField(allow_null=True)
    allowed = serializers.BooleanField()


class CtcaeTermSerializer(serializers.Serializer):
    version = serializers.CharField()
    meddra_code = serializers.IntegerField()
    term = serializers.CharField()
    soc = serializers.CharField()
    definition = serializers.CharField(allow_blank=True)
    grades = serializers.SerializerMethodField()

    def get_grades(self, term) -> list[dict]:
        return [{"grade": g, "text": text, "allowed": ok} for g, text, ok in term.grades]


class GradeEpisodeSerializer(serializers.Serializer):
    grade = serializers.IntegerField()
    onset_date = serializers.DateField()
    resolved_on = serializers.DateField(allow_null=True)


class AttributionSerializer(serializers.Serializer):
    agent = serializers.CharField(source="agent.code")
    attribution = serializers.CharField()
    action_taken = serializers.CharField()


class AdverseEventSerializer(serializers.ModelSerializer):
    patient = PatientRefSerializer(read_only=True)
    trial = serializers.CharField(source="patient.trial.code", read_only=True)
    grade_episodes = GradeEpisodeSerializer(many=True, read_only=True)
    attributions = AttributionSerializer(many=True, read_only=True)
    seriousness = serializers.SerializerMethodField()
    is_serious = serializers.BooleanField(read_only=True)
    potential_dlt = serializers.SerializerMethodField()
    sae_report = serializers.SerializerMethodField()

    class Meta:
        model = AdverseEvent
        fields = [
            "id",
            "patient",
            "trial",
            "ctcae_version",
            "meddra_code",
            "term",
            "soc",
            "verbatim",
            "onset_date",
            "resolution_date",
            "max_grade",
            "grade_episodes",
            "seriousness",
            "is_serious",
            "awareness_at",
            "outcome",
            "expectedness",
            "with_fever",
            "with_bleeding",
            "with_transfusion",
            "controlled_within_hours",
            "cycle2_delay_days",
            "attributions",
            "potential_dlt",
            "sae_report",
            "version",
        ]
        read_only_fields = fields

    def get_seriousness(self, ae) -> list[str]:
        return [name for name in SERIOUSNESS_FIELDS if getattr(ae, name)]

    def get_potential_dlt(self, ae) -> dict | None:
        potential = getattr(ae, "potential_dlt", None)
        if potential is None:
            return None
        return {"id": potential.pk, "status": potential.status, "rule_ids": potential.rule_ids}

    def get_sae_report(self, ae) -> dict | None:
        report = getattr(ae, "sae_report", None)
        if report is None:
            return None
        return {"id": report.pk, "status": report.status}


class GradeChangeInputSerializer(serializers.Serializer):
    on = serializers.DateField()
    grade = serializers.IntegerField(min_value=1, max_value=5)


class AttributionInputSerializer(serializers.Serializer):
    agent = serializers.CharField(max_length=12)
    attribution = serializers.ChoiceField(choices=AttributionChoice.choices)
    action_taken = serializers.ChoiceField(choices=ActionTaken.choices, default=ActionTaken.NONE)


class _AdverseEventFieldsSerializer(serializers.Serializer):
    meddra_code = serializers.IntegerField(required=False, help_text="CTCAE term by MedDRA code")
    term = serializers.CharField(required=False, max_length=200, help_text="or by exact name")
    resolution_date = serializers.DateField(required=False, allow_null=True)
    outcome = serializers.ChoiceField(choices=Outcome.choices, required=False)
    expectedness = serializers.ChoiceField(choices=Expectedness.choices, required=False)
    verbatim = serializers.CharField(required=False, allow_blank=True, max_length=300)
    seriousness = serializers.ListField(
        child=serializers.ChoiceField(choices=list(SERIOUSNESS_FIELDS)), required=False
    )
    awareness_at = serializers.DateTimeField(required=False, allow_null=True)
    with_fever = serializers.BooleanField(required=False)
    with_bleeding = serializers.BooleanField(required=False)
    with_transfusion = serializers.BooleanField(required=False)
    controlled_within_hours = serializers.DecimalField(
        max_digits=6, decimal_places=1, required=False, allow_null=True, min_value=0
    )
    cycle2_delay_days = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    attributions = AttributionInputSerializer(many=True, required=False)


class AdverseEventCreateSerializer(_AdverseEventFieldsSerializer):
    patient = serializers.IntegerField()
    onset_date = serializers.DateField()
    grade = serializers.IntegerField(min_value=1, max_value=5, help_text="Grade at onset")
    grade_changes = GradeChangeInputSerializer(many=True, required=False)

    def validate(self, attrs):
        if not attrs.get("meddra_code") and not attrs.get("term"):
            raise serializers.ValidationError({"term": "Give the CTCAE term or its MedDRA code."})
        return attrs


class AdverseEventUpdateSerializer(_AdverseEventFieldsSerializer):
    grades = GradeChangeInputSerializer(
        many=True, required=False, help_text="The whole grade history, onset first."
    )
    version = serializers.IntegerField(
        min_value=1, help_text="The version you read; a stale version is refused with 409."
    )
    reason = serializers.CharField(
        min_length=3, max_length=500, help_text="Why the record changes (audit trail)."
    )


class DeleteRequestSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)
    reason = serializers.CharField(
        min_length=3, max_length=500, help_text="Why the event is removed (audit trail)."
    )


class GradeChangeRequestSerializer(serializers.Serializer):
    grade = serializers.IntegerField(min_value=1, max_value=5)
    on_date = serializers.DateField()
    version = serializers.IntegerField(min_value=1)
    reason = serializers.CharField(min_length=3, max_length=500)


class AttributionRequestSerializer(AttributionInputSerializer):
    version = serializers.IntegerField(min_value=1)
    reason = serializers.CharField(min_length=3, max_length=500)


class LabSuggestionSerializer(serializers.ModelSerializer):
    patient = PatientRefSerializer(read_only=True)
    term = serializers.CharField(source="ctcae_term.term")
    meddra_code = serializers.IntegerField(source="ctcae_term.meddra_code")
    analyte = serializers.CharField(source="lab_result.analyte")
    visit = serializers.CharField(source="lab_result.visit.code")

    class Meta:
        model = LabGradeSuggestion
        fields = [
            "id",
            "patient",
            "analyte",
            "visit",
            "term",
            "meddra_code",
            "grade",
            "collected_on",
            "value",
            "unit",
            "rule_text",
            "status",
            "decision_reason",
            "decided_at",
            "adverse_event",
            "version",
        ]
        read_only_fields = fields


class LabSuggestionConfirmSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)
    existing_event = serializers.IntegerField(
        required=False, allow_null=True, help_text="Add the grade to this event instead."
    )
    attributions = AttributionInputSerializer(many=True, required=False)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500)


class LabSuggestionDismissSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)
    reason = serializers.CharField(min_length=3, max_length=500)


class DltWindowSerializer(serializers.ModelSerializer):
    patient = PatientRefSerializer(read_only=True)
    dose_level = serializers.CharField(source="dose_level.display_label")

    class Meta:
        model = DltWindow
        fields = [
            "id",
            "patient",
            "dose_level",
            "opens_on",
            "last_day",
            "length_days",
            "status",
            "reason",
            "planned_doses",
            "doses_received",
            "evaluated_on",
            "closed_at",
            "version",
        ]
        read_only_fields = fields


class PotentialDltSerializer(serializers.ModelSerializer):
    patient = PatientRefSerializer(source="adverse_event.patient", read_only=True)
    dose_level = serializers.CharField(source="dlt_window.dose_level.display_label")
    term = serializers.CharField(source="adverse_event.term")
    max_grade = serializers.IntegerField(source="adverse_event.max_grade")
    adjudication = serializers.SerializerMethodField()

    class Meta:
        model = PotentialDlt
        fields = [
            "id",
            "adverse_event",
            "patient",
            "dose_level",
            "term",
            "max_grade",
            "rule_ids",
            "reasons",
            "toxicity_onset",
            "status",
            "flagged_at",
            "adjudication",
            "version",
        ]
        read_only_fields = fields

    def get_adjudication(self, potential) -> dict | None:
        valid = getattr(potential, "valid_adjudications", None) or []
        if not valid:
            return None
        adjudication = valid[0]
        return {
            "decision": adjudication.decision,
            "reason": adjudication.reason,
            "by": adjudication.adjudicated_by.email,
            "at": adjudication.adjudicated_at,
            "meaning": adjudication.signature.meaning,
            "data_hash": adjudication.signature.data_hash,
        }


class SignatureInputSerializer(serializers.Serializer):
    meaning = serializers.CharField(min_length=3, max_length=300)
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})
    otp_token = serializers.CharField(required=False, allow_blank=True, max_length=10)
    version = serializers.IntegerField(min_value=1)


class AdjudicationRequestSerializer(SignatureInputSerializer):
    decision = serializers.ChoiceField(choices=AdjudicationDecision.choices)
    reason = serializers.CharField(min_length=3, max_length=1000)


class SaeReportSerializer(serializers.ModelSerializer):
    patient = PatientRefSerializer(source="adverse_event.patient", read_only=True)
    term = serializers.CharField(source="adverse_event.term")
    max_grade = serializers.IntegerField(source="adverse_event.max_grade")
    initial_status = serializers.SerializerMethodField()
    full_status = serializers.SerializerMethodField()
    overdue = serializers.SerializerMethodField()
    signed_by = serializers.SerializerMethodField()

    class Meta:
        model = SaeReport
        fields = [
            "id",
            "adverse_event",
            "patient",
            "term",
            "max_grade",
            "awareness_at",
            "initial_due_at",
            "full_due_at",
            "initial_submitted_at",
            "full_submitted_at",
            "initial_status",
            "full_status",
            "overdue",
            "status",
            "narrative",
            "signed_by",
            "version",
        ]
        read_only_fields = fields

    def _clock(self, report):
        return self.context["clocks"][report.pk]

    def get_initial_status(self, report) -> str:
        return self._clock(report).initial.status.value

    def get_full_status(self, report) -> str:
        return self._clock(report).full.status.value

    def get_overdue(self, report) -> bool:
        return self._clock(report).overdue

    def get_signed_by(self, report) -> str | None:
        return report.signature.signer.email if report.signature_id else None


class SaeSubmitSerializer(serializers.Serializer):
    report = serializers.ChoiceField(
        choices=[("initial", "Initial report"), ("full", "Full report")],
        help_text="Which report was sent to the sponsor.",
    )
    submitted_at = serializers.DateTimeField(required=False, allow_null=True)
    narrative = serializers.CharField(required=False, allow_blank=True)
    version = serializers.IntegerField(min_value=1)


class AeTableRowSerializer(serializers.Serializer):
    term = serializers.CharField()
    soc = serializers.CharField()
    by_grade = serializers.DictField(child=serializers.IntegerField())
    all_grades = serializers.IntegerField()
    grade_3_plus = serializers.IntegerField()


class AeTableSerializer(serializers.Serializer):
    label = serializers.CharField()
    n_patients = serializers.IntegerField()
    rows = AeTableRowSerializer(many=True)


class AeTablesSerializer(serializers.Serializer):
    overall = AeTableSerializer()
    by_dose_level = AeTableSerializer(many=True)


class DltListingPatientSerializer(serializers.Serializer):
    patient_id = serializers.IntegerField()
    patient_label = serializers.CharField()
    toxicities = serializers.ListField(child=serializers.CharField())


class DltListingRowSerializer(serializers.Serializer):
    dose_level = serializers.CharField(source="dose_level.display_label")
    treated = serializers.IntegerField()
    evaluable = serializers.IntegerField()
    with_dlt = serializers.IntegerField()
    pending = serializers.IntegerField()
    not_evaluable = serializers.IntegerField()
    text = serializers.CharField()
    patients = DltListingPatientSerializer(many=True)
