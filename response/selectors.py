"""Every read of response data that a page, API view, task or another app needs.

Access goes through ``trials.selectors``: a patient of a site the user's memberships do not
cover is simply not found (404); a trial the user is not a member of likewise.

Reads other apps rely on (stable interface):

- :func:`response_summary_for_trial` — per patient: criteria, best overall response and its
  date, first response date (start of response, for duration of response), progression date
  (first assessment of confirmed PD), current status, last assessment date, evaluability. The
  survival engine reads TTP/PFS/DOR events from here.
- :func:`patient_response` — one patient's stored computed response (or ``None``).
- :func:`simon_population` — who the Simon monitor counts (the RP2D rule, in one place).
- :func:`responses_for_trial_at_cut` — a whole trial's responses, timepoints and investigator
  calls as they stood at a data cut, in a fixed number of queries (the statistician's export);
  :func:`timepoints_for_trial` is its bulk read of the computed timepoints.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django.db.models import (
    BooleanField,
    Case,
    Exists,
    ExpressionWrapper,
    F,
    JSONField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)

from response.domain.binomial import RateSummary, rate_summary
from response.domain.queries import ACTIVE_STATUSES
from response.domain.simon import SimonSearchResult, search_designs
from response.models import (
    EntryScope,
    InvestigatorResponse,
    PatientResponse,
    RecistAssessment,
    RecistLesion,
    RecistMeasurement,
    ResponseQuery,
    ResponseSignature,
    ResponseTimepoint,
    SimonMonitor,
    SimonNotification,
)
from trials import selectors as trial_selectors
from trials.audit import history_for
from trials.models import (
    Membership,
    Patient,
    PatientStatus,
    PatientStatusChange,
    Role,
    Trial,
    User,
)

#: Roles that read a whole trial's response summary, waterfall and Simon monitor.
TRIAL_READ_ROLES = (Role.INVESTIGATOR, Role.STATISTICIAN, Role.TRIAL_ADMIN)
#: Roles that enter and sign the investigator's response.
INVESTIGATOR_ROLES = (Role.INVESTIGATOR,)
#: Roles that answer response queries at their sites.
QUERY_ANSWER_ROLES = (Role.COORDINATOR, Role.INVESTIGATOR)
#: Roles that record RECIST lesions and measurements (clinical data entry).
RECIST_ENTRY_ROLES = (Role.COORDINATOR, Role.TRIAL_ADMIN)
#: Roles that may enter response labs through the response page (the trials lab service).
LAB_ENTRY_ROLES = (Role.COORDINATOR, Role.TRIAL_ADMIN)

#: Patient statuses after which no further response can come (end of treatment and later).
OFF_TREATMENT_STATUSES = frozenset(
    {PatientStatus.OFF_TREATMENT, PatientStatus.FOLLOW_UP, PatientStatus.OFF_STUDY}
)
NOT_ENROLLED_STATUSES = frozenset({PatientStatus.SCREENING, PatientStatus.SCREEN_FAILED})

#: Best overall responses counted by each rate (IMWG 2016; RECIST has no VGPR or MR).
ORR_CATEGORIES = frozenset({"sCR", "CR", "VGPR", "PR"})
VGPR_OR_BETTER = frozenset({"sCR", "CR", "VGPR"})
SD_OR_BETTER = frozenset({"sCR", "CR", "VGPR", "PR", "MR", "SD", "NON_CR_NON_PD"})


# --- Access -----------------------------------------------------------------------------------


def get_patient(user: User, *, pk: int) -> Patient:
    """The patient if the user's memberships cover its site; otherwise 404."""
    return trial_selectors.get_patient_for_user(user, pk=pk)


def get_trial(user: User, *, code: str) -> Trial:
    """The trial if the user is a member; otherwise 404."""
    return trial_selectors.get_trial_for_user(user, code=code)


def has_patient_role(user: User, patient: Patient, roles: Iterable[str]) -> bool:
    return trial_selectors.user_has_role(
        user, trial=patient.trial, roles=list(roles), site=patient.site
    )


def can_read_trial_summary(user: User, trial: Trial) -> bool:
    return trial_selectors.user_has_role(user, trial=trial, roles=TRIAL_READ_ROLES)


def patient_roles(user: User, patient: Patient) -> set[str]:
    """The user's roles that cover ``patient``'s site (one query)."""
    if not user.is_authenticated:
        return set()
    return set(
        Membership.objects.filter(user=user, trial_id=patient.trial_id, active=True)
        .filter(Q(all_sites=True) | Q(sites=patient.site_id))
        .values_list("role", flat=True)
    )


# --- One patient ------------------------------------------------------------------------------


def patient_response(patient: Patient) -> PatientResponse | None:
    return PatientResponse.objects.filter(patient=patient).first()


def timepoints(patient: Patient) -> list[ResponseTimepoint]:
    return list(ResponseTimepoint.objects.filter(patient=patient).order_by("assessment_date"))


