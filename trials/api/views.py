from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from trials import selectors, services
from trials.api import serializers as s
from trials.audit import history_for
from trials.views import HISTORY_KINDS, PATIENT_EDIT_ROLES, hidden_history_fields, history_object


class TokenThrottle(AnonRateThrottle):
    scope = "token"


class TokenView(APIView):
    """Exchange an email and password for an API token."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [TokenThrottle]

    @extend_schema(request=s.TokenRequestSerializer, responses={200: s.TokenResponseSerializer})
    def post(self, request):
        serializer = s.TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(
            request=request._request,
            username=serializer.validated_data["email"],
            password=serializer.validated_data["password"],
        )
        if user is None or not user.is_active:
            return Response(
                {"non_field_errors": ["Email or password is not correct."]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


class MeView(APIView):
    @extend_schema(responses=s.MeSerializer)
    def get(self, request):
        return Response(s.MeSerializer(request.user).data)


class TrialViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.TrialSerializer
    lookup_field = "code"

    def get_queryset(self):
        return selectors.trials_for_user(self.request.user)


class SiteViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.SiteSerializer

    def get_queryset(self):
        return selectors.sites_for_user(self.request.user)


@extend_schema(parameters=[OpenApiParameter("trial", str, description="Trial code, e.g. IPD")])
class PatientViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = s.PatientSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self):
        trial = None
        code = self.request.query_params.get("trial")
        if code:
            trial = selectors.trials_for_user(self.request.user).filter(code=code).first()
            if trial is None:
                raise NotFound(f"No trial {code!r} among your trials.")
        return selectors.patients_for_user(self.request.user, trial=trial).order_by(
            "trial__code", "site__code", "screening_number"
        )

    @extend_schema(request=s.PatientUpdateSerializer, responses=s.PatientSerializer)
    def partial_update(self, request, *args, **kwargs):
        patient = self.get_object()
        if not selectors.user_has_role(
            request.user, trial=patient.trial, roles=PATIENT_EDIT_ROLES, site=patient.site
        ):
            raise PermissionDenied("Only the site's coordinators and trial admins edit patients.")
        payload = s.PatientUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        reason = data.pop("reason")
        version = data.pop("version")
        try:
            updated = services.patient_update(
                patient=patient,
                acting_user=request.user,
                reason=reason,
                expected_version=version,
                **data,
            )
        except services.ConflictError as exc:
            return Response(
                {"detail": str(exc), "current_version": exc.current_version},
                status=status.HTTP_409_CONFLICT,
            )
        refreshed = self.get_queryset().get(pk=updated.pk)
        return Response(s.PatientSerializer(refreshed).data)


class HistoryView(APIView):
    """The audit trail of one record: who, when, what changed and why."""

    @extend_schema(
        responses=s.HistoryEntrySerializer(many=True),
        parameters=[
            OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=list(HISTORY_KINDS)),
            OpenApiParameter("pk", int, OpenApiParameter.PATH),
        ],
    )
    def get(self, request, kind: str, pk: int):
        obj = history_object(request.user, kind, pk)
        entries = history_for(obj, hide_fields=hidden_history_fields(kind, obj))
        return Response(s.HistoryEntrySerializer(entries, many=True).data)
