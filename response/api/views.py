"""The response API: thin views over ``response.selectors`` (reads, scoped by membership) and
``response.services`` (writes). Another site's patient is 404; a role that may not act is 403;
bad input is 400 with field messages; a stale version is 409."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.otp import OtpVerifiedForSigning, signed_payload
from response import selectors, services
from response.api import serializers as s
from response.domain.simon import NoFeasibleDesignError, SimonDesignError, search_designs
from response.models import InvestigatorResponse, RecistLesion, ResponseQuery
from response.services import LesionInput


def conflict(exc: services.ConflictError) -> Response:
    return Response(
        {"detail": str(exc), "current_version": exc.current_version},
        status=status.HTTP_409_CONFLICT,
    )


def patient_detail_payload(patient) -> dict:
    view = selectors.patient_response_view(patient)
    return {
        "response": view.response,
        "timepoints": [row.computed for row in view.rows],
        "entries": [r.entry for r in view.rows if r.entry]
        + ([view.bor_entry] if view.bor_entry else []),
        "queries": view.queries,
        "signatures": view.signatures,
    }


def trial_for_summary(request, code: str):
    trial = selectors.get_trial(request.user, code=code)
    if not selectors.can_read_trial_summary(request.user, trial):
        raise PermissionDenied("Trial summaries are for investigators, statisticians and admins.")
    return trial


# --- Computed responses -------------------------------------------------------------------------


@extend_schema(
    parameters=[OpenApiParameter("trial", str, description="Trial code, e.g. IPD")],
    responses=s.PatientResponseSerializer(many=True),
)
class PatientResponseListView(generics.ListAPIView):
    """Computed best overall responses of the patients you may see."""

    serializer_class = s.PatientResponseSerializer

    def get_queryset(self):
        trial = None
        code = self.request.query_params.get("trial")
        if code:
            trial = selectors.get_trial(self.request.user, code=code)
        return selectors.patient_responses_for_user(self.request.user, trial=trial)


class PatientResponseDetailView(APIView):
    """One patient: computed timepoints with their rule trace, the investigator's entries, the
    queries and the signatures."""

    @extend_schema(responses=s.PatientResponseDetailSerializer)
    def get(self, request, pk: int):
        patient = selectors.get_patient(request.user, pk=pk)
        return Response(s.PatientResponseDetailSerializer(patient_detail_payload(patient)).data)


# --- Investigator entries -------------------------------------------------------------------------


class EntryListView(APIView):
    @extend_schema(responses=s.EntrySerializer(many=True))
    def get(self, request, pk: int):
        patient = selectors.get_patient(request.user, pk=pk)
        return Response(s.EntrySerializer(selectors.investigator_entries(patient), many=True).data)

    @extend_schema(request=s.EntryCreateSerializer, responses={201: s.EntrySerializer})
    def post(self, request, pk: int):
        """Enter the investigator's call at an assessment date, or their best overall response
        (investigators only). Correct an existing entry with PATCH."""
        patient = selectors.get_patient(request.user, pk=pk)
        services.require_patient_role(
            request.user, patient, selectors.INVESTIGATOR_ROLES, "enter responses"
        )
        payload = s.EntryCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        lookup = {"patient": patient, "scope": data["scope"]}
        if data["scope"] == "assessment":
            lookup["assessment_date"] = data.get("assessment_date")
        if InvestigatorResponse.objects.filter(**lookup).exists():
            return Response(
                {
                    "non_field_errors": [
                        "An entry exists: correct it with PATCH, a reason and its version."
                    ]
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        entry = services.investigator_response_record(
            patient=patient,
            scope=data["scope"],
            assessment_date=data.get("assessment_date"),
            category=data["category"],
            pd_basis=data.get("pd_basis", ""),
            note=data.get("note", ""),
            acting_user=request.user,
        )
        return Response(s.EntrySerializer(entry).data, status=status.HTTP_201_CREATED)


class EntryDetailView(APIView):
    def _entry(self, request, pk: int, entry_id: int) -> InvestigatorResponse:
        patient = selectors.get_patient(request.user, pk=pk)
        return get_object_or_404(InvestigatorResponse, patient=patient, pk=entry_id)

    @extend_schema(responses=s.EntrySerializer)
    def get(self, request, pk: int, entry_id: int):
        return Response(s.EntrySerializer(self._entry(request, pk, entry_id)).data)

    @extend_schema(request=s.EntryUpdateSerializer, responses=s.EntrySerializer)
    def patch(self, request, pk: int, entry_id: int):
        entry = self._entry(request, pk, entry_id)
        services.require_patient_role(
            request.user, entry.patient, selectors.INVESTIGATOR_ROLES, "correct responses"
        )
        payload = s.EntryUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            updated = services.investigator_response_record(
                patient=entry.patient,
                scope=entry.scope,
                assessment_date=entry.assessment_date,
                category=data["category"],
                pd_basis=data.get("pd_basis", entry.pd_basis),
                note=data.get("note", entry.note),
                reason=data["reason"],
                expected_version=data["version"],
                acting_user=request.user,
            )
        except services.ConflictError as exc:
            return conflict(exc)
        return Response(s.EntrySerializer(updated).data)


# --- Queries ---------------------------------------------------------------------------------------


@extend_schema(
    parameters=[
        OpenApiParameter("trial", str, description="Trial code"),
        OpenApiParameter("status", str, enum=["open", "answered", "closed", "withdrawn"]),
    ],
    responses=s.QuerySerializer(many=True),
)
class QueryListView(generics.ListAPIView):
    """Response queries on the patients you may see, newest first."""

    serializer_class = s.QuerySerializer

    def get_queryset(self):
        trial = None
        code = self.request.query_params.get("trial")
        if code:
            trial = selectors.get_trial(self.request.user, code=code)
        wanted = self.request.query_params.get("status")
        statuses = [wanted] if wanted else None
        return selectors.queries_for_user(
            self.request.user, trial=trial, statuses=statuses
        ).select_related("answered_by", "closed_by")


class QueryDetailView(APIView):
    def _query(self, request, query_id: int) -> ResponseQuery:
        return get_object_or_404(selectors.queries_for_user(request.user), pk=query_id)

    @extend_schema(responses=s.QuerySerializer)
    def get(self, request, query_id: int):
        return Response(s.QuerySerializer(self._query(request, query_id)).data)


class QueryTransitionView(QueryDetailView):
    @extend_schema(request=s.QueryTransitionSerializer, responses=s.QuerySerializer)
    def post(self, request, query_id: int):
        """Answer (site), close or re-open (investigator) a query; ``text`` is the answer, the
        resolution or why it is re-opened."""
        query = self._query(request, query_id)
        if not selectors.has_patient_role(
            request.user, query.patient, selectors.QUERY_ANSWER_ROLES
        ):
            raise PermissionDenied(
                "Only the site's coordinators and the investigators act on queries."
            )
        payload = s.QueryTransitionSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            updated = services.query_transition(
                query=query,
                to_status=data["to_status"],
                text=data["text"],
                expected_version=data["version"],
                acting_user=request.user,
            )
        except services.ConflictError as exc:
            return conflict(exc)
        return Response(s.QuerySerializer(updated).data)


# --- Signing ---------------------------------------------------------------------------------------


class SignView(APIView):
    permission_classes = [IsAuthenticated, OtpVerifiedForSigning]

    @extend_schema(request=s.SignRequestSerializer, responses={201: s.SignatureSerializer})
    def post(self, request, pk: int):
        """The investigator signs the patient's final response: password re-entered and the
        authenticator code (21 CFR 11.200)."""
        patient = selectors.get_patient(request.user, pk=pk)
        if not selectors.has_patient_role(request.user, patient, selectors.INVESTIGATOR_ROLES):
            raise PermissionDenied("Only investigators sign responses.")
        data = signed_payload(
            request, s.SignRequestSerializer, action=lambda _: f"response:{patient.pk} sign"
        )
        signature = services.response_sign(
            patient=patient, acting_user=request.user, meaning=data["meaning"]
        )
        return Response(s.SignatureSerializer(signature).data, status=status.HTTP_201_CREATED)


# --- RECIST ----------------------------------------------------------------------------------------


def _lesion_input(data: dict) -> LesionInput:
    return LesionInput(
        code=data["code"],
        kind=data["kind"],
        organ=data["organ"],
        baseline_date=data["baseline_date"],
        baseline_diameter_mm=data.get("baseline_diameter_mm"),
        is_node=data.get("is_node", False),
        method=data.get("method", "CT"),
        slice_thickness_mm=data.get("slice_thickness_mm"),
    )


class LesionListView(APIView):
    @extend_schema(responses=s.LesionSerializer(many=True))
    def get(self, request, pk: int):
        patient = selectors.get_patient(request.user, pk=pk)
        return Response(s.LesionSerializer(selectors.recist_lesions(patient), many=True).data)

    @extend_schema(request=s.LesionCreateSerializer, responses={201: s.LesionSerializer})
    def post(self, request, pk: int):
        """Document a baseline lesion; the whole selection must meet the trial's RECIST
        version (limits in total and per organ, measurability, node short axes)."""
        patient = selectors.get_patient(request.user, pk=pk)
        services.require_patient_role(
            request.user, patient, selectors.RECIST_ENTRY_ROLES, "record lesions"
        )
        payload = s.LesionCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        lesion = services.recist_lesion_add(
            patient=patient, lesion=_lesion_input(payload.validated_data), acting_user=request.user
        )
        return Response(s.LesionSerializer(lesion).data, status=status.HTTP_201_CREATED)


class LesionDetailView(APIView):
    @extend_schema(request=s.LesionUpdateSerializer, responses=s.LesionSerializer)
    def patch(self, request, pk: int, lesion_id: int):
        patient = selectors.get_patient(request.user, pk=pk)
        lesion = get_object_or_404(RecistLesion, patient=patient, pk=lesion_id)
        services.require_patient_role(
            request.user, patient, selectors.RECIST_ENTRY_ROLES, "correct lesions"
        )
        payload = s.LesionUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            updated = services.recist_lesion_update(
                lesion=lesion,
                data=_lesion_input(data),
                reason=data["reason"],
                expected_version=data["version"],
                acting_user=request.user,
            )
        except services.ConflictError as exc:
            return conflict(exc)
        return Response(s.LesionSerializer(updated).data)


class RecistAssessmentListView(APIView):
    @extend_schema(responses=s.RecistAssessmentSerializer(many=True))
    def get(self, request, pk: int):
        patient = selectors.get_patient(request.user, pk=pk)
        return Response(
            s.RecistAssessmentSerializer(selectors.recist_assessments(patient), many=True).data
        )

    @extend_schema(
        request=s.RecistAssessmentInputSerializer, responses={200: s.RecistAssessmentSerializer}
    )
    def post(self, request, pk: int):
        """Record an imaging timepoint (target diameters in mm, non-target status, new
        lesions). Correcting an existing date needs ``reason`` and ``version``."""
        patient = selectors.get_patient(request.user, pk=pk)
        services.require_patient_role(
            request.user, patient, selectors.RECIST_ENTRY_ROLES, "record assessments"
        )
        payload = s.RecistAssessmentInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        exists = any(
            a.assessment_date == data["assessment_date"]
            for a in selectors.recist_assessments(patient)
        )
        if exists and (data.get("version") is None or not data.get("reason")):
            return Response(
                {
                    "reason": ["Give a reason for correcting this assessment."],
                    "version": ["Give the version you are correcting."],
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        try:
            assessment = services.recist_assessment_record(
                patient=patient,
                assessment_date=data["assessment_date"],
                measurements=data["measurements"],
                non_target_status=data["non_target_status"],
                new_lesions=data["new_lesions"],
                reason=data.get("reason") or None,
                expected_version=data.get("version"),
                acting_user=request.user,
            )
        except services.ConflictError as exc:
            return conflict(exc)
        fresh = next(a for a in selectors.recist_assessments(patient) if a.pk == assessment.pk)
        return Response(s.RecistAssessmentSerializer(fresh).data)


# --- Trial summaries and Simon --------------------------------------------------------------------


class SummaryView(APIView):
    @extend_schema(responses=s.SummarySerializer)
    def get(self, request, code: str):
        """ORR, ≥ VGPR and ≥ SD with exact Clopper–Pearson 95% CIs, overall and per dose level."""
        trial = trial_for_summary(request, code)
        return Response(s.SummarySerializer(selectors.response_summary(trial)).data)


class WaterfallView(APIView):
    @extend_schema(responses=s.WaterfallBarSerializer(many=True))
    def get(self, request, code: str):
        """Best % change per evaluable patient (M-protein for IMWG, sum of diameters for
        RECIST). The plot itself: /response/trials/<code>/waterfall.png or .svg."""
        trial = trial_for_summary(request, code)
        return Response(s.WaterfallBarSerializer(selectors.waterfall_bars(trial), many=True).data)


class SimonMonitorView(APIView):
    @extend_schema(responses=s.SimonMonitorResponseSerializer)
    def get(self, request, code: str):
        trial = trial_for_summary(request, code)
        monitor = selectors.simon_monitor(trial)
        if monitor is None and selectors.trial_selectors.trial_design(trial).simon is None:
            raise NotFound(f"{trial.code} has no Simon design.")
        return Response(
            s.SimonMonitorResponseSerializer(
                {"monitor": monitor, "notifications": selectors.simon_notifications(trial)}
            ).data
        )


class SimonDesignView(APIView):
    @extend_schema(
        parameters=[s.SimonDesignQuerySerializer],
        responses=s.SimonSearchSerializer,
    )
    def get(self, request):
        """Optimal and minimax Simon (1989) designs for ``p0``, ``p1``, ``alpha``, ``beta`` and
        ``nmax`` (at most 150 here; the command goes to 300)."""
        query = s.SimonDesignQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        try:
            result = search_designs(q["p0"], q["p1"], q["alpha"], q["beta"], q["nmax"])
        except SimonDesignError as exc:
            return Response({"non_field_errors": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        except NoFeasibleDesignError as exc:
            return Response({"nmax": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        data = {
            "p0": result.p0,
            "p1": result.p1,
            "alpha_target": result.alpha_target,
            "beta_target": result.beta_target,
            "nmax": result.nmax,
            "optimal": result.optimal,
            "minimax": result.minimax,
            "warnings": list(result.warnings),
            "rule_version": result.rule_version,
        }
        return Response(s.SimonSearchSerializer(data).data)
