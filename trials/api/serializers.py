from __future__ import annotations

from rest_framework import serializers

from dosing.models import DoseLevel, DoseLevelDose
from trials.domain.dosing import DoseStatus
from trials.domain.labs import ANALYTES
from trials.domain.transitions import PatientStatus, TrialStatus
from trials.models import (
    Consent,
    DoseAdministration,
    EligibilityCriterion,
    LabResult,
    LastContact,
    Membership,
    Patient,
    PatientStatusChange,
    ProtocolVersion,
    Site,
    Trial,
    TrialAgent,
    TrialSite,
    User,
    Visit,
    VitalStatus,
)


class TokenRequestSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})
    otp_token = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=12,
        help_text="The 6-digit authenticator code: required when the account has an authenticator.",
    )


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField()


class SiteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Site
        fields = ["id", "code", "name", "country"]


class MembershipSerializer(serializers.ModelSerializer):
    trial = serializers.SlugRelatedField(slug_field="code", read_only=True)
    sites = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "trial", "role", "all_sites", "sites", "active"]


class MeSerializer(serializers.ModelSerializer):
    memberships = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "email", "full_name", "memberships"]

    def get_memberships(self, user) -> list[dict]:
        qs = user.memberships.filter(active=True).select_related("trial").prefetch_related("sites")
        return MembershipSerializer(qs, many=True).data


# --- Trials ---------------------------------------------------------------------------------


class TrialSerializer(serializers.ModelSerializer):
    class Meta:
        model = Trial
        fields = ["id", "code", "title", "phase", "status", "registry_id"]


class TrialAgentSerializer(serializers.ModelSerializer):
    class Meta:
        model = TrialAgent
        fields = ["code", "name", "unit", "route", "schedule", "dose_days"]


class DoseLevelDoseSerializer(serializers.ModelSerializer):
    agent = serializers.CharField(source="agent.code")

    class Meta:
        model = DoseLevelDose
        fields = ["agent", "dose", "unit", "schedule"]


class DoseLevelSerializer(serializers.ModelSerializer):
    doses = DoseLevelDoseSerializer(many=True)
    introduced_in = serializers.IntegerField(source="introduced_in.number")
    retired_in = serializers.IntegerField(source="retired_in.number", allow_null=True)

    class Meta:
        model = DoseLevel
        fields = ["number", "label", "is_starting", "doses", "introduced_in", "retired_in"]


class TrialSiteSerializer(serializers.ModelSerializer):
    code = serializers.CharField(source="site.code")
    name = serializers.CharField(source="site.name")

    class Meta:
        model = TrialSite
        fields = ["number", "code", "name", "active"]


class CriterionSerializer(serializers.ModelSerializer):
    class Meta:
        model = EligibilityCriterion
        fields = ["id", "code", "kind", "text"]


class ProtocolVersionSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.email", allow_null=True, default=None)

    class Meta:
        model = ProtocolVersion
        fields = [
            "number",
            "label",
            "effective_date",
            "reason",
            "changes",
            "created_by",
            "created_at",
        ]


class TrialDetailSerializer(TrialSerializer):
    design = serializers.SerializerMethodField()
    agents = TrialAgentSerializer(many=True)
    dose_levels = serializers.SerializerMethodField()
    sites = TrialSiteSerializer(source="trial_sites", many=True)
    criteria = serializers.SerializerMethodField()
    protocol_versions = ProtocolVersionSerializer(many=True)

    class Meta(TrialSerializer.Meta):
        fields = [
            *TrialSerializer.Meta.fields,
            "design",
            "agents",
            "dose_levels",
            "sites",
            "criteria",
            "protocol_versions",
        ]

    def get_design(self, trial) -> dict:
        return self.context["design"].to_dict()

    def get_dose_levels(self, trial) -> list[dict]:
        return DoseLevelSerializer(self.context["dose_levels"], many=True).data

    def get_criteria(self, trial) -> list[dict]:
        return CriterionSerializer(self.context["criteria"], many=True).data


class TrialTransitionSerializer(serializers.Serializer):
    to_status = serializers.ChoiceField(choices=[s.value for s in TrialStatus])
    reason = serializers.CharField(min_length=3, max_length=500)


class AmendmentSerializer(serializers.Serializer):
    changes = serializers.DictField(
        help_text='A partial design document, e.g. {"dlt_window_days": 28}.'
    )
    reason = serializers.CharField(min_length=3, max_length=1000)
    effective_date = serializers.DateField()
    label = serializers.CharField(max_length=60, required=False, allow_blank=True)


# --- Patients -------------------------------------------------------------------------------