def investigator_entries(patient: Patient) -> list[InvestigatorResponse]:
    return list(
        InvestigatorResponse.objects.filter(patient=patient)
        .select_related("entered_by")
        .order_by("scope", "assessment_date")
    )


def valid_signature(patient: Patient) -> ResponseSignature | None:
    return (
        ResponseSignature.objects.filter(patient=patient, voided_at__isnull=True)
        .select_related("signed_by")
        .first()
    )


def signatures(patient: Patient) -> list[ResponseSignature]:
    return list(
        ResponseSignature.objects.filter(patient=patient)
        .select_related("signed_by")
        .order_by("-signed_at", "-id")
    )


def patient_queries(patient: Patient) -> list[ResponseQuery]:
    return list(
        ResponseQuery.objects.filter(patient=patient)
        .select_related("answered_by", "closed_by")
        .order_by("assessment_date", "id")
    )


@dataclass(frozen=True)
class TimepointRow:
    """A computed timepoint beside the investigator's entry for the same date."""

    computed: ResponseTimepoint
    entry: InvestigatorResponse | None
    queries: list[ResponseQuery]


@dataclass(frozen=True)
class PatientResponseView:
    """Everything the per-patient response page shows (a constant number of queries)."""

    patient: Patient
    response: PatientResponse | None
    rows: list[TimepointRow]
    bor_entry: InvestigatorResponse | None
    bor_queries: list[ResponseQuery]
    queries: list[ResponseQuery]
    signature: ResponseSignature | None
    signatures: list[ResponseSignature]
    active_queries: int = 0


def patient_response_view(patient: Patient) -> PatientResponseView:
    response = patient_response(patient)
    entries = investigator_entries(patient)
    queries = patient_queries(patient)
    by_date: dict[date, InvestigatorResponse] = {}
    bor_entry = None
    for e in entries:
        if e.scope == EntryScope.BEST_OVERALL_RESPONSE:
            bor_entry = e
        else:
            by_date[e.assessment_date] = e
    queries_by_date: dict[date | None, list[ResponseQuery]] = defaultdict(list)
    for q in queries:
        queries_by_date[q.assessment_date if q.scope == EntryScope.ASSESSMENT else None].append(q)
    rows = [
        TimepointRow(
            tp, by_date.get(tp.assessment_date), queries_by_date.get(tp.assessment_date, [])
        )
        for tp in timepoints(patient)
    ]
    all_signatures = signatures(patient)
    return PatientResponseView(
        patient=patient,
        response=response,
        rows=rows,
        bor_entry=bor_entry,
        bor_queries=queries_by_date.get(None, []),
        queries=queries,
        signature=next((s for s in all_signatures if s.voided_at is None), None),
        signatures=all_signatures,
        active_queries=sum(1 for q in queries if q.is_active),
    )


def recist_lesions(patient: Patient) -> list[RecistLesion]:
    return list(RecistLesion.objects.filter(patient=patient).order_by("kind", "code"))


def recist_assessments(patient: Patient) -> list[RecistAssessment]:
    return list(
        RecistAssessment.objects.filter(patient=patient)
        .prefetch_related(
            Prefetch(
                "measurements",
                queryset=RecistMeasurement.objects.select_related("lesion").order_by(
                    "lesion__code"
                ),
            )
        )
        .order_by("assessment_date")
    )


# --- Lists across patients (scoped) -----------------------------------------------------------


def queries_for_user(
    user: User,
    *,
    trial: Trial | None = None,
    statuses: Iterable[str] | None = None,
) -> QuerySet[ResponseQuery]:
    """Queries on patients the user may read, newest first (one query, whatever the count)."""
    patients = trial_selectors.patients_for_user(user, trial=trial)
    qs = ResponseQuery.objects.filter(patient__in=patients.values("pk")).select_related(
        "patient", "patient__trial", "patient__site"
    )
    if statuses:
        qs = qs.filter(status__in=list(statuses))
    return qs.order_by("-raised_at", "-id")


def active_queries_for_user(user: User, *, trial: Trial | None = None) -> QuerySet[ResponseQuery]:
    return queries_for_user(user, trial=trial, statuses=[s.value for s in ACTIVE_STATUSES])


def patient_responses_for_user(
    user: User, *, trial: Trial | None = None
) -> QuerySet[PatientResponse]:
    patients = trial_selectors.patients_for_user(user, trial=trial)
    return (
        PatientResponse.objects.filter(patient__in=patients.values("pk"))
        .select_related("patient", "patient__trial", "patient__site", "patient__dose_level")
        .order_by("patient__trial__code", "patient__study_id", "patient__pk")
    )


# --- Trial summaries --------------------------------------------------------------------------


@dataclass(frozen=True)
class PatientResponseRow:
    """One patient's response, as other apps read it (survival, exports)."""

    patient_id: int
    study_id: str
    site_code: str
    dose_level: int | None
    criteria: str
    best_overall_response: str
    best_response_date: date | None
    first_response_date: date | None
    progression_date: date | None
    current_status: str | None
    baseline_date: date | None
    last_assessment_date: date | None
    evaluable: bool
    best_pct_change: float | None
    is_responder: bool


