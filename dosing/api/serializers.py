"""Serializers of the dosing API (read shapes and request bodies)."""

from __future__ import annotations

from rest_framework import serializers

from dosing.models import (
    MAX_SIMULATIONS,
    DecisionSignature,
    DoseLevel,
    DoseLevelDose,
    EscalationDecision,
    OcSimulationJob,
    SlotAssignment,
)
from dosing.services import OVERRIDE_ACTIONS, RP2D_ACTION


class LevelDoseSerializer(serializers.ModelSerializer):
    agent = serializers.CharField(source="agent.code")
    agent_name = serializers.CharField(source="agent.name")

    class Meta:
        model = DoseLevelDose
        fields = ["agent", "agent_name", "dose", "unit", "schedule"]


class DosingLevelSerializer(serializers.ModelSerializer):
    doses = LevelDoseSerializer(many=True)
    display_label = serializers.CharField()
    introduced_in = serializers.IntegerField(source="introduced_in.number")
    retired_in = serializers.IntegerField(source="retired_in.number", allow_null=True)

    class Meta:
        model = DoseLevel
        fields = [
            "id",
            "number",
            "label",
            "display_label",
            "is_starting",
            "notes",
            "doses",
            "introduced_in",
            "retired_in",
        ]


class LevelDoseInputSerializer(serializers.Serializer):
    agent = serializers.CharField(help_text="The agent's code, e.g. IXA")
    dose = serializers.DecimalField(max_digits=8, decimal_places=2, min_value=0)
    unit = serializers.CharField(required=False, max_length=6, help_text="mg or mg/m2")
    schedule = serializers.CharField(required=False, allow_blank=True, max_length=200)


class DosingLevelCreateSerializer(serializers.Serializer):
    trial = serializers.CharField(help_text="Trial code")
    number = serializers.IntegerField(min_value=-9, max_value=20)
    label = serializers.CharField(required=False, allow_blank=True, max_length=60)
    is_starting = serializers.BooleanField(required=False, default=False)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=300)
    doses = LevelDoseInputSerializer(many=True, allow_empty=False)
    reason = serializers.CharField(required=False, default="dose level defined", max_length=500)


class SlotAssignmentSerializer(serializers.ModelSerializer):
    patient = serializers.CharField(source="patient.label")
    kind = serializers.CharField(read_only=True)
    status = serializers.CharField(read_only=True)

    class Meta:
        model = SlotAssignment
        fields = [
            "id",
            "patient",
            "patient_id",
            "level_number",
            "kind",
            "seat",
            "status",
            "freed_reason",
            "step",
            "assigned_at",
            "freed_at",
        ]


class DecisionSignatureSerializer(serializers.ModelSerializer):
    signer = serializers.CharField(source="signer.email")
    kind = serializers.CharField(read_only=True)
    status = serializers.CharField(read_only=True)

    class Meta:
        model = DecisionSignature
        fields = [
            "id",
            "signer",
            "signed_at",
            "meaning",
            "kind",
            "override_action",
            "override_level_number",
            "reason",
            "snapshot_hash",
            "method",
            "status",
            "voided_at",
            "void_reason",
        ]


DECISION_FIELDS = [
    "id",
    "number",
    "kind",
    "step",
    "status",
    "status_reason",
    "rule_set",
    "rule_id",
    "rule_text",
    "rule_version",
    "action",
    "current_level_number",
    "next_level_number",
    "recommended_level_number",
    "input_hash",
    "created_at",
    "decided_at",
]


class EscalationDecisionSerializer(serializers.ModelSerializer):
    trial = serializers.CharField(source="trial.code")
    kind = serializers.CharField(read_only=True)
    status = serializers.CharField(read_only=True)

    class Meta:
        model = EscalationDecision
        fields = ["trial", *DECISION_FIELDS]


class EscalationDecisionDetailSerializer(serializers.ModelSerializer):
    trial = serializers.CharField(source="trial.code")
    kind = serializers.CharField(read_only=True)
    status = serializers.CharField(read_only=True)
    signatures = DecisionSignatureSerializer(many=True)

    class Meta:
        model = EscalationDecision
        fields = ["trial", *DECISION_FIELDS, "input_snapshot", "output", "applied", "signatures"]


