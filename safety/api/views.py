"""The safety API: thin views over ``safety.selectors`` (reads) and ``safety.services`` (writes).

Scoping: every object is looked up among the records the user's memberships cover, so another
site's record is a 404; a user who may read but not write (monitor, statistician, an
investigator entering an AE) gets a 403. Updates carry ``reason`` and ``version``; a stale
version is a 409. Signing endpoints re-check the password (and the authenticator code) with
``config.otp.verify_signature`` before the service runs.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.otp import OtpVerifiedForSigning, signed_payload, user_has_confirmed_device
from safety import selectors, services
from safety.api import serializers as s
from safety.domain.ctcae import load_dictionary
from safety.models import CtcaeTerm
from safety.services import AttributionInput, ConflictError, GradeChange
from trials import selectors as trial_selectors

TRIAL_PARAM = OpenApiParameter("trial", str, description="Trial code, e.g. IPD")
STATUS_PARAM = OpenApiParameter("status", str, description="Only records with this status")


def _trial(request, *, required: bool = False):
    code = request.query_params.get("trial")
    if not code:
        if required:
            raise NotFound("Give the trial: ?trial=<code>.")
        return None
    trial = trial_selectors.trials_for_user(request.user).filter(code=code).first()
    if trial is None:
        raise NotFound(f"No trial {code!r} among your trials.")
    return trial


def _conflict(exc: ConflictError) -> Response:
    return Response(
        {"detail": str(exc), "current_version": exc.current_version},
        status=status.HTTP_409_CONFLICT,
    )


WRITE_DENIED = "Only the site's coordinators and trial admins record adverse events."


def _require_writer(user, patient) -> None:
    if not selectors.can_write_adverse_events(user, patient):
        raise PermissionDenied(WRITE_DENIED)


def _require_writer_before_body(request) -> None:
    """A 403 before the body is validated, whatever the body: for the patient it names when
    that is one of the user's patients, else for a user who records adverse events nowhere."""
    ref = request.data.get("patient") if isinstance(request.data, dict) else None
    if isinstance(ref, int | str) and str(ref).isdigit() and len(str(ref)) <= 18:
        patient = trial_selectors.patients_for_user(request.user).filter(pk=int(ref)).first()
        if patient is not None:
            _require_writer(request.user, patient)
            return
    roles = trial_selectors.active_memberships(request.user).values_list("role", flat=True)
    if not set(roles) & set(selectors.AE_WRITE_ROLES):
        raise PermissionDenied(WRITE_DENIED)


def _require_signer(user, patient) -> None:
    if not selectors.can_sign(user, patient):
        raise PermissionDenied("Only an investigator of the patient's site signs.")


def _method(user) -> str:
    return "password+otp" if user_has_confirmed_device(user) else "password"


def _attributions(items) -> list[AttributionInput]:
    return [AttributionInput(i["agent"], i["attribution"], i["action_taken"]) for i in items]


class CtcaeTermSearchView(APIView):
    """Search the CTCAE dictionary of the trial's version (term or system organ class)."""

    @extend_schema(
        parameters=[
            TRIAL_PARAM,
            OpenApiParameter("search", str, description="Words of the term or SOC"),
        ],
        responses=s.CtcaeTermSerializer(many=True),
    )
    def get(self, request):
        trial = _trial(request, required=True)
        version = selectors.ctcae_version_for(trial)
        query = request.query_params.get("search", "")
        try:
            hits = load_dictionary(version).search(query, limit=20)
        except ValueError:
            return Response([])
        codes = [t.meddra_code for t in hits]
        rows = {
            t.meddra_code: t
            for t in CtcaeTerm.objects.filter(version=version, meddra_code__in=codes)
        }
        ordered = [rows[c] for c in codes if c in rows]
        return Response(s.CtcaeTermSerializer(ordered, many=True).data)


