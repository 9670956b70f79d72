"""Serializers of the response API: read shapes of the stored records, and input shapes that
the views hand to the services (which hold every rule)."""

from __future__ import annotations

from rest_framework import serializers

from response.domain.imwg_discrepancy import PD_BASES
from response.domain.queries import QueryStatus
from response.domain.recist import ImagingMethod
from response.models import (
    RESPONSE_CATEGORY_CHOICES,
    EntryScope,
    InvestigatorResponse,
    PatientResponse,
    RecistAssessment,
    RecistLesion,
    ResponseQuery,
    ResponseSignature,
    ResponseTimepoint,
    SignatureMeaning,
    SimonMonitor,
    SimonNotification,
)
from response.models.recist import NEW_LESION_CHOICES, NON_TARGET_CHOICES, LesionKind

CATEGORY_CODES = [c for c, _ in RESPONSE_CATEGORY_CHOICES]


class UserRefField(serializers.SlugRelatedField):
    def __init__(self, **kwargs):
        super().__init__(slug_field="email", read_only=True, **kwargs)


# --- Read shapes ------------------------------------------------------------------------------


class TimepointSerializer(serializers.ModelSerializer):
    class Meta:
        model = ResponseTimepoint
        fields = [
            "assessment_date",
            "criteria",
            "timepoint",
            "confirmed",
            "status",
            "confirmation_rule",
            "after_new_therapy",
            "flags",
            "pct_change_from_baseline",
            "trace",
            "ruleset_version",
            "input_hash",
            "computed_at",
        ]


class PatientResponseSerializer(serializers.ModelSerializer):
    patient_id = serializers.IntegerField(source="patient.pk", read_only=True)
    study_id = serializers.CharField(source="patient.label", read_only=True)
    trial = serializers.CharField(source="patient.trial.code", read_only=True)
    site = serializers.CharField(source="patient.site.code", read_only=True)

    class Meta:
        model = PatientResponse
        fields = [
            "patient_id",
            "study_id",
            "trial",
            "site",
            "criteria",
            "best_overall_response",
            "best_response_date",
            "first_response_date",
            "progression_date",
            "current_status",
            "baseline_date",
            "last_assessment_date",
            "evaluable",
            "measurable",
            "flags",
            "best_pct_change",
            "waterfall_parameter",
            "ruleset_version",
            "input_hash",
            "evaluated_at",
        ]


class EntrySerializer(serializers.ModelSerializer):
    entered_by = UserRefField()

    class Meta:
        model = InvestigatorResponse
        fields = [
            "id",
            "scope",
            "assessment_date",
            "category",
            "pd_basis",
            "note",
            "entered_by",
            "entered_at",
            "version",
        ]


class QuerySerializer(serializers.ModelSerializer):
    patient_id = serializers.IntegerField(source="patient.pk", read_only=True)
    study_id = serializers.CharField(source="patient.label", read_only=True)
    answered_by = UserRefField()
    closed_by = UserRefField()

    class Meta:
        model = ResponseQuery
        fields = [
            "id",
            "patient_id",
            "study_id",
            "flag",
            "scope",
            "assessment_date",
            "entered",
            "computed",
            "detail",
            "status",
            "raised_at",
            "answer",
            "answered_by",
            "answered_at",
            "resolution",
            "closed_by",
            "closed_at",
            "version",
        ]


class SignatureSerializer(serializers.ModelSerializer):
    signed_by = UserRefField()
    meaning_text = serializers.CharField(source="get_meaning_display", read_only=True)

    class Meta:
        model = ResponseSignature
        fields = [
            "id",
            "signed_by",
            "signed_at",
            "meaning",
            "meaning_text",
            "content",
            "content_hash",
            "voided_at",
            "void_reason",
        ]


class PatientResponseDetailSerializer(serializers.Serializer):
    """Everything about one patient's response: the computed calls with their traces beside
    the investigator's entries, the queries and the signatures."""

    response = PatientResponseSerializer(allow_null=True)
    timepoints = TimepointSerializer(many=True)
    entries = EntrySerializer(many=True)
    queries = QuerySerializer(many=True)
    signatures = SignatureSerializer(many=True)


class LesionSerializer(serializers.ModelSerializer):
    class Meta:
        model = RecistLesion
        fields = [
            "id",
            "code",
            "kind",
            "organ",
            "is_node",
            "method",
            "slice_thickness_mm",
            "baseline_date",
            "baseline_diameter_mm",
            "version",
        ]


class RecistAssessmentSerializer(serializers.ModelSerializer):
    measurements = serializers.SerializerMethodField()

    class Meta:
        model = RecistAssessment
        fields = [
            "id",
            "assessment_date",
            "non_target_status",
            "new_lesions",
            "measurements",
            "version",
        ]

    def get_measurements(self, obj) -> dict[str, str | None]:
        return {
            m.lesion.code: (None if m.diameter_mm is None else str(m.diameter_mm))
            for m in obj.measurements.all()
        }


class RateSerializer(serializers.Serializer):
    x = serializers.IntegerField()
    n = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True)
    lcl = serializers.FloatField(allow_null=True)
    ucl = serializers.FloatField(allow_null=True)
    confidence_level = serializers.FloatField()
    method = serializers.CharField()


class RateRowSerializer(serializers.Serializer):
    label = serializers.CharField()
    n = serializers.IntegerField()
    orr = RateSerializer()
    vgpr_or_better = RateSerializer(allow_null=True)
    sd_or_better = RateSerializer()
    bor_counts = serializers.DictField(child=serializers.IntegerField())


