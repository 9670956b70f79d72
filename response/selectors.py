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
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, Subquery

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