@extend_schema(parameters=[TRIAL_PARAM, OpenApiParameter("patient", int)])
class AdverseEventListView(ListAPIView):
    """Adverse events of the patients you may see; POST records one."""

    serializer_class = s.AdverseEventSerializer

    def get_queryset(self):
        trial = _trial(self.request)
        qs = selectors.adverse_events_for_user(self.request.user, trial=trial)
        patient = self.request.query_params.get("patient")
        if patient:
            qs = qs.filter(patient_id=patient) if patient.isdigit() else qs.none()
        return qs

    @extend_schema(
        request=s.AdverseEventCreateSerializer, responses={201: s.AdverseEventSerializer}
    )
    def post(self, request):
        _require_writer_before_body(request)
        payload = s.AdverseEventCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        patient = (
            trial_selectors.patients_for_user(request.user).filter(pk=data.pop("patient")).first()
        )
        if patient is None:
            raise NotFound("No such patient among yours.")
        _require_writer(request.user, patient)
        data["grade_changes"] = [
            GradeChange(g["on"], g["grade"]) for g in data.get("grade_changes", [])
        ]
        data["attributions"] = _attributions(data.get("attributions", []))
        ae = services.adverse_event_create(patient=patient, acting_user=request.user, **data)
        fresh = selectors.get_adverse_event_for_user(request.user, pk=ae.pk)
        return Response(s.AdverseEventSerializer(fresh).data, status=status.HTTP_201_CREATED)


class AdverseEventDetailView(APIView):
    @extend_schema(responses=s.AdverseEventSerializer)
    def get(self, request, pk: int):
        ae = selectors.get_adverse_event_for_user(request.user, pk=pk)
        return Response(s.AdverseEventSerializer(ae).data)

    @extend_schema(request=s.AdverseEventUpdateSerializer, responses=s.AdverseEventSerializer)
    def patch(self, request, pk: int):
        ae = selectors.get_adverse_event_for_user(request.user, pk=pk)
        _require_writer(request.user, ae.patient)
        payload = s.AdverseEventUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        reason, version = data.pop("reason"), data.pop("version")
        if "grades" in data:
            data["grades"] = [GradeChange(g["on"], g["grade"]) for g in data["grades"]]
        if "attributions" in data:
            data["attributions"] = _attributions(data["attributions"])
        try:
            services.adverse_event_update(
                adverse_event=ae,
                acting_user=request.user,
                reason=reason,
                expected_version=version,
                **data,
            )
        except ConflictError as exc:
            return _conflict(exc)
        fresh = selectors.get_adverse_event_for_user(request.user, pk=ae.pk)
        return Response(s.AdverseEventSerializer(fresh).data)

    @extend_schema(request=s.DeleteRequestSerializer, responses={204: None})
    def delete(self, request, pk: int):
        """Remove an event entered in error (not once adjudicated or reported as an SAE)."""
        ae = selectors.get_adverse_event_for_user(request.user, pk=pk)
        _require_writer(request.user, ae.patient)
        payload = s.DeleteRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            services.adverse_event_delete(
                adverse_event=ae,
                acting_user=request.user,
                reason=payload.validated_data["reason"],
                expected_version=payload.validated_data["version"],
            )
        except ConflictError as exc:
            return _conflict(exc)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AdverseEventGradeChangeView(APIView):
    """Record a grade change of an event (the maximum grade follows)."""

    @extend_schema(request=s.GradeChangeRequestSerializer, responses=s.AdverseEventSerializer)
    def post(self, request, pk: int):
        ae = selectors.get_adverse_event_for_user(request.user, pk=pk)
        _require_writer(request.user, ae.patient)
        payload = s.GradeChangeRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            services.adverse_event_grade_change(
                adverse_event=ae,
                grade=data["grade"],
                on_date=data["on_date"],
                acting_user=request.user,
                reason=data["reason"],
                expected_version=data["version"],
            )
        except ConflictError as exc:
            return _conflict(exc)
        fresh = selectors.get_adverse_event_for_user(request.user, pk=ae.pk)
        return Response(s.AdverseEventSerializer(fresh).data)


class AdverseEventAttributionView(APIView):
    """Set the attribution to one agent and the action taken with it."""

    @extend_schema(request=s.AttributionRequestSerializer, responses=s.AdverseEventSerializer)
    def post(self, request, pk: int):
        ae = selectors.get_adverse_event_for_user(request.user, pk=pk)
        _require_writer(request.user, ae.patient)
        payload = s.AttributionRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            services.adverse_event_attribute(
                adverse_event=ae,
                agent=data["agent"],
                attribution=data["attribution"],
                action_taken=data["action_taken"],
                acting_user=request.user,
                reason=data["reason"],
                expected_version=data["version"],
            )
        except ConflictError as exc:
            return _conflict(exc)
        fresh = selectors.get_adverse_event_for_user(request.user, pk=ae.pk)
        return Response(s.AdverseEventSerializer(fresh).data)


