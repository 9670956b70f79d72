"""Every read of trial data that a page, API view or task needs, scoped by membership.

A user sees a patient only through an active membership of the patient's trial that covers
the patient's site (or all sites). Anything else is "not found": a coordinator of site A gets a
404 for a site B record, never a 403 that would confirm the record exists.

Reads other apps rely on (stable interface):

- :func:`trial_design` — the design in effect (a frozen ``TrialDesign``);
- :func:`first_dose_date` / :func:`first_dose_dates` — C1D1 as given (study day 1);
- :func:`lab_rows` — canonical lab values with limits, for response and lab grading;
- :func:`dose_rows` — every recorded administration, for exposure and DLT evaluability;
- :func:`last_contact` — vital status for survival;
- :func:`status_history` — dated status steps with reasons (end of treatment, end of study).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import (
    Count,
    Exists,
    FilteredRelation,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404

from trials.domain import eligibility as eligibility_rules
from trials.domain.design import TrialDesign
from trials.domain.dosing import RECEIVED
from trials.domain.labs import ANALYTES
from trials.domain.missing import MissingItem, VisitFacts, missing_items
from trials.domain.schedule import VisitKind, VisitState, VisitTiming, visit_timing
from trials.models import (
    Consent,
    DoseAdministration,
    EligibilityAnswer,
    EligibilityCriterion,
    LabReferenceRange,
    LabResult,
    LastContact,
    Membership,
    Patient,
    PatientStatusChange,
    ProtocolVersion,
    Role,
    Site,
    Trial,
    TrialAgent,
    User,
    Visit,
)

IDENTIFIER_ROLES = (Role.COORDINATOR, Role.MONITOR)
#: Roles that write clinical data (at the sites their membership covers).
CLINICAL_WRITE_ROLES = (Role.COORDINATOR, Role.TRIAL_ADMIN)
TRIAL_ADMIN_ROLES = (Role.TRIAL_ADMIN,)


def active_memberships(user: User) -> QuerySet[Membership]:
    if not user.is_authenticated:
        return Membership.objects.none()
    return Membership.objects.filter(user=user, active=True).select_related("trial")


#: Where :func:`request_user_roles` keeps the signed-in user's roles for the rest of a request
#: (on the request, and on its user object so that ``user_roles(request.user)`` reuses them).
_ROLES_ATTR = "_trialdesk_roles"


def user_roles(user: User) -> set[str]:
    if not user.is_authenticated:
        return set()
    cached = getattr(user, _ROLES_ATTR, None)
    if cached is not None:
        return set(cached)
    return set(Membership.objects.filter(user=user, active=True).values_list("role", flat=True))


def request_user_roles(request) -> set[str]:
    """:func:`user_roles` of ``request.user``, read from the database once per request.

    The navigation and the two-factor banner both need the roles on every page; the second
    read is served from the request's user object (which lives as long as the request).
    """
    cached = getattr(request, _ROLES_ATTR, None)
    if cached is None:
        user = request.user
        cached = frozenset(user_roles(user))
        setattr(request, _ROLES_ATTR, cached)
        if user.is_authenticated:
            setattr(user, _ROLES_ATTR, cached)
    return set(cached)


def trials_for_user(user: User) -> QuerySet[Trial]:
    if not user.is_authenticated:
        return Trial.objects.none()
    member = Membership.objects.filter(user=user, active=True, trial=OuterRef("pk"))
    return Trial.objects.filter(Exists(member)).order_by("code")


def get_trial_for_user(user: User, *, code: str) -> Trial:
    return get_object_or_404(trials_for_user(user), code=code)


def sites_for_user(user: User, *, trial: Trial | None = None) -> QuerySet[Site]:
    if not user.is_authenticated:
        return Site.objects.none()
    memberships = Membership.objects.filter(user=user, active=True)
    if trial is not None:
        memberships = memberships.filter(trial=trial)
    all_site_trials = memberships.filter(all_sites=True).values("trial")
    return (
        Site.objects.filter(
            Q(memberships__in=memberships) | Q(trial_sites__trial__in=all_site_trials)
        )
        .distinct()
        .order_by("code")
    )


def writable_sites(user: User, *, trial: Trial) -> QuerySet[Site]:
    """Sites of ``trial`` where ``user`` may screen and record clinical data."""
    if not user.is_authenticated:
        return Site.objects.none()
    memberships = Membership.objects.filter(
        user=user, active=True, trial=trial, role__in=CLINICAL_WRITE_ROLES
    )
    sites = Site.objects.filter(trial_sites__trial=trial, trial_sites__active=True)
    if not memberships.filter(all_sites=True).exists():
        sites = sites.filter(memberships__in=memberships)
    return sites.distinct().order_by("code")


def _covering_memberships(user: User, roles: Iterable[str] | None = None) -> QuerySet:
    qs = Membership.objects.filter(user=user, active=True, trial=OuterRef("trial")).filter(
        Q(all_sites=True) | Q(sites=OuterRef("site"))
    )
    if roles is not None:
        qs = qs.filter(role__in=list(roles))
    return qs


def patients_for_user(
    user: User, *, trial: Trial | None = None, roles: Iterable[str] | None = None
) -> QuerySet[Patient]:
    """Patients the user may read (optionally: through one of ``roles``)."""
    if not user.is_authenticated:
        return Patient.objects.none()
    qs = Patient.objects.filter(Exists(_covering_memberships(user, roles)))
    if trial is not None:
        qs = qs.filter(trial=trial)
    return qs.select_related("trial", "site", "dose_level").annotate(
        can_see_identifiers=Exists(_covering_memberships(user, IDENTIFIER_ROLES)),
        can_write=Exists(_covering_memberships(user, CLINICAL_WRITE_ROLES)),
    )


def get_patient_for_user(user: User, *, pk: int, roles: Iterable[str] | None = None) -> Patient:
    return get_object_or_404(patients_for_user(user, roles=roles), pk=pk)


def user_has_role(
    user: User, *, trial: Trial, roles: Iterable[str], site: Site | None = None
) -> bool:
    if not user.is_authenticated:
        return False
    qs = Membership.objects.filter(user=user, trial=trial, active=True, role__in=list(roles))
    if site is not None:
        qs = qs.filter(Q(all_sites=True) | Q(sites=site))
    return qs.exists()


def can_write_clinical(user: User, patient: Patient) -> bool:
    annotated = getattr(patient, "can_write", None)
    if annotated is not None:
        return bool(annotated)
    return user_has_role(user, trial=patient.trial, roles=CLINICAL_WRITE_ROLES, site=patient.site)


def is_trial_admin(user: User, trial: Trial) -> bool:
    return user_has_role(user, trial=trial, roles=TRIAL_ADMIN_ROLES)


def get_visit_for_user(user: User, *, pk: int) -> Visit:
    patients = patients_for_user(user)
    visit = get_object_or_404(
        Visit.objects.select_related("patient").filter(patient__in=patients.values("pk")), pk=pk
    )
    visit.patient = patients.get(pk=visit.patient_id)
    return visit


def get_lab_for_user(user: User, *, pk: int) -> LabResult:
    patients = patients_for_user(user)
    lab = get_object_or_404(
        LabResult.objects.select_related("visit").filter(patient__in=patients.values("pk")), pk=pk
    )
    lab.patient = patients.get(pk=lab.patient_id)
    lab.visit.patient = lab.patient
    return lab


# --- The coordinator's list ---------------------------------------------------------------------


def _worklist_patients(
    user: User,
    *,
    trial: Trial | None,
    site: Site | None,
    statuses: Iterable[str] | None,
) -> QuerySet[Patient]:
    """The patients of the worklist, without any annotation (what the count needs)."""
    if not user.is_authenticated:
        return Patient.objects.none()
    qs = Patient.objects.filter(Exists(_covering_memberships(user)))
    if trial is not None:
        qs = qs.filter(trial=trial)
    if site is not None:
        qs = qs.filter(site=site)
    if statuses:
        qs = qs.filter(status__in=list(statuses))
    return qs


def _with_worklist_key(qs: QuerySet[Patient], *, today: date) -> QuerySet[Patient]:
    """Sorted by the worklist key: ``overdue_count`` (planned visits past their window) first,
    then ``next_visit_date`` (the earliest planned visit whose window is still open), then
    trial, site and screening number.

    The key is one join on the patients' planned visits, grouped by patient (an index-only scan
    of the partial index ``visit_planned_patient_idx``), not two subqueries per patient: the list
    computes it for every visible patient before it can cut a page.
    """
    planned = FilteredRelation("visits", condition=Q(visits__status=VisitState.PLANNED))
    return (
        qs.alias(planned_visit=planned)
        .annotate(
            overdue_count=Count("planned_visit", filter=Q(planned_visit__window_end__lt=today)),
            next_visit_date=Min(
                "planned_visit__planned_date", filter=Q(planned_visit__window_end__gte=today)
            ),
        )
        .order_by(
            "-overdue_count",
            Coalesce("next_visit_date", Value(date.max)).asc(),
            "trial__code",
            "site__code",
            "screening_number",
        )
    )


def patient_worklist(
    user: User,
    *,
    today: date,
    trial: Trial | None = None,
    site: Site | None = None,
    statuses: Iterable[str] | None = None,
) -> QuerySet[Patient]:
    """ "My patients": overdue visits first, then by the next visit due, in one query.

    Each row carries ``overdue_count``, ``next_visit_code``, ``next_visit_date`` and
    ``next_window_end``. To show it page by page, paginate :func:`patient_worklist_pages`.
    """
    qs = patients_for_user(user, trial=trial)
    if site is not None:
        qs = qs.filter(site=site)
    if statuses:
        qs = qs.filter(status__in=list(statuses))
    next_visit = Visit.objects.filter(
        patient=OuterRef("pk"), status=VisitState.PLANNED, window_end__gte=today
    ).order_by("planned_date", "id")
    # PostgreSQL computes these (and the Exists of ``patients_for_user``) after the sort and
    # the LIMIT: only for the rows it returns.
    return _with_worklist_key(qs, today=today).annotate(
        next_visit_code=Subquery(next_visit.values("code")[:1]),
        next_window_end=Subquery(next_visit.values("window_end")[:1]),
    )


class WorklistPages:
    """:func:`patient_worklist` as a paginator's object list (Django's ``Paginator``, DRF's
    ``PageNumberPagination``): the same rows in the same order, in two queries per page.

    ``count()`` counts the visible patients without the sort key. A slice sorts only the keys
    (id, overdue count, next visit due) of every visible patient and reads the full rows of the
    page's patients only, in one query (``id IN (the page's ids)``).
    """

    def __init__(self, rows: QuerySet[Patient], keys: QuerySet[Patient], patients: QuerySet):
        self._rows = rows
        self._keys = keys
        self._patients = patients
        self._count: int | None = None

    def count(self) -> int:
        if self._count is None:
            self._count = self._patients.count()
        return self._count

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index):
        if isinstance(index, slice):
            if index.step not in (None, 1):
                raise ValueError("A worklist page is a contiguous slice.")
            page = self._keys.values("pk")[index.start : index.stop]
            return list(self._rows.filter(pk__in=page))
        rows = self[index : index + 1]
        if not rows:
            raise IndexError(index)
        return rows[0]


def patient_worklist_pages(
    user: User,
    *,
    today: date,
    trial: Trial | None = None,
    site: Site | None = None,
    statuses: Iterable[str] | None = None,
) -> WorklistPages:
    """The rows of :func:`patient_worklist`, to paginate (the lists of the page and the API)."""
    filters = {"trial": trial, "site": site, "statuses": statuses}
    patients = _worklist_patients(user, **filters)
    return WorklistPages(
        rows=patient_worklist(user, today=today, **filters),
        keys=_with_worklist_key(patients, today=today),
        patients=patients,
    )


# --- Design -------------------------------------------------------------------------------------


def protocol_versions(trial: Trial) -> QuerySet[ProtocolVersion]:
    return (
        ProtocolVersion.objects.filter(trial=trial).select_related("created_by").order_by("number")
    )


def current_protocol_version(trial: Trial, *, on: date | None = None) -> ProtocolVersion | None:
    """The latest version (or, with ``on``, the latest one effective on that date)."""
    qs = ProtocolVersion.objects.filter(trial=trial)
    if on is not None:
        qs = qs.filter(effective_date__lte=on)
    return qs.order_by("-number").first()


def trial_design(trial: Trial, *, on: date | None = None) -> TrialDesign:
    """The one way other apps read a trial's design.

    Without ``on``: the latest approved protocol version. With ``on``: the version in effect on
    that date. A trial without any protocol version yet gets the documented defaults.
    """
    qs = ProtocolVersion.objects.filter(trial=trial)
    if on is not None:
        qs = qs.filter(effective_date__lte=on)
    # The version of current_protocol_version, but only its design: no model row to build.
    design = qs.order_by("-number").values_list("design", flat=True).first()
    if design is None:
        return TrialDesign()
    return TrialDesign.from_dict(design)


def trial_agents(trial: Trial) -> list[TrialAgent]:
    return list(TrialAgent.objects.filter(trial=trial).order_by("position", "code"))


def eligibility_criteria(trial: Trial) -> QuerySet[EligibilityCriterion]:
    return EligibilityCriterion.objects.filter(trial=trial, active=True).order_by(
        "-kind", "position", "code"
    )


# --- Screening and enrolment ------------------------------------------------------------------


@dataclass(frozen=True)
class CriterionRow:
    criterion: EligibilityCriterion
    answer: bool | None
    note: str
    failing: bool


def patient_eligibility(
    patient: Patient,
) -> tuple[list[CriterionRow], eligibility_rules.EligibilityResult]:
    answers = {a.criterion_id: a for a in EligibilityAnswer.objects.filter(patient=patient)}
    rows = []
    domain_rows = []
    for criterion in eligibility_criteria(patient.trial):
        answer = answers.get(criterion.pk)
        value = answer.answer if answer else None
        domain_row = eligibility_rules.CriterionAnswer(
            code=criterion.code,
            kind=eligibility_rules.CriterionKind(criterion.kind),
            text=criterion.text,
            answer=value,
        )
        domain_rows.append(domain_row)
        rows.append(
            CriterionRow(
                criterion=criterion,
                answer=value,
                note=answer.note if answer else "",
                failing=eligibility_rules.fails(domain_row),
            )
        )
    return rows, eligibility_rules.evaluate(domain_rows)


def consents(patient: Patient) -> QuerySet[Consent]:
    return Consent.objects.filter(patient=patient).order_by("consent_date", "id")


def first_consent_date(patient: Patient) -> date | None:
    return (
        Consent.objects.filter(patient=patient, withdrawn_date__isnull=True)
        .order_by("consent_date")
        .values_list("consent_date", flat=True)
        .first()
    )


def status_history(patient: Patient, *, with_authors: bool = True) -> QuerySet[PatientStatusChange]:
    """The status steps; ``with_authors=False`` skips the join on the users (the patient page
    does not show who recorded a step)."""
    qs = PatientStatusChange.objects.filter(patient=patient)
    return qs.select_related("created_by") if with_authors else qs


def last_contact(patient: Patient) -> LastContact | None:
    """The latest vital-status record (a death beats any later 'alive' by construction)."""
    return (
        LastContact.objects.filter(patient=patient)
        .order_by("-vital_status", "-contact_date", "-id")  # "dead" sorts after "alive"
        .first()
    )


# --- Visits, doses and labs --------------------------------------------------------------------


def patient_visits(patient: Patient) -> list[Visit]:
    """All visits, in date order, with doses and labs prefetched (3 queries)."""
    visits = (
        Visit.objects.filter(patient=patient)
        .prefetch_related(
            Prefetch(
                "doses",
                queryset=DoseAdministration.objects.select_related("agent").order_by(
                    "agent__position", "agent__code"
                ),
            ),
            Prefetch("lab_results", queryset=LabResult.objects.order_by("analyte")),
        )
        .order_by(Coalesce("visit_date", "planned_date").asc(nulls_last=True), "id")
    )
    for visit in visits:
        visit.patient = patient
    return list(visits)


@dataclass(frozen=True, slots=True)
class LabValue:
    """A lab result as the patient page shows it (``LabResult.display_value``)."""

    analyte: str
    display_value: str


def _lab_display_value(value: Decimal | None, unit: str, category: str) -> str:
    """``LabResult.display_value`` from the column values."""
    if category:
        return category
    return f"{value.normalize():f} {unit}" if value is not None else ""


def patient_page_visits(patient: Patient) -> list[Visit]:
    """:func:`patient_visits` for the patient page (3 queries): the labs of each visit are
    ``visit.lab_values`` (:class:`LabValue`, by analyte), read as plain values rather than
    full ``LabResult`` rows (a patient has hundreds of labs); ``visit.lab_results`` is not
    prefetched.
    """
    visits = list(
        Visit.objects.filter(patient=patient)
        .prefetch_related(
            Prefetch(
                "doses",
                queryset=DoseAdministration.objects.select_related("agent").order_by(
                    "agent__position", "agent__code"
                ),
            )
        )
        .order_by(Coalesce("visit_date", "planned_date").asc(nulls_last=True), "id")
    )
    by_visit: dict[int, list[LabValue]] = {}
    for visit in visits:
        visit.patient = patient
        visit.lab_values = by_visit[visit.pk] = []
    if visits:
        rows = (
            LabResult.objects.filter(visit_id__in=list(by_visit))
            .order_by("analyte")
            .values_list("visit_id", "analyte", "value", "unit", "category")
        )
        for visit_id, analyte, value, unit, category in rows:
            by_visit[visit_id].append(LabValue(analyte, _lab_display_value(value, unit, category)))
    return visits


def first_dose_dates(patient_ids: Iterable[int]) -> dict[int, date]:
    """C1D1 as given: the first visit at which any agent was received, per patient."""
    rows = (
        DoseAdministration.objects.filter(
            visit__patient_id__in=list(patient_ids), status__in=[s.value for s in RECEIVED]
        )
        .values("visit__patient_id")
        .annotate(first=Min("visit__visit_date"))
    )
    return {r["visit__patient_id"]: r["first"] for r in rows}


def first_dose_date(patient: Patient) -> date | None:
    return first_dose_dates([patient.pk]).get(patient.pk)


@dataclass(frozen=True)
class LabRow:
    """One lab result in canonical units, for the response and safety engines."""

    patient_id: int
    visit_id: int
    visit_code: str
    analyte: str
    collected_on: date
    value: Decimal | None
    unit: str
    category: str
    lln: Decimal | None
    uln: Decimal | None


def lab_rows(patient: Patient, *, analytes: Iterable[str] | None = None) -> list[LabRow]:
    qs = LabResult.objects.filter(patient=patient).select_related("visit")
    if analytes is not None:
        qs = qs.filter(analyte__in=list(analytes))
    return [
        LabRow(
            patient_id=r.patient_id,
            visit_id=r.visit_id,
            visit_code=r.visit.code,
            analyte=r.analyte,
            collected_on=r.collected_on,
            value=r.value,
            unit=r.unit,
            category=r.category,
            lln=r.lln,
            uln=r.uln,
        )
        for r in qs.order_by("collected_on", "analyte", "id")
    ]


@dataclass(frozen=True)
class DoseRow:
    patient_id: int
    visit_id: int
    visit_code: str
    cycle: int | None
    day: int | None
    visit_date: date | None
    agent: str
    status: str
    dose_mg: Decimal | None
    allowed_mg: Decimal
    dose_level: int
    reason: str


def dose_rows(patient: Patient) -> list[DoseRow]:
    qs = DoseAdministration.objects.filter(visit__patient=patient).select_related(
        "visit", "agent", "dose_level"
    )
    return [
        DoseRow(
            patient_id=patient.pk,
            visit_id=d.visit_id,
            visit_code=d.visit.code,
            cycle=d.visit.cycle,
            day=d.visit.day,
            visit_date=d.visit.visit_date,
            agent=d.agent.code,
            status=d.status,
            dose_mg=d.dose_mg,
            allowed_mg=d.allowed_mg,
            dose_level=d.dose_level.number,
            reason=d.reason,
        )
        for d in qs.order_by("visit__visit_date", "agent__position", "id")
    ]


def reference_limits(site: Site, analyte: str) -> tuple[Decimal | None, Decimal | None, str]:
    """(LLN, ULN, source) for a site: its own range, else the catalogue's default."""
    own = LabReferenceRange.objects.filter(site=site, analyte=analyte).first()
    if own is not None:
        return own.lln, own.uln, "site"
    a = ANALYTES[analyte]
    return a.lln, a.uln, "catalogue"