def response_summary_for_trial(trial: Trial) -> list[PatientResponseRow]:
    """Every computed patient response of ``trial`` (all sites), in study-ID order.

    Not scoped by user: callers are services, exports and tasks that have already checked
    access to the trial. ``progression_date`` is the first assessment of confirmed PD (IMWG
    note 5.4; RECIST: the first PD timepoint, dated back to an equivocal new lesion);
    ``first_response_date`` the first assessment confirmed as PR or better.
    """
    rows = (
        PatientResponse.objects.filter(patient__trial=trial)
        .select_related("patient", "patient__site", "patient__dose_level")
        .order_by("patient__study_id", "patient__pk")
    )
    return [_row(r) for r in rows]


def _row(r: PatientResponse) -> PatientResponseRow:
    p = r.patient
    return PatientResponseRow(
        patient_id=p.pk,
        study_id=p.label,
        site_code=p.site.code,
        dose_level=p.dose_level.number if p.dose_level_id else None,
        criteria=r.criteria,
        best_overall_response=r.best_overall_response,
        best_response_date=r.best_response_date,
        first_response_date=r.first_response_date,
        progression_date=r.progression_date,
        current_status=r.current_status,
        baseline_date=r.baseline_date,
        last_assessment_date=r.last_assessment_date,
        evaluable=r.evaluable,
        best_pct_change=r.best_pct_change,
        is_responder=r.best_overall_response in ORR_CATEGORIES,
    )


@dataclass(frozen=True)
class RateRow:
    """Response rates of one group, each with its exact (Clopper–Pearson) 95% CI."""

    label: str
    n: int
    orr: RateSummary
    vgpr_or_better: RateSummary | None  # IMWG only
    sd_or_better: RateSummary
    bor_counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ResponseSummary:
    trial: Trial
    criteria: str
    overall: RateRow
    by_dose_level: list[RateRow]
    not_evaluable: int
    population: str


def _rates(label: str, bors: Sequence[str], *, imwg: bool) -> RateRow:
    n = len(bors)
    counts: dict[str, int] = defaultdict(int)
    for b in bors:
        counts[b] += 1
    return RateRow(
        label=label,
        n=n,
        orr=rate_summary(sum(1 for b in bors if b in ORR_CATEGORIES), n),
        vgpr_or_better=(
            rate_summary(sum(1 for b in bors if b in VGPR_OR_BETTER), n) if imwg else None
        ),
        sd_or_better=rate_summary(sum(1 for b in bors if b in SD_OR_BETTER), n),
        bor_counts=dict(counts),
    )


def response_summary(trial: Trial) -> ResponseSummary:
    """ORR, ≥ VGPR and ≥ SD among response-evaluable patients, overall and per dose level
    (exact Clopper–Pearson 95% intervals, Clopper & Pearson 1934). Two queries."""
    design = trial_selectors.trial_design(trial)
    imwg = not design.response.is_recist
    rows = response_summary_for_trial(trial)
    evaluable = [r for r in rows if r.evaluable]
    levels: dict[int | None, list[str]] = defaultdict(list)
    for r in evaluable:
        levels[r.dose_level].append(r.best_overall_response)
    by_level = [
        _rates(f"DL{lv}" if lv is not None else "No dose level", levels[lv], imwg=imwg)
        for lv in sorted(levels, key=lambda x: (x is None, x or 0))
    ]
    return ResponseSummary(
        trial=trial,
        criteria=design.response.criteria,
        overall=_rates(
            "All evaluable patients", [r.best_overall_response for r in evaluable], imwg=imwg
        ),
        by_dose_level=by_level,
        not_evaluable=len(rows) - len(evaluable),
        population=(
            "Response-evaluable patients: measurable disease at baseline and at least one "
            "response assessment after it. Best overall response as computed by the engine."
        ),
    )


@dataclass(frozen=True)
class WaterfallBar:
    label: str
    pct_change: float
    best_overall_response: str
    dose_level: int | None


def waterfall_bars(trial: Trial) -> list[WaterfallBar]:
    """Best % change per evaluable patient, largest increase first (the usual waterfall)."""
    bars = [
        WaterfallBar(r.study_id, r.best_pct_change, r.best_overall_response, r.dose_level)
        for r in response_summary_for_trial(trial)
        if r.evaluable and r.best_pct_change is not None
    ]
    return sorted(bars, key=lambda b: (-b.pct_change, b.label))


# --- Simon ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimonPopulation:
    """The patients the Simon monitor counts, in enrolment order, and the rule that chose them."""

    patients: list[Patient]
    rule: str


def _rp2d_level_number(trial: Trial) -> int | None:
    """The dose level number of the signed RP2D decision, if the dosing app has recorded one."""
    from dosing.selectors import escalation_of

    escalation = escalation_of(trial)
    return escalation.rp2d_level_number if escalation is not None else None


def _phase_ii_started_at(trial: Trial) -> datetime | None:
    for entry in history_for(trial):
        if entry.data.get("status") == "phase_ii":
            return entry.at
    return None