@extend_schema(parameters=[TRIAL_PARAM, STATUS_PARAM])
class LabSuggestionListView(ListAPIView):
    """Lab results graded >= 3, to confirm as adverse events or dismiss (pending by default)."""

    serializer_class = s.LabSuggestionSerializer

    def get_queryset(self):
        return selectors.lab_suggestions_for_user(
            self.request.user,
            trial=_trial(self.request),
            status=self.request.query_params.get("status", "pending"),
        )


class LabSuggestionConfirmView(APIView):
    """Confirm a lab suggestion: a new adverse event (prefilled), or a grade change of one."""

    @extend_schema(
        request=s.LabSuggestionConfirmSerializer, responses={201: s.AdverseEventSerializer}
    )
    def post(self, request, pk: int):
        suggestion = selectors.get_lab_suggestion_for_user(request.user, pk=pk)
        _require_writer(request.user, suggestion.patient)
        payload = s.LabSuggestionConfirmSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        existing = None
        if data.get("existing_event"):
            existing = (
                selectors.adverse_events_for_user(request.user, patient=suggestion.patient)
                .filter(pk=data["existing_event"])
                .first()
            )
            if existing is None:
                raise NotFound("No such event of this patient.")
        extra = {}
        if data.get("attributions") and existing is None:
            extra["attributions"] = _attributions(data["attributions"])
        try:
            ae = services.lab_suggestion_confirm(
                suggestion=suggestion,
                acting_user=request.user,
                expected_version=data["version"],
                existing_event=existing,
                reason=data.get("reason", ""),
                **extra,
            )
        except ConflictError as exc:
            return _conflict(exc)
        fresh = selectors.get_adverse_event_for_user(request.user, pk=ae.pk)
        return Response(s.AdverseEventSerializer(fresh).data, status=status.HTTP_201_CREATED)


class LabSuggestionDismissView(APIView):
    @extend_schema(request=s.LabSuggestionDismissSerializer, responses=s.LabSuggestionSerializer)
    def post(self, request, pk: int):
        suggestion = selectors.get_lab_suggestion_for_user(request.user, pk=pk)
        _require_writer(request.user, suggestion.patient)
        payload = s.LabSuggestionDismissSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            services.lab_suggestion_dismiss(
                suggestion=suggestion,
                reason=payload.validated_data["reason"],
                acting_user=request.user,
                expected_version=payload.validated_data["version"],
            )
        except ConflictError as exc:
            return _conflict(exc)
        fresh = selectors.get_lab_suggestion_for_user(request.user, pk=pk)
        return Response(s.LabSuggestionSerializer(fresh).data)


@extend_schema(parameters=[TRIAL_PARAM, STATUS_PARAM])
class DltWindowListView(ListAPIView):
    """Each dosed patient's DLT window: dates, status and reason, soonest-closing first."""

    serializer_class = s.DltWindowSerializer

    def get_queryset(self):
        return selectors.dlt_windows_for_user(
            self.request.user,
            trial=_trial(self.request),
            status=self.request.query_params.get("status"),
        )


@extend_schema(parameters=[TRIAL_PARAM, STATUS_PARAM])
class PotentialDltListView(ListAPIView):
    """Adverse events the DLT rules flagged, with their adjudication."""

    serializer_class = s.PotentialDltSerializer

    def get_queryset(self):
        return selectors.potential_dlts_for_user(
            self.request.user,
            trial=_trial(self.request),
            status=self.request.query_params.get("status"),
        )


class PotentialDltAdjudicateView(APIView):
    """An investigator confirms or rejects a potential DLT: reason, meaning, password (and the
    authenticator code). The escalation evaluation is enqueued after commit."""

    permission_classes = [IsAuthenticated, OtpVerifiedForSigning]

    @extend_schema(request=s.AdjudicationRequestSerializer, responses=s.PotentialDltSerializer)
    def post(self, request, pk: int):
        potential = selectors.get_potential_dlt_for_user(request.user, pk=pk)
        _require_signer(request.user, potential.adverse_event.patient)
        data = signed_payload(
            request,
            s.AdjudicationRequestSerializer,
            action=lambda d: f"potential_dlt:{potential.pk} {d['decision']}",
        )
        try:
            services.potential_dlt_adjudicate(
                potential_dlt=potential,
                decision=data["decision"],
                reason=data["reason"],
                signer=request.user,
                meaning=data["meaning"],
                acting_user=request.user,
                expected_version=data["version"],
                signature_method=_method(request.user),
            )
        except ConflictError as exc:
            return _conflict(exc)
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from None
        fresh = selectors.get_potential_dlt_for_user(request.user, pk=pk)
        return Response(s.PotentialDltSerializer(fresh).data)