class DecisionSignRequestSerializer(serializers.Serializer):
    meaning = serializers.CharField(max_length=500, help_text="What your signature means")
    password = serializers.CharField(
        style={"input_type": "password"}, trim_whitespace=False, help_text="Your password"
    )
    otp_token = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=10,
        help_text="The authenticator code (required for investigators)",
    )


class DecisionOverrideRequestSerializer(DecisionSignRequestSerializer):
    action = serializers.ChoiceField(choices=[a.value for a in OVERRIDE_ACTIONS] + [RP2D_ACTION])
    level = serializers.IntegerField(required=False, allow_null=True, default=None)
    reason = serializers.CharField(max_length=1000)


class DecisionSignResponseSerializer(serializers.Serializer):
    signature = DecisionSignatureSerializer()
    decision = EscalationDecisionDetailSerializer()


class EscalationStateSerializer(serializers.Serializer):
    trial = serializers.CharField()
    stage = serializers.CharField(allow_null=True)
    step = serializers.IntegerField()
    open_level = serializers.IntegerField(allow_null=True)
    cohort_target = serializers.IntegerField(allow_null=True)
    free_slots = serializers.IntegerField(allow_null=True)
    enrolment = serializers.CharField()
    on_hold = serializers.BooleanField()
    hold_reason = serializers.CharField(allow_blank=True)
    mtd_level = serializers.IntegerField(allow_null=True)
    rp2d_level = serializers.IntegerField(allow_null=True)
    current_decision = EscalationDecisionSerializer(allow_null=True)
    live_recommendation = serializers.DictField()
    up_to_date = serializers.BooleanField(
        help_text="The current decision rests on the data as they are now"
    )


class DecisionTableRowSerializer(serializers.Serializer):
    evaluable = serializers.CharField()
    dlts = serializers.CharField()
    pending = serializers.CharField()
    situation = serializers.CharField()
    action = serializers.CharField()
    rule_id = serializers.CharField()
    decision = serializers.CharField()
    next_level = serializers.CharField()


class DecisionTableSerializer(serializers.Serializer):
    trial = serializers.CharField()
    settings = serializers.DictField()
    rule_version = serializers.CharField()
    rows = DecisionTableRowSerializer(many=True)


class WhatIfSerializer(serializers.Serializer):
    trial = serializers.CharField()
    settings = serializers.DictField()
    current = serializers.DictField()
    outcomes = serializers.ListField(child=serializers.DictField())
    paths = serializers.DictField(help_text="The dose-path tree (children per DLT count)")


class OcQuerySerializer(serializers.Serializer):
    rates = serializers.CharField(help_text="True DLT rates, one per level, comma-separated")
    allow_deescalate = serializers.BooleanField(required=False, allow_null=True, default=None)
    require_six_at_mtd = serializers.BooleanField(required=False, allow_null=True, default=None)


class OcResultSerializer(serializers.Serializer):
    method = serializers.CharField()
    variant = serializers.CharField()
    settings = serializers.DictField()
    true_dlt_rates = serializers.ListField(child=serializers.FloatField())
    levels = serializers.ListField(child=serializers.IntegerField())
    p_no_dose = serializers.FloatField()
    p_select = serializers.ListField(child=serializers.FloatField())
    expected_n = serializers.FloatField()
    expected_dlts = serializers.FloatField()
    expected_n_per_level = serializers.ListField(child=serializers.FloatField())
    rule_version = serializers.CharField()


class OcSimulationRequestSerializer(serializers.Serializer):
    trial = serializers.CharField(help_text="Trial code")
    true_dlt_rates = serializers.ListField(
        child=serializers.FloatField(min_value=0, max_value=1), allow_empty=False
    )
    n_sims = serializers.IntegerField(min_value=1, max_value=MAX_SIMULATIONS)
    seed = serializers.IntegerField(required=False, allow_null=True, min_value=0, default=None)
    allow_deescalate = serializers.BooleanField(required=False, allow_null=True, default=None)
    require_six_at_mtd = serializers.BooleanField(required=False, allow_null=True, default=None)


class OcSimulationSerializer(serializers.ModelSerializer):
    trial = serializers.CharField(source="trial.code")
    status = serializers.CharField(read_only=True)
    finished = serializers.BooleanField()

    class Meta:
        model = OcSimulationJob
        fields = [
            "id",
            "trial",
            "settings",
            "true_dlt_rates",
            "n_sims",
            "seed",
            "status",
            "progress",
            "finished",
            "result",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]