def simon_population(trial: Trial) -> SimonPopulation:
    """Who counts for the Simon design: the response-evaluable candidates at the RP2D.

    The rule, in one place:

    1. When the dosing app has recorded a signed RP2D decision, the enrolled patients at that
       level (phase I patients at that level included, as trial A's paper
       counts "25 treated at the RP2D").
    2. Until then, for a phase II trial: every enrolled patient.
    3. Until then, for a phase I/II trial: the phase II patients, i.e. those whose enrolment was
       recorded after the trial entered phase II (from the trial's audit trail). None before.

    Enrolment order is the order of enrolment (date, then when it was recorded).
    """
    enrolled_at = PatientStatusChange.objects.filter(
        patient=OuterRef("pk"), to_status=PatientStatus.ENROLLED
    ).order_by("created_at")
    enrolled = (
        Patient.objects.filter(trial=trial, enrolment_date__isnull=False)
        .exclude(status__in=list(NOT_ENROLLED_STATUSES))
        .select_related("trial", "site", "dose_level")
        .annotate(enrolled_at=Subquery(enrolled_at.values("created_at")[:1]))
        .order_by("enrolment_date", "enrolled_at", "pk")
    )
    rp2d_number = _rp2d_level_number(trial)
    if rp2d_number is not None:
        rp2d = enrolled.filter(dose_level__number=rp2d_number)
        return SimonPopulation(
            list(rp2d),
            f"Patients at the recommended phase II dose (RP2D, dose level {rp2d_number}), "
            "phase I patients at that level included.",
        )
    if trial.phase == "II":
        return SimonPopulation(list(enrolled), "Every enrolled patient (a phase II trial).")
    since = _phase_ii_started_at(trial)
    if since is None:
        return SimonPopulation(
            [], "No patients yet: the trial has not entered phase II (the RP2D is not chosen)."
        )
    later = PatientStatusChange.objects.filter(
        patient=OuterRef("pk"), to_status=PatientStatus.ENROLLED, created_at__gte=since
    )
    return SimonPopulation(
        list(enrolled.filter(Exists(later))),
        f"Phase II patients: enrolled after the trial entered phase II on {since:%Y-%m-%d} "
        "(until the RP2D decision is recorded; then every patient at the RP2D level).",
    )


def simon_monitor(trial: Trial) -> SimonMonitor | None:
    return SimonMonitor.objects.filter(trial=trial).first()


def simon_notifications(trial: Trial) -> list[SimonNotification]:
    return list(SimonNotification.objects.filter(trial=trial).order_by("-created_at", "-id"))


def trials_with_active_queries(user: User) -> QuerySet[Trial]:
    patients = trial_selectors.patients_for_user(user)
    active = ResponseQuery.objects.filter(
        patient__trial=OuterRef("pk"),
        patient__in=patients.values("pk"),
        status__in=[s.value for s in ACTIVE_STATUSES],
    )
    return trial_selectors.trials_for_user(user).filter(Exists(active))


def patients_with_responses(user: User, *, trial: Trial) -> QuerySet[Patient]:
    """The trial's patients the user may read, with their response annotated (one query)."""
    active = ResponseQuery.objects.filter(
        patient=OuterRef("pk"), status__in=[s.value for s in ACTIVE_STATUSES]
    )
    return (
        trial_selectors.patients_for_user(user, trial=trial)
        .exclude(status__in=list(NOT_ENROLLED_STATUSES))
        .annotate(
            bor=Subquery(
                PatientResponse.objects.filter(patient=OuterRef("pk")).values(
                    "best_overall_response"
                )[:1]
            ),
            has_active_queries=Exists(active),
        )
        .order_by("site__code", "study_id", "pk")
    )


@lru_cache(maxsize=32)
def simon_designs(
    p0: float, p1: float, alpha: float, beta: float, nmax: int = 100
) -> SimonSearchResult:
    """Optimal and minimax designs for a trial's parameters (Simon 1989), cached per process:
    the search is pure and takes a fraction of a second at nmax 100."""
    return search_designs(p0, p1, alpha, beta, nmax)


# --- A whole trial at a data cut (the statistician's export) ----------------------------------

#: IMWG flags for a measurable disease parameter that was not measured at an assessment (IMWG
#: note 1.6): the call rests on incomplete data, so the assessment is not an adequate one.
MISSING_MEASUREMENT_FLAGS = frozenset(
    {"SERUM_MISSING", "URINE_MISSING", "FLC_MISSING", "MARROW_MISSING", "IMAGING_MISSING"}
)
#: Rows of :func:`timepoints_for_trial` (``missing``: a measurable parameter was not measured).
TIMEPOINT_FIELDS = (
    "id",
    "patient_id",
    "criteria",
    "assessment_date",
    "timepoint",
    "confirmed",
    "missing",
)
#: Rows of :attr:`TrialResponsesAtCut.patients`.
RESPONSE_AT_CUT_FIELDS = (
    "patient_id",
    "criteria",
    "best_overall_response",
    "best_response_date",
    "first_response_date",
    "progression_date",
    "evaluable",
)