class SummarySerializer(serializers.Serializer):
    trial = serializers.CharField(source="trial.code")
    criteria = serializers.CharField()
    population = serializers.CharField()
    not_evaluable = serializers.IntegerField()
    overall = RateRowSerializer()
    by_dose_level = RateRowSerializer(many=True)


class WaterfallBarSerializer(serializers.Serializer):
    label = serializers.CharField()
    pct_change = serializers.FloatField()
    best_overall_response = serializers.CharField()
    dose_level = serializers.IntegerField(allow_null=True)


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = SimonNotification
        fields = [
            "kind",
            "design_key",
            "subject",
            "body",
            "recipients",
            "created_at",
            "sent_at",
            "error",
        ]


class SimonMonitorSerializer(serializers.ModelSerializer):
    trial = serializers.CharField(source="trial.code", read_only=True)
    rule_text = serializers.SerializerMethodField()

    class Meta:
        model = SimonMonitor
        fields = [
            "trial",
            "r1",
            "n1",
            "r",
            "n",
            "rule_text",
            "design_assumed",
            "design_label",
            "stage",
            "rule",
            "stage1_decidable",
            "stage1_responders",
            "stage1_pending",
            "responders",
            "evaluable_with_outcome",
            "total_responders_in_design",
            "at_futility_boundary",
            "final_verdict",
            "state",
            "population_rule",
            "rule_version",
            "updated_at",
        ]

    def get_rule_text(self, obj) -> str:
        return (
            f"Stop after {obj.n1} patients if {obj.r1 if obj.r1 else 'none'}"
            f"{' or fewer' if obj.r1 else ''} respond; the drug is promising if more than "
            f"{obj.r} of {obj.n} respond."
        )


class SimonMonitorResponseSerializer(serializers.Serializer):
    monitor = SimonMonitorSerializer(allow_null=True)
    notifications = NotificationSerializer(many=True)


class SimonDesignQuerySerializer(serializers.Serializer):
    p0 = serializers.FloatField()
    p1 = serializers.FloatField()
    alpha = serializers.FloatField(default=0.05)
    beta = serializers.FloatField(default=0.20)
    nmax = serializers.IntegerField(default=100, min_value=2, max_value=150)


class SimonDesignSerializer(serializers.Serializer):
    criterion = serializers.CharField()
    r1 = serializers.IntegerField()
    n1 = serializers.IntegerField()
    r = serializers.IntegerField()
    n = serializers.IntegerField()
    en0 = serializers.FloatField()
    pet0 = serializers.FloatField()
    alpha = serializers.FloatField()
    power = serializers.FloatField()
    rule_text = serializers.CharField()
    rule_text_critical = serializers.CharField()


class SimonSearchSerializer(serializers.Serializer):
    p0 = serializers.FloatField()
    p1 = serializers.FloatField()
    alpha_target = serializers.FloatField()
    beta_target = serializers.FloatField()
    nmax = serializers.IntegerField()
    optimal = SimonDesignSerializer()
    minimax = SimonDesignSerializer()
    warnings = serializers.ListField(child=serializers.CharField())
    rule_version = serializers.CharField()


# --- Input shapes -----------------------------------------------------------------------------


class UpdateMixin(serializers.Serializer):
    """Updates of clinical records say why, and from which version."""

    reason = serializers.CharField(min_length=3, max_length=500)
    version = serializers.IntegerField(min_value=1)


class EntryCreateSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=EntryScope.choices)
    assessment_date = serializers.DateField(required=False, allow_null=True)
    category = serializers.ChoiceField(choices=CATEGORY_CODES)
    pd_basis = serializers.ChoiceField(choices=sorted(PD_BASES), required=False, allow_blank=True)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class EntryUpdateSerializer(UpdateMixin):
    category = serializers.ChoiceField(choices=CATEGORY_CODES)
    pd_basis = serializers.ChoiceField(choices=sorted(PD_BASES), required=False, allow_blank=True)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class QueryTransitionSerializer(serializers.Serializer):
    to_status = serializers.ChoiceField(
        choices=[QueryStatus.ANSWERED.value, QueryStatus.CLOSED.value, QueryStatus.OPEN.value]
    )
    text = serializers.CharField(min_length=3, max_length=2000)
    version = serializers.IntegerField(min_value=1)


class SignRequestSerializer(serializers.Serializer):
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})
    otp_token = serializers.CharField(required=False, allow_blank=True, max_length=12)
    meaning = serializers.ChoiceField(
        choices=SignatureMeaning.choices, default=SignatureMeaning.FINAL_RESPONSE
    )


class LesionCreateSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=10)
    kind = serializers.ChoiceField(choices=LesionKind.choices)
    organ = serializers.CharField(max_length=60)
    is_node = serializers.BooleanField(default=False)
    method = serializers.ChoiceField(choices=[m.value for m in ImagingMethod], default="CT")
    slice_thickness_mm = serializers.DecimalField(
        max_digits=4, decimal_places=1, required=False, allow_null=True
    )
    baseline_date = serializers.DateField()
    baseline_diameter_mm = serializers.DecimalField(
        max_digits=6, decimal_places=1, required=False, allow_null=True
    )


class LesionUpdateSerializer(LesionCreateSerializer, UpdateMixin):
    pass


class RecistAssessmentInputSerializer(serializers.Serializer):
    assessment_date = serializers.DateField()
    measurements = serializers.DictField(
        child=serializers.DecimalField(max_digits=6, decimal_places=1, allow_null=True)
    )
    non_target_status = serializers.ChoiceField(
        choices=[c for c, _ in NON_TARGET_CHOICES], default="NON_CR_NON_PD"
    )
    new_lesions = serializers.ChoiceField(choices=[c for c, _ in NEW_LESION_CHOICES], default="NO")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500)
    version = serializers.IntegerField(required=False, min_value=1)