class PatientSerializer(serializers.ModelSerializer):
    trial = serializers.SlugRelatedField(slug_field="code", read_only=True)
    site = serializers.SlugRelatedField(slug_field="code", read_only=True)
    label = serializers.CharField(read_only=True)
    dose_level = serializers.IntegerField(source="dose_level.number", allow_null=True, default=None)
    next_visit = serializers.SerializerMethodField()
    overdue_visits = serializers.SerializerMethodField()

    class Meta:
        model = Patient
        fields = [
            "id",
            "label",
            "trial",
            "site",
            "screening_number",
            "study_id",
            "status",
            "sex",
            "given_name",
            "family_name",
            "date_of_birth",
            "enrolment_date",
            "dose_level",
            "height_cm",
            "weight_kg",
            "next_visit",
            "overdue_visits",
            "version",
        ]
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not getattr(instance, "can_see_identifiers", False):
            for field in ("given_name", "family_name", "date_of_birth"):
                data[field] = None
        return data

    def get_next_visit(self, patient) -> dict | None:
        code = getattr(patient, "next_visit_code", None)
        if not code:
            return None
        return {
            "code": code,
            "planned_date": patient.next_visit_date,
            "window_end": patient.next_window_end,
        }

    def get_overdue_visits(self, patient) -> int | None:
        return getattr(patient, "overdue_count", None)


class PatientUpdateSerializer(serializers.Serializer):
    given_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    family_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    date_of_birth = serializers.DateField(required=False, allow_null=True)
    sex = serializers.ChoiceField(choices=Patient._meta.get_field("sex").choices, required=False)
    version = serializers.IntegerField(
        min_value=1, help_text="The version you read; a stale version is refused with 409."
    )
    reason = serializers.CharField(
        min_length=3, max_length=500, help_text="Why the record changes (audit trail)."
    )


class PatientScreenSerializer(serializers.Serializer):
    trial = serializers.CharField(help_text="Trial code, e.g. IPD")
    site = serializers.CharField(help_text="Site code")
    screening_number = serializers.CharField(
        max_length=30, required=False, allow_blank=True, help_text="Blank: the next free number."
    )
    given_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    family_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    date_of_birth = serializers.DateField(required=False, allow_null=True)
    sex = serializers.ChoiceField(
        choices=Patient._meta.get_field("sex").choices, required=False, allow_blank=True
    )
    height_cm = serializers.DecimalField(
        max_digits=5, decimal_places=1, required=False, allow_null=True
    )
    weight_kg = serializers.DecimalField(
        max_digits=5, decimal_places=1, required=False, allow_null=True
    )


class EligibilityRowSerializer(serializers.Serializer):
    code = serializers.CharField(source="criterion.code")
    kind = serializers.CharField(source="criterion.kind")
    text = serializers.CharField(source="criterion.text")
    answer = serializers.BooleanField(allow_null=True)
    note = serializers.CharField()
    failing = serializers.BooleanField()


class EligibilitySerializer(serializers.Serializer):
    status = serializers.CharField()
    complete = serializers.BooleanField()
    eligible = serializers.BooleanField()
    failing = serializers.ListField(child=serializers.CharField())
    unanswered = serializers.ListField(child=serializers.CharField())
    criteria = EligibilityRowSerializer(many=True)


class EligibilityAnswerSerializer(serializers.Serializer):
    answers = serializers.DictField(
        child=serializers.BooleanField(allow_null=True),
        help_text='Criterion code → answer: inclusion "met", exclusion "applies".',
    )
    notes = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    reason = serializers.CharField(
        required=False, allow_blank=True, help_text="Needed when an earlier answer changes."
    )


class ConsentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Consent
        fields = ["id", "version", "consent_date", "withdrawn_date", "created_at"]
        read_only_fields = ["id", "withdrawn_date", "created_at"]


class EnrolSerializer(serializers.Serializer):
    enrolment_date = serializers.DateField()
    planned_start_date = serializers.DateField(
        required=False, allow_null=True, help_text="Planned cycle 1 day 1 (default: enrolment)."
    )
    dose_level = serializers.IntegerField(
        required=False, allow_null=True, help_text="Dose level number (−1, 1, 2, …)."
    )
    height_cm = serializers.DecimalField(
        max_digits=5, decimal_places=1, required=False, allow_null=True
    )
    weight_kg = serializers.DecimalField(
        max_digits=5, decimal_places=1, required=False, allow_null=True
    )


class PatientTransitionSerializer(serializers.Serializer):
    to_status = serializers.ChoiceField(choices=[s.value for s in PatientStatus])
    effective_date = serializers.DateField()
    reason_code = serializers.CharField(required=False, allow_blank=True, default="")
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class StatusChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = PatientStatusChange
        fields = [
            "from_status",
            "to_status",
            "effective_date",
            "reason_code",
            "reason",
            "details",
            "created_at",
        ]