def _trial_patients(trial: Trial, patient_ids: Iterable[int] | None) -> Q:
    """Rows of the trial's patients (all of them, or those of ``patient_ids``)."""
    condition = Q(patient__trial=trial)
    if patient_ids is not None:
        condition &= Q(patient_id__in=list(patient_ids))
    return condition


def timepoints_for_trial(
    trial: Trial, *, data_cut: date, patient_ids: Iterable[int] | None = None
) -> list[tuple[Any, ...]]:
    """Every stored computed timepoint of the trial's patients dated on or before
    ``data_cut``, as rows of :data:`TIMEPOINT_FIELDS` in patient and date order. One query,
    whatever the number of patients (the bulk form of :func:`timepoints`)."""
    missing = ExpressionWrapper(
        Q(flags__has_any_keys=sorted(MISSING_MEASUREMENT_FLAGS)), output_field=BooleanField()
    )
    return list(
        ResponseTimepoint.objects.filter(
            _trial_patients(trial, patient_ids), assessment_date__lte=data_cut
        )
        .annotate(missing=missing)
        .order_by("patient_id", "assessment_date")
        .values_list(*TIMEPOINT_FIELDS)
    )


def investigator_calls_for_trial(
    trial: Trial, *, data_cut: date, patient_ids: Iterable[int] | None = None
) -> list[tuple[int, date, str]]:
    """The investigators' per-assessment calls dated on or before ``data_cut``: rows of
    (patient id, assessment date, category). One query."""
    return list(
        InvestigatorResponse.objects.filter(
            _trial_patients(trial, patient_ids),
            scope=EntryScope.ASSESSMENT,
            assessment_date__lte=data_cut,
        )
        .order_by("patient_id", "assessment_date")
        .values_list("patient_id", "assessment_date", "category")
    )


def assessment_visits_for_trial(
    trial: Trial,
    *,
    data_cut: date,
    patient_ids: Iterable[int] | None = None,
    timepoint_dates_only: bool = False,
    every_date_of: Iterable[int] = (),
) -> list[tuple[int, date, str]]:
    """The code of the done visit of each assessment date on or before ``data_cut`` (a
    response-assessment visit first, then the earliest recorded): rows of (patient id, date,
    visit code). One query.

    With ``timepoint_dates_only`` only the dates of a stored computed timepoint of the patient
    are returned (a semi-join to the timepoints in SQL), except for the patients of
    ``every_date_of``, who keep every date. The visit chosen for a date is the same either way:
    a date is kept or left out whole."""
    from trials.models import Visit

    visits = Visit.objects.filter(
        _trial_patients(trial, patient_ids), status="done", visit_date__lte=data_cut
    )
    if timepoint_dates_only:
        at_timepoint = Exists(
            ResponseTimepoint.objects.filter(
                patient_id=OuterRef("patient_id"), assessment_date=OuterRef("visit_date")
            )
        )
        keep = list(every_date_of)
        visits = visits.filter(at_timepoint | Q(patient_id__in=keep) if keep else at_timepoint)
    return list(
        visits.order_by("patient_id", "visit_date", "-response_assessment", "id")
        .distinct("patient_id", "visit_date")
        .values_list("patient_id", "visit_date", "code")
    )


@dataclass(frozen=True)
class TrialResponsesAtCut:
    """A trial's computed responses as they stood at a data cut (see
    :func:`responses_for_trial_at_cut`)."""

    patients: list[tuple[Any, ...]]
    """Rows of :data:`RESPONSE_AT_CUT_FIELDS`, one per patient with a response at the cut."""
    timepoints: list[tuple[Any, ...]]
    """Rows of :data:`TIMEPOINT_FIELDS` (``id`` None for a call that exists only at the cut)."""
    investigator_calls: list[tuple[int, date, str]]
    visits: list[tuple[int, date, str]]
    reevaluated: frozenset[int] = frozenset()
    """Patients whose data went on after the cut: their calls were recomputed at the cut."""


