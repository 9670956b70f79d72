"""The trials API: thin views over selectors (reads) and services (writes).

Reads are scoped by membership (another site's record is a 404); writes of clinical data need a
coordinator or trial-admin role covering the patient's site (otherwise 403); a stale version is
a 409 with the current version; bad input is a 400 with field messages.
"""

from __future__ import annotations

import functools

from django.contrib.auth import authenticate
from django.db.models import Prefetch
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from config.otp import check_otp_token, user_has_confirmed_device
from dosing.selectors import dose_levels
from trials import selectors, services
from trials.api import serializers as s
from trials.audit import history_for
from trials.models import DoseAdministration, LabResult, ProtocolVersion, Site, TrialSite, Visit
from trials.views import HISTORY_KINDS, hidden_history_fields, history_object

CONFLICT_RESPONSES = {409: s.ConflictSerializer}


def conflict_as_409(view_method):
    """A stale version becomes 409 with the current version, never a silent overwrite."""

    @functools.wraps(view_method)
    def wrapper(*args, **kwargs):
        try:
            return view_method(*args, **kwargs)
        except services.ConflictError as exc:
            return Response(
                {"detail": str(exc), "current_version": exc.current_version},
                status=status.HTTP_409_CONFLICT,
            )

    return wrapper


def require_clinical_write(user, patient) -> None:
    if not selectors.can_write_clinical(user, patient):
        raise PermissionDenied("Only the site's coordinators and trial admins record this.")


def _require_screener_before_body(request) -> None:
    """A 403 before the body is validated, whatever the body, for a user who may not screen
    patients in the trial the body names (when it is one of theirs), or else in any trial."""
    data = request.data if isinstance(request.data, dict) else {}
    code = data.get("trial")
    trial = None
    if isinstance(code, str) and code:
        trial = selectors.trials_for_user(request.user).filter(code=code).first()
    if trial is None:
        memberships = selectors.active_memberships(request.user)
        if not memberships.filter(role__in=selectors.CLINICAL_WRITE_ROLES).exists():
            raise PermissionDenied("You do not screen patients in any of your trials.")
    elif not selectors.writable_sites(request.user, trial=trial).exists():
        raise PermissionDenied(f"You do not screen patients in {trial.code}.")


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
        if user_has_confirmed_device(user):
            # The API gets no weaker sign-in than the pages: the second factor is required too.
            check = check_otp_token(user, serializer.validated_data.get("otp_token"))
            if check.device is None:
                return Response(
                    {"otp_token": [check.message or "Enter the code from your authenticator."]},
                    status=status.HTTP_400_BAD_REQUEST,
                )
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


class MeView(APIView):
    @extend_schema(responses=s.MeSerializer)
    def get(self, request):
        return Response(s.MeSerializer(request.user).data)


# --- Trials ---------------------------------------------------------------------------------


class TrialViewSet(viewsets.ReadOnlyModelViewSet):
    """Trials you are a member of; the detail carries the design, agents and dose levels."""

    lookup_field = "code"

    def get_queryset(self):
        qs = selectors.trials_for_user(self.request.user)
        if self.action != "list":
            qs = qs.prefetch_related(
                "agents",
                Prefetch("trial_sites", queryset=TrialSite.objects.select_related("site")),
                Prefetch(
                    "protocol_versions",
                    queryset=ProtocolVersion.objects.select_related("created_by"),
                ),
            )
        return qs

    def get_serializer_class(self):
        return s.TrialSerializer if self.action == "list" else s.TrialDetailSerializer

    def _detail(self, trial):
        context = {
            "request": self.request,
            "design": selectors.trial_design(trial),
            "dose_levels": dose_levels(trial, include_retired=True),
            "criteria": selectors.eligibility_criteria(trial),
        }
        return s.TrialDetailSerializer(trial, context=context).data

    @extend_schema(responses=s.TrialDetailSerializer)
    def retrieve(self, request, *args, **kwargs):
        return Response(self._detail(self.get_object()))

    def _require_admin(self, trial):
        if not selectors.is_trial_admin(self.request.user, trial):
            raise PermissionDenied("Only the trial's admins change its status or design.")

    @extend_schema(request=s.TrialTransitionSerializer, responses=s.TrialDetailSerializer)
    @action(detail=True, methods=["post"])
    def transition(self, request, code=None):
        """Change the trial's status (draft → open → phase I → phase II → closed …)."""
        trial = self.get_object()
        self._require_admin(trial)
        payload = s.TrialTransitionSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.trial_transition(trial=trial, acting_user=request.user, **payload.validated_data)
        return Response(self._detail(self.get_queryset().get(pk=trial.pk)))

    @extend_schema(request=s.AmendmentSerializer, responses={201: s.ProtocolVersionSerializer})
    @action(detail=True, methods=["post"])
    def amendments(self, request, code=None):
        """A protocol amendment: a partial design, its reason and effective date."""
        trial = self.get_object()
        self._require_admin(trial)
        payload = s.AmendmentSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        version = services.trial_design_amend(
            trial=trial, acting_user=request.user, **payload.validated_data
        )
        return Response(s.ProtocolVersionSerializer(version).data, status=status.HTTP_201_CREATED)


class SiteViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.SiteSerializer

    def get_queryset(self):
        return selectors.sites_for_user(self.request.user)


# --- Patients -------------------------------------------------------------------------------


@extend_schema(
    parameters=[
        OpenApiParameter("trial", str, description="Trial code, e.g. IPD"),
        OpenApiParameter("site", str, description="Site code"),
        OpenApiParameter("status", str, description="Patient status"),
    ]
)
class PatientViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Patients of the sites your roles cover: overdue visits first, then by next visit due."""

    serializer_class = s.PatientSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]

    def _worklist_filters(self) -> dict:
        params = self.request.query_params
        trial = site = None
        if params.get("trial"):
            trial = (
                selectors.trials_for_user(self.request.user).filter(code=params["trial"]).first()
            )
            if trial is None:
                raise NotFound(f"No trial {params['trial']!r} among your trials.")
        if params.get("site"):
            site = Site.objects.filter(code=params["site"]).first()
            if site is None:
                raise NotFound(f"No site {params['site']!r}.")
        statuses = [params["status"]] if params.get("status") else None
        return {
            "today": timezone.localdate(),
            "trial": trial,
            "site": site,
            "statuses": statuses,
        }

    def get_queryset(self):
        return selectors.patient_worklist(self.request.user, **self._worklist_filters())

    def list(self, request, *args, **kwargs):
        # The rows of get_queryset(), in its order, but the sort reads only the key of every
        # visible patient (selectors.WorklistPages). No docstring: the schema keeps the class's.
        pages = selectors.patient_worklist_pages(request.user, **self._worklist_filters())
        page = self.paginate_queryset(pages)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def _patient(self):
        return self.get_object()

    def _fresh(self, patient):
        return s.PatientSerializer(self.get_queryset().get(pk=patient.pk)).data

    @extend_schema(request=s.PatientScreenSerializer, responses={201: s.PatientSerializer})
    def create(self, request, *args, **kwargs):
        """Screen a patient (the first step of the enrolment wizard)."""
        _require_screener_before_body(request)
        payload = s.PatientScreenSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        trial = selectors.trials_for_user(request.user).filter(code=data.pop("trial")).first()
        if trial is None:
            raise ValidationError({"trial": ["Not one of your trials."]})
        site = Site.objects.filter(code=data.pop("site")).first()
        if site is None:
            raise ValidationError({"site": ["Unknown site."]})
        if not selectors.writable_sites(request.user, trial=trial).filter(pk=site.pk).exists():
            raise PermissionDenied(f"You do not screen patients at {site.code} in {trial.code}.")
        patient = services.patient_screen(trial=trial, site=site, acting_user=request.user, **data)
        return Response(self._fresh(patient), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.PatientUpdateSerializer,
        responses={200: s.PatientSerializer, **CONFLICT_RESPONSES},
    )
    @conflict_as_409
    def partial_update(self, request, *args, **kwargs):
        patient = self._patient()
        require_clinical_write(request.user, patient)
        payload = s.PatientUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        reason = data.pop("reason")
        version = data.pop("version")
        updated = services.patient_update(
            patient=patient,
            acting_user=request.user,
            reason=reason,
            expected_version=version,
            **data,
        )
        return Response(self._fresh(updated))

    def _eligibility(self, patient):
        rows, result = selectors.patient_eligibility(patient)
        return s.EligibilitySerializer(
            {
                "status": result.status,
                "complete": result.complete,
                "eligible": result.eligible,
                "failing": list(result.failing),
                "unanswered": list(result.unanswered),
                "criteria": rows,
            }
        ).data

    @extend_schema(methods=["GET"], responses=s.EligibilitySerializer)
    @extend_schema(
        methods=["POST"], request=s.EligibilityAnswerSerializer, responses=s.EligibilitySerializer
    )
    @action(detail=True, methods=["get", "post"])
    def eligibility(self, request, pk=None):
        """The trial's criteria with this patient's answers; POST answers by criterion code."""
        patient = self._patient()
        if request.method == "POST":
            require_clinical_write(request.user, patient)
            payload = s.EligibilityAnswerSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            services.eligibility_record(
                patient=patient,
                answers=payload.validated_data["answers"],
                notes=payload.validated_data.get("notes"),
                reason=payload.validated_data.get("reason"),
                acting_user=request.user,
            )
        return Response(self._eligibility(patient))

    @extend_schema(methods=["GET"], responses=s.ConsentSerializer(many=True))
    @extend_schema(
        methods=["POST"], request=s.ConsentSerializer, responses={201: s.ConsentSerializer}
    )
    @action(detail=True, methods=["get", "post"])
    def consents(self, request, pk=None):
        """Informed consents (form version and date)."""
        patient = self._patient()
        if request.method == "POST":
            require_clinical_write(request.user, patient)
            payload = s.ConsentSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            consent = services.consent_record(
                patient=patient, acting_user=request.user, **payload.validated_data
            )
            return Response(s.ConsentSerializer(consent).data, status=status.HTTP_201_CREATED)
        return Response(s.ConsentSerializer(selectors.consents(patient), many=True).data)

    @extend_schema(request=s.EnrolSerializer, responses=s.PatientSerializer)
    @action(detail=True, methods=["post"])
    def enrol(self, request, pk=None):
        """Enrol: study ID, dose level and the cycle 1 visits."""
        patient = self._patient()
        require_clinical_write(request.user, patient)
        payload = s.EnrolSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.patient_enrol(patient=patient, acting_user=request.user, **payload.validated_data)
        return Response(self._fresh(patient))

    @extend_schema(request=s.PatientTransitionSerializer, responses=s.PatientSerializer)
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        """Off treatment (reason), follow-up, off study (reason), screen failure."""
        patient = self._patient()
        require_clinical_write(request.user, patient)
        payload = s.PatientTransitionSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.patient_transition(
            patient=patient, acting_user=request.user, **payload.validated_data
        )
        return Response(self._fresh(patient))

    @extend_schema(responses=s.StatusChangeSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="status-history")
    def status_history(self, request, pk=None):
        patient = self._patient()
        return Response(s.StatusChangeSerializer(selectors.status_history(patient), many=True).data)

    @extend_schema(methods=["GET"], responses=s.VisitSerializer(many=True))
    @extend_schema(
        methods=["POST"], request=s.VisitCreateSerializer, responses={201: s.VisitSerializer}
    )
    @action(detail=True, methods=["get", "post"])
    def visits(self, request, pk=None):
        """The patient's visits (planned and done) with doses and labs; POST adds an
        unscheduled visit."""
        patient = self._patient()
        context = {"today": timezone.localdate()}
        if request.method == "POST":
            require_clinical_write(request.user, patient)
            payload = s.VisitCreateSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            visit = services.visit_add_unscheduled(
                patient=patient, acting_user=request.user, **payload.validated_data
            )
            return Response(
                s.VisitSerializer(_visit_with_details(visit.pk), context=context).data,
                status=status.HTTP_201_CREATED,
            )
        visits = selectors.patient_visits(patient)
        return Response(s.VisitSerializer(visits, many=True, context=context).data)

    @extend_schema(methods=["GET"], responses=s.LastContactSerializer(many=True))
    @extend_schema(
        methods=["POST"], request=s.LastContactSerializer, responses={201: s.LastContactSerializer}
    )
    @action(detail=True, methods=["get", "post"], url_path="last-contact")
    def last_contact(self, request, pk=None):
        """Vital status: known alive on a date, or date of death."""
        patient = self._patient()
        if request.method == "POST":
            require_clinical_write(request.user, patient)
            payload = s.LastContactSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            contact = services.last_contact_record(
                patient=patient, acting_user=request.user, **payload.validated_data
            )
            return Response(s.LastContactSerializer(contact).data, status=status.HTTP_201_CREATED)
        return Response(s.LastContactSerializer(patient.contacts.all(), many=True).data)


def _visit_with_details(pk: int) -> Visit:
    return Visit.objects.prefetch_related(
        Prefetch("doses", queryset=DoseAdministration.objects.select_related("agent")),
        Prefetch("lab_results", queryset=LabResult.objects.order_by("analyte")),
    ).get(pk=pk)


class VisitViewSet(mixins.RetrieveModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """One visit: PATCH records it (date, body measurements, doses) with the version you read;
    a correction of a done visit needs a reason."""

    lookup_value_regex = r"\d+"

    serializer_class = s.VisitSerializer
    queryset = Visit.objects.none()  # objects come from get_object (scoped); typed path for docs
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_object(self):
        return selectors.get_visit_for_user(self.request.user, pk=self.kwargs["pk"])

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "today": timezone.localdate()}

    def _data(self, visit):
        return s.VisitSerializer(
            _visit_with_details(visit.pk), context=self.get_serializer_context()
        ).data

    @extend_schema(responses=s.VisitSerializer)
    def retrieve(self, request, *args, **kwargs):
        return Response(self._data(self.get_object()))

    @extend_schema(
        request=s.VisitRecordSerializer, responses={200: s.VisitSerializer, **CONFLICT_RESPONSES}
    )
    @conflict_as_409
    def partial_update(self, request, *args, **kwargs):
        visit = self.get_object()
        require_clinical_write(request.user, visit.patient)
        payload = s.VisitRecordSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        doses = [
            services.DoseInput(
                agent=d["agent"],
                status=d["status"],
                dose_mg=d.get("dose_mg"),
                reason=d.get("reason", ""),
            )
            for d in data.pop("doses", [])
        ]
        services.visit_record(
            visit=visit,
            acting_user=request.user,
            expected_version=data.pop("version"),
            doses=doses,
            **data,
        )
        return Response(self._data(visit))

    @extend_schema(
        request=s.VisitMissedSerializer, responses={200: s.VisitSerializer, **CONFLICT_RESPONSES}
    )
    @action(detail=True, methods=["post"])
    @conflict_as_409
    def missed(self, request, pk=None):
        """Record that a planned visit did not happen, and why."""
        visit = self.get_object()
        require_clinical_write(request.user, visit.patient)
        payload = s.VisitMissedSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.visit_mark_missed(
            visit=visit,
            reason=payload.validated_data["reason"],
            expected_version=payload.validated_data["version"],
            acting_user=request.user,
        )
        return Response(self._data(visit))

    @extend_schema(methods=["GET"], responses=s.LabSerializer(many=True))
    @extend_schema(
        methods=["POST"], request=s.LabCreateSerializer, responses={201: s.LabSerializer}
    )
    @action(detail=True, methods=["get", "post"])
    def labs(self, request, pk=None):
        """Lab results of the visit; POST records one (value and unit as measured)."""
        visit = self.get_object()
        if request.method == "POST":
            require_clinical_write(request.user, visit.patient)
            payload = s.LabCreateSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            data = dict(payload.validated_data)
            if LabResult.objects.filter(visit=visit, analyte=data["analyte"]).exists():
                raise ValidationError(
                    {
                        "analyte": [
                            f"{data['analyte']} is already recorded at this visit: "
                            "PATCH /api/labs/<id>/ with a reason to correct it."
                        ]
                    }
                )
            lab = services.lab_result_record(visit=visit, acting_user=request.user, **data)
            return Response(s.LabSerializer(lab).data, status=status.HTTP_201_CREATED)
        return Response(s.LabSerializer(visit.lab_results.order_by("analyte"), many=True).data)


class LabViewSet(mixins.RetrieveModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """One lab result; PATCH corrects it (version and reason required)."""

    lookup_value_regex = r"\d+"

    serializer_class = s.LabSerializer
    queryset = LabResult.objects.none()  # objects come from get_object (scoped)
    http_method_names = ["get", "patch", "head", "options"]

    def get_object(self):
        return selectors.get_lab_for_user(self.request.user, pk=self.kwargs["pk"])

    @extend_schema(
        request=s.LabUpdateSerializer, responses={200: s.LabSerializer, **CONFLICT_RESPONSES}
    )
    @conflict_as_409
    def partial_update(self, request, *args, **kwargs):
        lab = self.get_object()
        require_clinical_write(request.user, lab.patient)
        payload = s.LabUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        updated = services.lab_result_record(
            visit=lab.visit,
            analyte=lab.analyte,
            acting_user=request.user,
            expected_version=data.pop("version"),
            **data,
        )
        return Response(s.LabSerializer(updated).data)


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