class LastContactSerializer(serializers.ModelSerializer):
    vital_status = serializers.ChoiceField(choices=VitalStatus.choices)

    class Meta:
        model = LastContact
        fields = [
            "id",
            "contact_date",
            "vital_status",
            "death_date",
            "cause_of_death",
            "source",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]


# --- Visits, doses, labs --------------------------------------------------------------------


class DoseSerializer(serializers.ModelSerializer):
    agent = serializers.CharField(source="agent.code")

    class Meta:
        model = DoseAdministration
        fields = ["agent", "status", "dose_mg", "allowed_mg", "level_dose", "level_unit", "reason"]


class LabSerializer(serializers.ModelSerializer):
    visit = serializers.IntegerField(source="visit_id", read_only=True)

    class Meta:
        model = LabResult
        fields = [
            "id",
            "visit",
            "analyte",
            "collected_on",
            "value_as_entered",
            "unit_as_entered",
            "value",
            "unit",
            "category",
            "lln",
            "uln",
            "limits_source",
            "version",
        ]
        read_only_fields = fields


class VisitSerializer(serializers.ModelSerializer):
    label = serializers.CharField(read_only=True)
    timing = serializers.SerializerMethodField()
    doses = DoseSerializer(many=True, read_only=True)
    labs = LabSerializer(source="lab_results", many=True, read_only=True)

    class Meta:
        model = Visit
        fields = [
            "id",
            "code",
            "label",
            "kind",
            "cycle",
            "day",
            "planned_date",
            "window_start",
            "window_end",
            "response_assessment",
            "status",
            "timing",
            "visit_date",
            "height_cm",
            "weight_kg",
            "bsa_m2",
            "missed_reason",
            "notes",
            "doses",
            "labs",
            "version",
        ]
        read_only_fields = fields

    def get_timing(self, visit) -> str:
        from trials.domain.schedule import visit_timing

        return visit_timing(
            state=visit.status,
            window_start=visit.window_start,
            window_end=visit.window_end,
            today=self.context["today"],
        ).value


class DoseInputSerializer(serializers.Serializer):
    agent = serializers.CharField(help_text="Agent code, e.g. IXA")
    status = serializers.ChoiceField(choices=[s.value for s in DoseStatus])
    dose_mg = serializers.DecimalField(
        max_digits=8, decimal_places=2, required=False, allow_null=True
    )
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class VisitRecordSerializer(serializers.Serializer):
    visit_date = serializers.DateField()
    version = serializers.IntegerField(
        min_value=1, help_text="The version you read; a stale version is refused with 409."
    )
    height_cm = serializers.DecimalField(
        max_digits=5, decimal_places=1, required=False, allow_null=True
    )
    weight_kg = serializers.DecimalField(
        max_digits=5, decimal_places=1, required=False, allow_null=True
    )
    notes = serializers.CharField(required=False, allow_blank=True)
    doses = DoseInputSerializer(many=True, required=False)
    reason = serializers.CharField(
        required=False, allow_blank=True, help_text="Required to correct a visit already done."
    )


class VisitCreateSerializer(serializers.Serializer):
    visit_date = serializers.DateField()


class VisitMissedSerializer(serializers.Serializer):
    reason = serializers.CharField(min_length=3, max_length=300)
    version = serializers.IntegerField(min_value=1)


class LabCreateSerializer(serializers.Serializer):
    analyte = serializers.ChoiceField(choices=list(ANALYTES))
    value = serializers.CharField(max_length=30, allow_blank=True)
    unit = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    lln = serializers.CharField(required=False, allow_blank=True, allow_null=True, default=None)
    uln = serializers.CharField(required=False, allow_blank=True, allow_null=True, default=None)
    collected_on = serializers.DateField(required=False, allow_null=True)


class LabUpdateSerializer(serializers.Serializer):
    value = serializers.CharField(max_length=30, allow_blank=True)
    unit = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    lln = serializers.CharField(required=False, allow_blank=True, allow_null=True, default=None)
    uln = serializers.CharField(required=False, allow_blank=True, allow_null=True, default=None)
    collected_on = serializers.DateField(required=False, allow_null=True)
    version = serializers.IntegerField(min_value=1)
    reason = serializers.CharField(min_length=3, max_length=500)


class ConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    current_version = serializers.IntegerField()


class HistoryEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    label = serializers.CharField()
    model = serializers.CharField()
    changes = serializers.DictField()
    data = serializers.DictField()
    user_id = serializers.IntegerField(allow_null=True)
    user_email = serializers.CharField(allow_null=True)
    reason = serializers.CharField(allow_null=True)
    url = serializers.CharField(allow_null=True)
