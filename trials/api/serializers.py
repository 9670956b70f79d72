from __future__ import annotations

from rest_framework import serializers

from trials.models import Membership, Patient, Site, Trial, User


class TokenRequestSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})


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


class TrialSerializer(serializers.ModelSerializer):
    class Meta:
        model = Trial
        fields = ["id", "code", "title", "phase", "status", "registry_id"]


class PatientSerializer(serializers.ModelSerializer):
    trial = serializers.SlugRelatedField(slug_field="code", read_only=True)
    site = serializers.SlugRelatedField(slug_field="code", read_only=True)
    label = serializers.CharField(read_only=True)

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
            "version",
        ]
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not getattr(instance, "can_see_identifiers", False):
            for field in ("given_name", "family_name", "date_of_birth"):
                data[field] = None
        return data


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
