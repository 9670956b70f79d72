"""The dosing API: thin views over ``dosing.selectors`` (reads) and ``dosing.services`` (writes).

Scoping: a trial is looked up among the user's trials (another trial is a 404); a member whose
role does not see the escalation (a site coordinator) gets a 403, and so does anyone but an
investigator signing or overriding. Signing re-checks the password (and the authenticator code)
with ``config.otp.verify_signature`` before the service runs; a decision that is voided,
superseded or already decided answers 409. Bad input is a 400 with field messages, never a 500.
"""

from __future__ import annotations

from dataclasses import replace

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.exceptions import ValidationError as DrfValidationError
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.otp import OtpVerifiedForSigning, signed_payload, user_has_confirmed_device
from dosing import selectors, services
from dosing.api import serializers as s
from dosing.domain.decision_table import decision_table, dose_paths, what_if
from dosing.domain.escalation import (
    RULE_VERSION,
    EscalationInputError,
    EscalationSettings,
    EscalationState,
    input_hash,
)
from dosing.domain.operating_characteristics import exact_operating_characteristics
from dosing.domain.three_plus_three import recommend
from dosing.models import EscalationDecision
from dosing.selectors import EscalationNotConfigured
from dosing.services import DecisionConflict
from trials import selectors as trial_selectors
from trials.models import Trial

TRIAL_PARAM = OpenApiParameter("trial", str, required=True, description="Trial code, e.g. IPD")
READ_DENIED = (
    "Only the trial's investigators, statisticians, monitors and admins see the escalation."
)
SIGN_DENIED = "Only an investigator of the trial signs escalation decisions."
#: Who runs operating-characteristics simulations.
RUN_ROLES = ("investigator", "statistician", "trial_admin")
RUN_DENIED = "Only the trial's investigators, statisticians and admins run simulations."


def _trial(request, code: str | None = None) -> Trial:
    code = code or request.query_params.get("trial")
    if not code:
        raise DrfValidationError({"trial": ["Give the trial: ?trial=<code>."]})
    trial = trial_selectors.trials_for_user(request.user).filter(code=code).first()
    if trial is None:
        raise NotFound(f"No trial {code!r} among your trials.")
    if not selectors.can_read_escalation(request.user, trial):
        raise PermissionDenied(READ_DENIED)
    return trial


def _require_role_before_body(request, roles, denied: str) -> None:
    """Refuse (403) before the body is validated: whatever the body, a user without one of
    ``roles`` gets a 403, not a 400. The role is checked in the trial the body names when it is
    one of the user's trials, else in any of them (the body is then validated as usual)."""
    memberships = trial_selectors.active_memberships(request.user).filter(role__in=list(roles))
    code = request.data.get("trial") if isinstance(request.data, dict) else None
    if isinstance(code, str) and code:
        trial = trial_selectors.trials_for_user(request.user).filter(code=code).first()
        if trial is not None:
            memberships = memberships.filter(trial=trial)
    if not memberships.exists():
        raise PermissionDenied(denied)


def _settings(trial: Trial) -> EscalationSettings:
    try:
        return selectors.escalation_settings(trial, levels=list(selectors.dose_levels(trial)))
    except EscalationNotConfigured as exc:
        raise DrfValidationError({"trial": [str(exc)]}) from None


def _decision(request, pk: int) -> EscalationDecision:
    decision = selectors.get_decision_for_user(request.user, pk=pk)
    if not selectors.can_read_escalation(request.user, decision.trial):
        raise PermissionDenied(READ_DENIED)
    return decision


def _conflict(exc: DecisionConflict) -> Response:
    return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)


def _method(user) -> str:
    return "password+otp" if user_has_confirmed_device(user) else "password"


@extend_schema(parameters=[TRIAL_PARAM])
class DoseLevelListView(APIView):
    """The trial's dose levels (each a set of agent doses, versioned with the protocol); a
    trial admin defines a new one with POST."""

    @extend_schema(
        parameters=[
            TRIAL_PARAM,
            OpenApiParameter("include_retired", bool, description="Also retired levels"),
        ],
        responses=s.DosingLevelSerializer(many=True),
    )
    def get(self, request):
        code = request.query_params.get("trial")
        if not code:
            raise DrfValidationError({"trial": ["Give the trial: ?trial=<code>."]})
        trial = trial_selectors.trials_for_user(request.user).filter(code=code).first()
        if trial is None:
            raise NotFound(f"No trial {code!r} among your trials.")
        retired = request.query_params.get("include_retired") in ("1", "true", "yes")
        levels = selectors.dose_levels(trial, include_retired=retired)
        return Response(s.DosingLevelSerializer(levels, many=True).data)

    @extend_schema(
        parameters=[],
        request=s.DosingLevelCreateSerializer,
        responses={201: s.DosingLevelSerializer},
    )
    def post(self, request):
        _require_role_before_body(
            request,
            trial_selectors.TRIAL_ADMIN_ROLES,
            "Only the trial's admins define dose levels.",
        )
        payload = s.DosingLevelCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        trial = trial_selectors.trials_for_user(request.user).filter(code=data.pop("trial")).first()
        if trial is None:
            raise NotFound("No such trial among your trials.")
        if not trial_selectors.is_trial_admin(request.user, trial):
            raise PermissionDenied("Only the trial's admins define dose levels.")
        level = services.dose_level_create(trial=trial, acting_user=request.user, **data)
        level = selectors.dose_levels(trial).get(pk=level.pk)
        return Response(s.DosingLevelSerializer(level).data, status=status.HTTP_201_CREATED)