def responses_for_trial_at_cut(
    trial: Trial,
    *,
    data_cut: date,
    patient_ids: Iterable[int] | None = None,
    timepoint_visits_only: bool = False,
) -> TrialResponsesAtCut:
    """Every patient's computed response, timepoints, investigator calls and assessment visits
    as they stood on ``data_cut``, in four queries whatever the number of patients (five when
    a RECIST patient must be recomputed: the design).

    The stored response is the engine's call on all the data. For a patient with nothing after
    the cut (no assessment, baseline, death or new therapy dated later) it is the call at the
    cut and is read as stored. For the others the engine is run again on the stored engine
    input cut at ``data_cut`` — as if the database had been frozen that day, so a progression
    confirmed only by a later assessment is not a progression at the cut, and a response
    confirmed later is not yet a response.

    With ``timepoint_visits_only`` the ``visits`` are only those of dates with a stored
    timepoint (every date for a recomputed patient), which is all a caller looking visits up
    by the returned timepoints' dates needs.
    """
    ids = None if patient_ids is None else list(patient_ids)
    cut = data_cut.isoformat()
    later = (
        Q(last_assessment_date__gt=data_cut)
        | Q(baseline_date__gt=data_cut)
        | Q(engine_input__death_date__gt=cut)
        | Q(engine_input__new_therapy_date__gt=cut)
    )
    rows = list(
        PatientResponse.objects.filter(_trial_patients(trial, ids))
        .annotate(
            later_input=Case(
                When(later, then=F("engine_input")),
                default=Value(None),
                output_field=JSONField(),
            ),
        )
        .order_by("patient_id")
        .values_list(*RESPONSE_AT_CUT_FIELDS, "later_input")
    )
    timepoints = timepoints_for_trial(trial, data_cut=data_cut, patient_ids=ids)
    patients = [row[:-1] for row in rows if row[-1] is None]
    stale = {row[0]: (row[1], row[-1]) for row in rows if row[-1] is not None}
    if stale:
        recomputed, recomputed_timepoints = _recompute_at_cut(trial, stale, timepoints, data_cut)
        patients = sorted([*patients, *recomputed], key=lambda r: r[0])
        timepoints = [t for t in timepoints if t[1] not in stale] + recomputed_timepoints
        timepoints.sort(key=lambda t: (t[1], t[3]))
    return TrialResponsesAtCut(
        patients=patients,
        timepoints=timepoints,
        investigator_calls=investigator_calls_for_trial(trial, data_cut=data_cut, patient_ids=ids),
        visits=assessment_visits_for_trial(
            trial,
            data_cut=data_cut,
            patient_ids=ids,
            timepoint_dates_only=timepoint_visits_only,
            every_date_of=sorted(stale),
        ),
        reevaluated=frozenset(stale),
    )