# --- Timeline and what is missing ---------------------------------------------------------------


@dataclass(frozen=True)
class TimelineVisit:
    visit: Visit
    timing: VisitTiming


def visit_timeline(visits: list[Visit], *, today: date) -> list[TimelineVisit]:
    return [
        TimelineVisit(
            visit=v,
            timing=visit_timing(
                state=v.status, window_start=v.window_start, window_end=v.window_end, today=today
            ),
        )
        for v in visits
    ]


def _visit_labs(visit: Visit) -> Iterable:
    """The labs of a visit of :func:`patient_page_visits` or :func:`patient_visits`."""
    values = getattr(visit, "lab_values", None)
    return values if values is not None else visit.lab_results.all()


def patient_missing_items(
    patient: Patient,
    *,
    visits: list[Visit],
    design: TrialDesign,
    agents: list[TrialAgent],
    has_consent: bool,
    eligibility_complete: bool,
    today: date,
) -> list[MissingItem]:
    facts = []
    for v in visits:
        expected: frozenset[str] = frozenset()
        if v.kind == VisitKind.TREATMENT and patient.dose_level_id:
            expected = frozenset(a.code for a in agents if a.recorded_on(v.day))
        facts.append(
            VisitFacts(
                code=v.code,
                label=v.label,
                kind=v.kind,
                state=v.status,
                window_start=v.window_start,
                window_end=v.window_end,
                response_assessment=v.response_assessment,
                labs=frozenset(r.analyte for r in _visit_labs(v)),
                doses_recorded=frozenset(d.agent.code for d in v.doses.all()),
                doses_expected=expected,
            )
        )
    return missing_items(
        visits=facts,
        required_labs=design.visit_schedule.required_labs,
        response_labs=design.visit_schedule.response_labs,
        has_consent=has_consent,
        eligibility_complete=eligibility_complete or patient.status != "screening",
        today=today,
    )