@extend_schema(parameters=[TRIAL_PARAM])
class SlotListView(ListAPIView):
    """Every patient's slot: level, seat (1–6 in escalation), held or freed for a replacement."""

    serializer_class = s.SlotAssignmentSerializer

    def get_queryset(self):
        return selectors.slots_for_trial(_trial(self.request))


class EscalationStateView(APIView):
    """Where the trial's escalation stands: open level, free slots (or why enrolment waits),
    the current decision and whether it rests on the data as they are now."""

    @extend_schema(parameters=[TRIAL_PARAM], responses=s.EscalationStateSerializer)
    def get(self, request):
        trial = _trial(request)
        try:
            data = selectors.escalation_input(trial)
            live = recommend(data.settings, data.state)
        except (EscalationNotConfigured, EscalationInputError) as exc:
            raise DrfValidationError({"trial": [str(exc)]}) from None
        esc = selectors.escalation_of(trial)
        slot_status = selectors.enrolment_slot_status(trial)
        current = esc.current_decision if esc else None
        body = {
            "trial": trial.code,
            "stage": esc.stage if esc else None,
            "step": esc.step if esc else 0,
            "open_level": esc.open_level_number if esc else data.settings.start_level,
            "cohort_target": esc.cohort_target if esc else 3,
            "free_slots": slot_status.free_slots,
            "enrolment": slot_status.message,
            "on_hold": bool(esc and esc.on_hold),
            "hold_reason": esc.hold_reason if esc else "",
            "mtd_level": esc.mtd_level_number if esc else None,
            "rp2d_level": esc.rp2d_level_number if esc else None,
            "current_decision": s.EscalationDecisionSerializer(current).data if current else None,
            "live_recommendation": live.to_dict(),
            "up_to_date": current is not None
            and current.input_hash == input_hash(data.settings, data.state),
        }
        return Response(body)


@extend_schema(
    parameters=[
        TRIAL_PARAM,
        OpenApiParameter("status", str, description="Only decisions with this status"),
        OpenApiParameter("kind", str, description="escalation or rp2d"),
    ]
)
class DecisionListView(ListAPIView):
    """The trial's escalation decisions, newest first."""

    serializer_class = s.EscalationDecisionSerializer

    def get_queryset(self):
        qs = selectors.decisions_for_trial(
            _trial(self.request), kind=self.request.query_params.get("kind")
        )
        wanted = self.request.query_params.get("status")
        return qs.filter(status=wanted) if wanted else qs


class DecisionDetailView(APIView):
    """One decision: input snapshot, rule (id, text, version), output, signatures."""

    @extend_schema(responses=s.EscalationDecisionDetailSerializer)
    def get(self, request, pk: int):
        return Response(s.EscalationDecisionDetailSerializer(_decision(request, pk)).data)


class _SigningView(APIView):
    permission_classes = [IsAuthenticated, OtpVerifiedForSigning]
    request_serializer: type = s.DecisionSignRequestSerializer
    override = False

    def post(self, request, pk: int):
        decision = _decision(request, pk)
        if not selectors.can_sign_decisions(request.user, decision.trial):
            raise PermissionDenied(SIGN_DENIED)
        verb = "override" if self.override else "approve"
        data = signed_payload(
            request,
            self.request_serializer,
            action=lambda _: f"escalation_decision:{decision.pk} {verb}",
        )
        try:
            if self.override:
                signature = services.escalation_decision_override(
                    decision=decision,
                    signer=request.user,
                    meaning=data["meaning"],
                    reason=data["reason"],
                    action=data["action"],
                    level=data.get("level"),
                    acting_user=request.user,
                    signature_method=_method(request.user),
                )
            else:
                signature = services.escalation_decision_sign(
                    decision=decision,
                    signer=request.user,
                    meaning=data["meaning"],
                    acting_user=request.user,
                    signature_method=_method(request.user),
                )
        except DecisionConflict as exc:
            return _conflict(exc)
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from None
        fresh = selectors.get_decision_for_user(request.user, pk=pk)
        return Response(
            {
                "signature": s.DecisionSignatureSerializer(signature).data,
                "decision": s.EscalationDecisionDetailSerializer(fresh).data,
            },
            status=status.HTTP_201_CREATED,
        )


class DecisionSignView(_SigningView):
    """An investigator signs the recommendation: meaning, password and authenticator code.
    The first signature opens the decision's step; others co-sign. 409: voided, superseded,
    already decided, or already signed by you."""

    @extend_schema(
        request=s.DecisionSignRequestSerializer, responses={201: s.DecisionSignResponseSerializer}
    )
    def post(self, request, pk: int):
        return super().post(request, pk)