def _recompute_at_cut(
    trial: Trial,
    stale: dict[int, tuple[str, dict[str, Any]]],
    timepoints: list[tuple[Any, ...]],
    data_cut: date,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The engine's calls for ``stale`` patients (id → (criteria, stored engine input)) on the
    data dated on or before the cut; stored timepoint ids are kept for the same dates."""
    stored_ids = {(t[1], t[3]): t[0] for t in timepoints if t[1] in stale}
    patients: list[tuple[Any, ...]] = []
    rows: list[tuple[Any, ...]] = []
    recist_design = None
    for patient_id, (criteria, payload) in stale.items():
        if criteria.startswith("IMWG"):
            outcome = _imwg_at_cut(payload, data_cut)
        else:
            if recist_design is None:
                recist_design = trial_selectors.trial_design(trial).response
            outcome = _recist_at_cut(payload, data_cut, recist_design)
        if outcome is None:  # baseline after the cut, or an input the engine refuses
            continue
        summary, calls = outcome
        patients.append((patient_id, criteria, *summary))
        rows += [
            (stored_ids.get((patient_id, when)), patient_id, criteria, when, *call)
            for when, *call in calls
        ]
    return patients, rows


def _imwg_at_cut(
    payload: dict[str, Any], data_cut: date
) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]] | None:
    from response.domain.imwg import ImwgInput, ImwgInputError, evaluate
    from response.domain.imwg_input import first_response_date

    try:
        case = ImwgInput.from_dict(payload)
    except ImwgInputError:
        return None
    if case.baseline.date > data_cut:
        return None
    case = replace(
        case,
        assessments=tuple(a for a in case.assessments if a.date <= data_cut),
        death_date=_on_or_before(case.death_date, data_cut),
        new_therapy_date=_on_or_before(case.new_therapy_date, data_cut),
    )
    result = evaluate(case)
    summary = (
        result.best_overall_response.value,
        result.best_response_date,
        first_response_date(result),
        result.progression_date,
        bool(result.measurable) and bool(case.assessments),
    )
    calls = [
        (
            a.date,
            a.timepoint.value,
            a.confirmed.value if a.confirmed is not None else None,
            bool(MISSING_MEASUREMENT_FLAGS.intersection(a.flags)),
        )
        for a in result.assessments
    ]
    return summary, calls


def _recist_at_cut(
    payload: dict[str, Any], data_cut: date, design: Any
) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]] | None:
    from response.domain import recist as rules
    from response.services.evaluation import recist_criteria, recist_settings

    def mm(value: Any) -> Decimal | None:
        return None if value is None else Decimal(str(value))

    try:
        start = date.fromisoformat(payload["treatment_start"])
        targets = [
            rules.TargetLesion(
                lesion_id=t["lesion_id"],
                organ=t["organ"],
                is_node=t["is_node"],
                diameter_mm=mm(t["diameter_mm"]),
                method=rules.ImagingMethod(t["method"]),
                slice_thickness_mm=mm(t.get("slice_thickness_mm")),
            )
            for t in payload["targets"]
        ]
        non_targets = [
            rules.NonTargetLesion(
                lesion_id=n["lesion_id"],
                organ=n["organ"],
                is_node=n["is_node"],
                diameter_mm=mm(n.get("diameter_mm")),
            )
            for n in payload["non_targets"]
        ]
        assessments = [
            rules.Assessment(
                assessment_date=date.fromisoformat(a["date"]),
                target_measurements={k: mm(v) for k, v in a["targets"].items()},
                non_target_status=rules.NonTargetStatus(a["non_target_status"]),
                new_lesions=rules.NewLesions(a["new_lesions"]),
            )
            for a in payload["assessments"]
            if date.fromisoformat(a["date"]) <= data_cut
        ]
        result = rules.evaluate_recist(
            criteria=recist_criteria(design),
            settings=recist_settings(design),
            treatment_start=start,
            targets=targets,
            non_targets=non_targets,
            assessments=assessments,
        )
    except (KeyError, TypeError, ValueError):
        return None
    bor = result.best_overall_response.value
    responded = bor in ("CR", "PR") and result.best_response_confirmed is not False
    summary = (
        bor,
        result.best_overall_response_date,
        result.best_overall_response_date if responded else None,
        result.progression_date,
        bool(assessments) and (bool(targets) or bool(non_targets)),
    )
    calls = [
        (tp.assessment_date, tp.overall_response.value, None, False) for tp in result.timepoints
    ]
    return summary, calls


def _on_or_before(value: date | None, limit: date) -> date | None:
    return value if value is not None and value <= limit else None


# --- Bulk IMWG inputs (benchmarks, whole-trial recomputation) ---------------------------------

#: The characters ``str.strip()`` removes (Python's whitespace): the bulk query trims an
#: immunofixation category with these, as ``build_imwg_input`` does.
PY_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def imwg_lab_columns() -> list[tuple[str, str | None]]:
    """``Assessment``'s fields after ``date`` up to its last lab field, each with the lab
    catalogue code that fills it (``None``: not a lab, null here). The bulk query returns them
    in this order, so that ``row[1:]`` is an assessment's positional arguments."""
    from response.domain.imwg import Assessment
    from response.domain.imwg_input import RESPONSE_ANALYTES

    code_for = {field: code for code, field in RESPONSE_ANALYTES.items()}
    names = list(Assessment.__dataclass_fields__)
    last = max(names.index(field) for field in code_for)
    return [(name, code_for.get(name)) for name in names[1 : last + 1]]


def _imwg_bulk_sql(columns: list[tuple[str, str | None]], categorical: Iterable[str]) -> str:
    """The lab query of :func:`imwg_inputs_bulk`: one row per done visit with a usable response
    lab — (patient id, visit date, then the engine value of each of ``columns``) — in patient,
    date and visit order. A visit holds one result per analyte (``lab_unique_per_visit``), so
    the per-visit pivot is exact; the engine value is the builder's: a number as float8 (the
    nearest double, as ``float(Decimal)``), or an immunofixation category stripped of Python's
    whitespace and lower-cased (ASCII: only those letters can spell the two kept values) when
    it is "positive" or "negative"."""
    lower = _ASCII_UPPER.lower()

    def category(expr: str) -> str:
        return f"translate(btrim({expr}, %(ws)s), '{_ASCII_UPPER}', '{lower}')"

    labs = [(i, code) for i, (_, code) in enumerate(columns) if code is not None]
    per_visit = ", ".join(
        f"max(l.{'category' if code in categorical else 'value'}) "
        f"FILTER (WHERE l.analyte = '{code}') AS c{i}"
        for i, code in labs
    )
    values = ", ".join(
        "NULL::float8"
        if code is None
        else f"CASE WHEN {category(f'lv.c{i}')} IN ('positive', 'negative') "
        f"THEN {category(f'lv.c{i}')} END AS c{i}"
        if code in categorical
        else f"lv.c{i}::float8 AS c{i}"
        for i, (_, code) in enumerate(columns)
    )
    usable = " OR ".join(f"x.c{i} IS NOT NULL" for i, _ in labs)
    # Built from the lab catalogue's codes and column numbers only; the values are parameters.
    return f"""
        SELECT x.* FROM (
            SELECT v.patient_id, v.visit_date, {values}
            FROM (
                SELECT l.visit_id, {per_visit}
                FROM trials_labresult l
                WHERE l.analyte = ANY(%(analytes)s)
                GROUP BY l.visit_id
            ) lv
            JOIN trials_visit v ON v.id = lv.visit_id
            JOIN trials_patient p ON p.id = v.patient_id
            WHERE p.trial_id = ANY(%(trials)s) AND v.status = %(done)s
              AND v.visit_date IS NOT NULL
            ORDER BY v.patient_id, v.visit_date, v.id
        ) x
        WHERE {usable}
    """  # noqa: S608


def imwg_inputs_bulk(*, trial_codes: Iterable[str] | None = None) -> dict[int, Any]:
    """The IMWG engine input of every patient of the IMWG trials (``trial_codes``, else all)
    whose treatment has started, in a fixed number of queries: the input
    ``response.services.evaluation`` builds one patient at a time with ``build_imwg_input``,
    equal field for field. Patients whose stored data the engine refuses are left out.
    Returns ``{patient_id: ImwgInput}`` in patient id order.

    The labs are reduced in SQL to one row per done visit holding the engine value of each
    response analyte (see :func:`_imwg_bulk_sql`), about a quarter of the lab rows and no
    Python object per lab. Per patient, the rows up to the treatment start fold into the
    baseline (the latest value of each analyte; the later visit of a date wins) and each later
    row is an ``Assessment`` as it comes. Two visits on one date (rare) or a value the engine
    refuses send the patient through ``build_imwg_input`` itself, with the rows as its labs.
    """
    from itertools import groupby
    from operator import itemgetter

    from django.db import connection
    from django.db.models import Min

    from response.domain.imwg import Assessment, Baseline, ImwgInput, ImwgInputError
    from response.domain.imwg_input import (
        _CATEGORICAL,
        RESPONSE_ANALYTES,
        LabValue,
        build_imwg_input,
    )
    from response.services.evaluation import imwg_settings
    from trials.domain.dosing import RECEIVED
    from trials.domain.schedule import VisitKind, VisitState
    from trials.models import DoseAdministration, LastContact, Visit

    trials = Trial.objects.order_by("pk")
    if trial_codes is not None:
        trials = trials.filter(code__in=list(trial_codes))
    settings_by_trial = {}
    for trial in trials:
        design = trial_selectors.trial_design(trial)
        if not design.response.is_recist:
            settings_by_trial[trial.pk] = imwg_settings(design.response)
    if not settings_by_trial:
        return {}
    trial_ids = list(settings_by_trial)
    patient_trial = dict(
        Patient.objects.filter(trial_id__in=trial_ids).values_list("pk", "trial_id")
    )
    # The treatment start: the first dose, else the first done C1D1 (``_treatment_start``).
    starts: dict[int, date] = dict(
        Visit.objects.filter(
            patient__trial_id__in=trial_ids,
            kind=VisitKind.TREATMENT,
            cycle=1,
            day=1,
            status=VisitState.DONE,
            visit_date__isnull=False,
        )
        .values("patient_id")
        .annotate(first=Min("visit_date"))
        .values_list("patient_id", "first")
    )
    # ``trials.selectors.first_dose_dates`` by trial, not by a list of 20,000 patient ids.
    starts.update(
        (patient_id, first)
        for patient_id, first in DoseAdministration.objects.filter(
            visit__patient__trial_id__in=trial_ids, status__in=[s.value for s in RECEIVED]
        )
        .values("visit__patient_id")
        .annotate(first=Min("visit__visit_date"))
        .values_list("visit__patient_id", "first")
        if first is not None
    )
    # The death date of the latest vital-status record (``trials.selectors.last_contact``).
    deaths: dict[int, date | None] = dict(
        LastContact.objects.filter(patient__trial_id__in=trial_ids)
        .order_by("patient_id", "-vital_status", "-contact_date", "-pk")
        .distinct("patient_id")
        .values_list("patient_id", "death_date")
    )
    columns = imwg_lab_columns()
    with connection.cursor() as cursor:
        cursor.execute(
            _imwg_bulk_sql(columns, _CATEGORICAL),
            {
                "trials": trial_ids,
                "done": VisitState.DONE.value,
                "analytes": list(RESPONSE_ANALYTES),
                "ws": PY_WHITESPACE,
            },
        )
        rows = cursor.fetchall()
    by_patient = {patient_id: list(group) for patient_id, group in groupby(rows, itemgetter(0))}
    del rows
    fields = [(k, name) for k, (name, code) in enumerate(columns, start=2) if code is not None]

    def as_labs(labs: list[tuple[Any, ...]]) -> list[LabValue]:
        """The rows as the builder's labs (numbers as values, categories as categories)."""
        return [
            LabValue(code, row[1], None, row[k])
            if code in _CATEGORICAL
            else LabValue(code, row[1], row[k], "")
            for row in labs
            for k, (_, code) in enumerate(columns, start=2)
            if code is not None and row[k] is not None
        ]

    inputs: dict[int, Any] = {}
    for patient_id in sorted(starts):
        start = starts[patient_id]
        settings = settings_by_trial[patient_trial[patient_id]]
        death = deaths.get(patient_id)
        labs = by_patient.get(patient_id, [])
        n = 0
        baseline: dict[str, Any] = {}
        for row in labs:  # date order: the rows of the baseline come first
            if row[1] > start:
                break
            n += 1
            for k, name in fields:
                if row[k] is not None:
                    baseline[name] = row[k]
        try:
            assessments = tuple([Assessment(*row[1:]) for row in labs[n:]])
            if death is not None and assessments and death < assessments[-1].date:
                death = None  # as build_imwg_input drops it
            inputs[patient_id] = ImwgInput(
                baseline=Baseline(start, **baseline),
                assessments=assessments,
                settings=settings,
                death_date=death,
            )
        except ImwgInputError:
            try:
                inputs[patient_id] = build_imwg_input(
                    labs=as_labs(labs),
                    treatment_start=start,
                    settings=settings,
                    death_date=deaths.get(patient_id),
                )
            except ImwgInputError:
                continue
    return inputs