def _sae_response(reports, *, many: bool):
    now = timezone.now()
    items = list(reports) if many else [reports]
    clocks = {r.pk: selectors.sae_report_clock(r, now=now) for r in items}
    return s.SaeReportSerializer(reports, many=many, context={"clocks": clocks}).data


@extend_schema(parameters=[TRIAL_PARAM])
class SaeReportListView(ListAPIView):
    """SAE reports with their clocks (due, overdue, submitted on time or late)."""

    serializer_class = s.SaeReportSerializer

    def get_queryset(self):
        return selectors.sae_reports_for_user(self.request.user, trial=_trial(self.request))

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(_sae_response(page, many=True))


class SaeReportDetailView(APIView):
    @extend_schema(responses=s.SaeReportSerializer)
    def get(self, request, pk: int):
        report = selectors.get_sae_report_for_user(request.user, pk=pk)
        return Response(_sae_response(report, many=False))


class SaeReportSubmitView(APIView):
    """Record that the initial or the full report went to the sponsor."""

    @extend_schema(request=s.SaeSubmitSerializer, responses=s.SaeReportSerializer)
    def post(self, request, pk: int):
        report = selectors.get_sae_report_for_user(request.user, pk=pk)
        patient = report.adverse_event.patient
        if not (
            selectors.can_write_adverse_events(request.user, patient)
            or selectors.can_sign(request.user, patient)
        ):
            raise PermissionDenied("Only the site's coordinators and investigators submit.")
        payload = s.SaeSubmitSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            services.sae_report_submit(
                sae_report=report,
                kind=data["report"],
                acting_user=request.user,
                expected_version=data["version"],
                submitted_at=data.get("submitted_at"),
                narrative=data.get("narrative"),
            )
        except ConflictError as exc:
            return _conflict(exc)
        return Response(
            _sae_response(selectors.get_sae_report_for_user(request.user, pk=pk), many=False)
        )


class SaeReportSignView(APIView):
    """The investigator signs the full report (meaning, password, authenticator code)."""

    permission_classes = [IsAuthenticated, OtpVerifiedForSigning]

    @extend_schema(request=s.SignatureInputSerializer, responses=s.SaeReportSerializer)
    def post(self, request, pk: int):
        report = selectors.get_sae_report_for_user(request.user, pk=pk)
        _require_signer(request.user, report.adverse_event.patient)
        data = signed_payload(
            request, s.SignatureInputSerializer, action=lambda d: f"sae_report:{report.pk} sign"
        )
        try:
            services.sae_report_sign(
                sae_report=report,
                signer=request.user,
                meaning=data["meaning"],
                acting_user=request.user,
                expected_version=data["version"],
                signature_method=_method(request.user),
            )
        except ConflictError as exc:
            return _conflict(exc)
        return Response(
            _sae_response(selectors.get_sae_report_for_user(request.user, pk=pk), many=False)
        )


class AeTablesView(APIView):
    """AEs by term and worst grade (all grades, grade >= 3), overall and by dose level."""

    @extend_schema(parameters=[TRIAL_PARAM], responses=s.AeTablesSerializer)
    def get(self, request):
        trial = _trial(request, required=True)
        overall, by_level = selectors.ae_tables(
            trial, patients=trial_selectors.patients_for_user(request.user, trial=trial)
        )
        data = {"overall": overall, "by_dose_level": [table for _, table in by_level]}
        return Response(s.AeTablesSerializer(data).data)


class DltListingView(APIView):
    """Confirmed DLTs per dose level, as papers report them."""

    @extend_schema(parameters=[TRIAL_PARAM], responses=s.DltListingRowSerializer(many=True))
    def get(self, request):
        trial = _trial(request, required=True)
        rows = selectors.dlt_listing(
            trial, patients=trial_selectors.patients_for_user(request.user, trial=trial)
        )
        return Response(s.DltListingRowSerializer(rows, many=True).data)