class DecisionOverrideView(_SigningView):
    """An investigator decides another action (and level) than the recommendation, with a
    reason, and signs it; the chosen step opens."""

    request_serializer = s.DecisionOverrideRequestSerializer
    override = True

    @extend_schema(
        request=s.DecisionOverrideRequestSerializer,
        responses={201: s.DecisionSignResponseSerializer},
    )
    def post(self, request, pk: int):
        return super().post(request, pk)


class DecisionTableView(APIView):
    """The complete decision table for the trial's settings (one row per situation)."""

    @extend_schema(parameters=[TRIAL_PARAM], responses=s.DecisionTableSerializer)
    def get(self, request):
        trial = _trial(request)
        settings = _settings(trial)
        return Response(
            {
                "trial": trial.code,
                "settings": settings.to_dict(),
                "rule_version": RULE_VERSION,
                "rows": [row.to_dict() for row in decision_table(settings)],
            }
        )


class WhatIfView(APIView):
    """ "If the next cohort has 0, 1, 2 or 3 DLTs, then …" from the current data (or from the
    start with ``from=start``), with the dose-path tree ``depth`` cohorts ahead (1–3)."""

    @extend_schema(
        parameters=[
            TRIAL_PARAM,
            OpenApiParameter("depth", int, description="Cohorts ahead, 1 to 3 (default 1)"),
            OpenApiParameter("from", str, description="'start': from an empty trial"),
        ],
        responses=s.WhatIfSerializer,
    )
    def get(self, request):
        trial = _trial(request)
        settings = _settings(trial)
        try:
            depth = int(request.query_params.get("depth", "1"))
        except ValueError:
            raise DrfValidationError({"depth": ["A whole number from 1 to 3."]}) from None
        if not 1 <= depth <= 3:
            raise DrfValidationError({"depth": ["A whole number from 1 to 3."]})
        try:
            state = (
                EscalationState(current_level=None)
                if request.query_params.get("from") == "start"
                else selectors.escalation_input(trial).state
            )
            body = {
                "trial": trial.code,
                "settings": settings.to_dict(),
                "current": recommend(settings, state).to_dict(),
                "outcomes": [o.to_dict() for o in what_if(settings, state)],
                "paths": dose_paths(settings, state, depth=depth).to_dict(),
            }
        except (EscalationNotConfigured, EscalationInputError) as exc:
            raise DrfValidationError({"trial": [str(exc)]}) from None
        return Response(body)


def _variant(settings: EscalationSettings, data: dict) -> EscalationSettings:
    changes = {
        k: data[k] for k in ("allow_deescalate", "require_six_at_mtd") if data.get(k) is not None
    }
    return replace(settings, **changes)


class OperatingCharacteristicsView(APIView):
    """Exact operating characteristics (every 3+3 pathway enumerated) for assumed true DLT
    rates, one per level; the trial's variant unless overridden in the query."""

    @extend_schema(
        parameters=[
            TRIAL_PARAM,
            OpenApiParameter("rates", str, required=True, description="e.g. 0.05,0.1,0.2"),
            OpenApiParameter("allow_deescalate", bool),
            OpenApiParameter("require_six_at_mtd", bool),
        ],
        responses=s.OcResultSerializer,
    )
    def get(self, request):
        trial = _trial(request)
        settings = _settings(trial)
        query = s.OcQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rates = services.parse_rates(query.validated_data["rates"], levels=len(settings.levels))
        try:
            oc = exact_operating_characteristics(rates, _variant(settings, query.validated_data))
        except EscalationInputError as exc:
            raise DrfValidationError({"rates": [str(exc)]}) from None
        return Response(oc.to_dict())


class SimulationListView(APIView):
    """Start a Monte Carlo simulation (a Celery job); follow it at its detail URL."""

    @extend_schema(
        request=s.OcSimulationRequestSerializer, responses={201: s.OcSimulationSerializer}
    )
    def post(self, request):
        _require_role_before_body(request, RUN_ROLES, RUN_DENIED)
        payload = s.OcSimulationRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        trial = _trial(request, data["trial"])
        if not trial_selectors.user_has_role(request.user, trial=trial, roles=RUN_ROLES):
            raise PermissionDenied(RUN_DENIED)
        job = services.oc_simulation_start(
            trial=trial,
            settings=_variant(_settings(trial), data),
            true_dlt_rates=data["true_dlt_rates"],
            n_sims=data["n_sims"],
            seed=data.get("seed"),
            acting_user=request.user,
        )
        job = selectors.simulation_jobs(trial).get(pk=job.pk)
        return Response(s.OcSimulationSerializer(job).data, status=status.HTTP_201_CREATED)


class SimulationDetailView(APIView):
    """A simulation job: status, progress 0–100, and the result once done."""

    @extend_schema(responses=s.OcSimulationSerializer)
    def get(self, request, pk: int):
        job = selectors.get_simulation_for_user(request.user, pk=pk)
        if not selectors.can_read_escalation(request.user, job.trial):
            raise PermissionDenied(READ_DENIED)
        return Response(s.OcSimulationSerializer(job).data)
