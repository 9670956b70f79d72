"""Every read of safety data that a page, API view, task or another app needs.

Clinical reads are scoped through ``trials.selectors.patients_for_user``: a record of a site the
user's memberships do not cover is simply not found (404).

Reads other apps rely on (stable interface):

- :func:`dlt_states_for_trial` — each dosed-or-assigned patient's DLT state, for the dose
  escalation engine (``DltPatientState.status`` uses the names of
  ``dosing.domain.escalation.DLTStatus``);
- :func:`dlt_definition_for` — the DLT definition in effect for a trial;
- :func:`ctcae_version_for` — the CTCAE version a trial grades with.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from dosing.models import DoseLevel
from safety.domain.ctcae import DICTIONARY_FILES
from safety.domain.dlt_rules import (
    TRIAL_A_DLT_DEFINITION_DATA,
    DltDefinition,
    dlt_definition_from_data,
)
from safety.domain.lab_analytes import reported_name
from safety.domain.sae_clock import SaeClock, SaeReportingPolicy, sae_clock
from safety.models import (
    AdverseEvent,
    AdverseEventAttribution,
    AdverseEventGrade,
    CtcaeTerm,
    DltAdjudication,
    DltDefinitionVersion,
    DltWindow,
    DltWindowState,
    LabGradeSuggestion,
    PotentialDlt,
    PotentialDltStatus,
    SaeReport,
    SuggestionStatus,
)
from trials import selectors as trial_selectors
from trials.models import Patient, Role, Trial, User

#: Roles that enter and correct adverse events (at the sites their membership covers).
AE_WRITE_ROLES = (Role.COORDINATOR, Role.TRIAL_ADMIN)
#: Roles that adjudicate DLTs and sign SAE reports.
SIGNING_ROLES = (Role.INVESTIGATOR,)
#: Windows whose last day falls within this many days are "closing soon".
CLOSING_SOON_DAYS = 7


# --- CTCAE -------------------------------------------------------------------------------------


def ctcae_version_for(trial: Trial, *, on: date | None = None) -> str:
    """The CTCAE version the trial grades with (its design decides, per protocol version)."""
    return trial_selectors.trial_design(trial, on=on).ctcae_version


def ctcae_version_installed(version: str) -> bool:
    return version in DICTIONARY_FILES and CtcaeTerm.objects.filter(version=version).exists()


def ctcae_terms(version: str) -> QuerySet[CtcaeTerm]:
    return CtcaeTerm.objects.filter(version=version).order_by("term")


def ctcae_term_by_code(version: str, meddra_code: int) -> CtcaeTerm | None:
    return CtcaeTerm.objects.filter(version=version, meddra_code=meddra_code).first()


def ctcae_term_by_name(version: str, term: str) -> CtcaeTerm | None:
    return CtcaeTerm.objects.filter(version=version, term__iexact=term.strip()).first()


# --- DLT definition ---------------------------------------------------------------------------


DEFAULT_DEFINITION_NOTE = "TrialDesk default (trial A's rules)"


def dlt_definition_data_for(trial: Trial, *, on: date | None = None) -> tuple[dict, Any]:
    """(definition data, the DltDefinitionVersion row or None for the default) in effect."""
    version = trial_selectors.current_protocol_version(trial, on=on)
    row = None
    if version is not None:
        row = (
            DltDefinitionVersion.objects.filter(
                trial=trial, protocol_version__number__lte=version.number
            )
            .select_related("protocol_version")
            .order_by("-protocol_version__number")
            .first()
        )
    if row is not None:
        return dict(row.definition), row
    design = trial_selectors.trial_design(trial, on=on)
    data = _plain(TRIAL_A_DLT_DEFINITION_DATA)
    data["window_days"] = design.dlt_window_days
    data["ctcae_version"] = design.ctcae_version
    return data, None


def dlt_definition_for(trial: Trial, *, on: date | None = None) -> DltDefinition:
    data, _ = dlt_definition_data_for(trial, on=on)
    return dlt_definition_from_data(data)


def _plain(value: Any) -> Any:
    """A mapping of tuples (the shipped default) as plain JSON-ready dicts and lists."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list | frozenset | set):
        return [_plain(v) for v in value]
    return value


# --- Adverse events ---------------------------------------------------------------------------


def _patient_scope(user: User, *, trial: Trial | None = None, roles=None) -> QuerySet[Patient]:
    return trial_selectors.patients_for_user(user, trial=trial, roles=roles)


def adverse_events_for_user(
    user: User, *, trial: Trial | None = None, patient: Patient | None = None
) -> QuerySet[AdverseEvent]:
    """Adverse events of patients the user may read, with what a list shows (constant queries)."""
    qs = AdverseEvent.objects.filter(patient__in=_patient_scope(user, trial=trial).values("pk"))
    if patient is not None:
        qs = qs.filter(patient=patient)
    return (
        qs.select_related(
            "patient__trial", "patient__site", "patient__dose_level", "sae_report", "potential_dlt"
        )
        .prefetch_related(
            Prefetch("grade_episodes", queryset=AdverseEventGrade.objects.order_by("onset_date")),
            Prefetch(
                "attributions",
                queryset=AdverseEventAttribution.objects.select_related("agent").order_by(
                    "agent__position", "agent__code"
                ),
            ),
        )
        .order_by("-onset_date", "-id")
    )


def get_adverse_event_for_user(user: User, *, pk: int) -> AdverseEvent:
    ae = get_object_or_404(adverse_events_for_user(user), pk=pk)
    # The patient row carries the user's rights (can_write, can_see_identifiers).
    ae.patient = _patient_scope(user).get(pk=ae.patient_id)
    return ae


def can_write_adverse_events(user: User, patient: Patient) -> bool:
    return trial_selectors.user_has_role(
        user, trial=patient.trial, roles=AE_WRITE_ROLES, site=patient.site
    )


def can_sign(user: User, patient: Patient) -> bool:
    return trial_selectors.user_has_role(
        user, trial=patient.trial, roles=SIGNING_ROLES, site=patient.site
    )


def episodes_of(ae: AdverseEvent) -> list[AdverseEventGrade]:
    return sorted(ae.grade_episodes.all(), key=lambda e: e.onset_date)


# --- Lab suggestions --------------------------------------------------------------------------


def lab_suggestions_for_user(
    user: User, *, trial: Trial | None = None, status: str | None = SuggestionStatus.PENDING
) -> QuerySet[LabGradeSuggestion]:
    qs = LabGradeSuggestion.objects.filter(
        patient__in=_patient_scope(user, trial=trial).values("pk")
    )
    if status:
        qs = qs.filter(status=status)
    return qs.select_related(
        "patient__trial", "patient__site", "ctcae_term", "lab_result__visit", "adverse_event"
    ).order_by("collected_on", "id")


def get_lab_suggestion_for_user(user: User, *, pk: int) -> LabGradeSuggestion:
    suggestion = get_object_or_404(lab_suggestions_for_user(user, status=None), pk=pk)
    suggestion.patient = _patient_scope(user).get(pk=suggestion.patient_id)
    return suggestion


# --- DLT windows and potential DLTs -------------------------------------------------------------


def dlt_windows_for_user(
    user: User, *, trial: Trial | None = None, status: str | None = None
) -> QuerySet[DltWindow]:
    qs = DltWindow.objects.filter(patient__in=_patient_scope(user, trial=trial).values("pk"))
    if status:
        qs = qs.filter(status=status)
    return qs.select_related("patient__trial", "patient__site", "dose_level").order_by(
        "last_day", "id"
    )


def windows_closing_soon(
    user: User, *, trial: Trial | None = None, today: date, within_days: int = CLOSING_SOON_DAYS
) -> QuerySet[DltWindow]:
    return dlt_windows_for_user(user, trial=trial, status=DltWindowState.PENDING).filter(
        last_day__lte=today + timedelta(days=within_days)
    )


def potential_dlts_for_user(
    user: User, *, trial: Trial | None = None, status: str | None = None
) -> QuerySet[PotentialDlt]:
    qs = PotentialDlt.objects.filter(
        adverse_event__patient__in=_patient_scope(user, trial=trial).values("pk")
    )
    if status:
        qs = qs.filter(status=status)
    return (
        qs.select_related(
            "adverse_event__patient__trial",
            "adverse_event__patient__site",
            "dlt_window__dose_level",
        )
        .prefetch_related(
            Prefetch(
                "adjudications",
                queryset=DltAdjudication.objects.filter(voided_at__isnull=True).select_related(
                    "adjudicated_by", "signature"
                ),
                to_attr="valid_adjudications",
            )
        )
        .order_by("flagged_at", "id")
    )


def get_potential_dlt_for_user(user: User, *, pk: int) -> PotentialDlt:
    potential = get_object_or_404(potential_dlts_for_user(user), pk=pk)
    potential.adverse_event.patient = _patient_scope(user).get(
        pk=potential.adverse_event.patient_id
    )
    return potential


def valid_adjudication(potential: PotentialDlt) -> DltAdjudication | None:
    cached = getattr(potential, "valid_adjudications", None)
    if cached is not None:
        return cached[0] if cached else None
    return (
        potential.adjudications.filter(voided_at__isnull=True)
        .select_related("adjudicated_by", "signature")
        .first()
    )


@dataclass(frozen=True)
class DltPatientState:
    """One patient's DLT state for the dose escalation engine.

    ``status`` is one of "DLT", "NO_DLT", "PENDING", "NOT_EVALUABLE" (the names of
    ``dosing.domain.escalation.DLTStatus``). Only investigator-confirmed DLTs count as "DLT".
    """

    patient_id: int
    dose_level_id: int
    status: str
    reason: str
    window_opens_on: date | None
    window_closes_on: date | None  # last date inside the window
    days_elapsed: int
    days_remaining: int
    confirmed_dlt_ae_ids: tuple[int, ...]


_ESCALATION_STATUS = {
    DltWindowState.PENDING: "PENDING",
    DltWindowState.DLT: "DLT",
    DltWindowState.COMPLETED_EVALUABLE: "NO_DLT",
    DltWindowState.NOT_EVALUABLE: "NOT_EVALUABLE",
}


def dlt_states_for_trial(
    trial: Trial,
    *,
    today: date | None = None,
    patient_ids: Iterable[int] | None = None,
    window_days: int | None = None,
) -> dict[int, DltPatientState]:
    """Every patient of ``trial`` with a dose level, keyed by patient id (at most 4 queries).

    The status is the window's stored status (written by the safety services and the daily
    sweep); day counts are as of ``today``. A patient assigned a level but not yet dosed is
    "PENDING" at the level assigned; a dosed patient is counted at the level of the first dose.

    ``patient_ids`` narrows the states to those of the trial's patients, so a caller that
    needs a few of them (the dose escalation reads the phase I patients only) does not pay for
    every patient of a large trial; ``window_days`` spares the design read when the caller
    already has the design's DLT window length.
    """
    from django.utils import timezone

    today = today or timezone.localdate()
    length = (
        window_days
        if window_days is not None
        else trial_selectors.trial_design(trial).dlt_window_days
    )
    scope = Patient.objects.filter(trial=trial, dose_level__isnull=False)
    window_qs = DltWindow.objects.filter(patient__trial=trial)
    confirmed_qs = PotentialDlt.objects.filter(
        adverse_event__patient__trial=trial, status=PotentialDltStatus.CONFIRMED
    )
    if patient_ids is not None:
        ids = list(patient_ids)
        scope = scope.filter(pk__in=ids)
        window_qs = window_qs.filter(patient_id__in=ids)
        confirmed_qs = confirmed_qs.filter(adverse_event__patient_id__in=ids)
    rows = list(scope.values_list("pk", "dose_level_id"))
    windows = {
        w.patient_id: w
        for w in window_qs.only(
            "patient_id",
            "dose_level_id",
            "status",
            "reason",
            "opens_on",
            "last_day",
            "length_days",
        )
    }
    confirmed: dict[int, list[int]] = defaultdict(list)
    for patient_id, ae_id in confirmed_qs.order_by("adverse_event_id").values_list(
        "adverse_event__patient_id", "adverse_event_id"
    ):
        confirmed[patient_id].append(ae_id)

    states: dict[int, DltPatientState] = {}
    for patient_id, dose_level_id in rows:
        window = windows.get(patient_id)
        if window is None:
            states[patient_id] = DltPatientState(
                patient_id=patient_id,
                dose_level_id=dose_level_id,
                status="PENDING",
                reason="no dose given yet; the DLT window opens on the first dose",
                window_opens_on=None,
                window_closes_on=None,
                days_elapsed=0,
                days_remaining=length,
                confirmed_dlt_ae_ids=(),
            )
            continue
        elapsed = min(max((today - window.opens_on).days, 0), window.length_days)
        states[patient_id] = DltPatientState(
            patient_id=patient_id,
            dose_level_id=window.dose_level_id,
            status=_ESCALATION_STATUS[DltWindowState(window.status)],
            reason=window.reason,
            window_opens_on=window.opens_on,
            window_closes_on=window.last_day,
            days_elapsed=elapsed,
            days_remaining=window.length_days - elapsed,
            confirmed_dlt_ae_ids=tuple(confirmed.get(patient_id, ())),
        )
    return states


# --- SAE reports ------------------------------------------------------------------------------


def sae_reports_for_user(
    user: User, *, trial: Trial | None = None, statuses: Iterable[str] | None = None
) -> QuerySet[SaeReport]:
    qs = SaeReport.objects.filter(
        adverse_event__patient__in=_patient_scope(user, trial=trial).values("pk")
    )
    if statuses:
        qs = qs.filter(status__in=list(statuses))
    return qs.select_related(
        "adverse_event__patient__trial",
        "adverse_event__patient__site",
        "signature__signer",
    ).order_by("initial_due_at", "id")


def get_sae_report_for_user(user: User, *, pk: int) -> SaeReport:
    report = get_object_or_404(sae_reports_for_user(user), pk=pk)
    report.adverse_event.patient = _patient_scope(user).get(pk=report.adverse_event.patient_id)
    return report


def sae_policy(report: SaeReport) -> SaeReportingPolicy:
    return SaeReportingPolicy(full_report_days=report.full_report_days)


def sae_report_clock(report: SaeReport, *, now: datetime) -> SaeClock:
    return sae_clock(
        report.awareness_at,
        now,
        sae_policy(report),
        initial_submitted_at=report.initial_submitted_at,
        full_submitted_at=report.full_submitted_at,
    )


# --- Tables -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AeTableRow:
    term: str
    soc: str
    by_grade: dict[int, int]  # patients whose worst grade of this term is g
    all_grades: int
    grade_3_plus: int

    @property
    def grade_counts(self) -> list[int]:
        """Patients at grades 1..5, in order (for tables)."""
        return [self.by_grade[g] for g in range(1, 6)]


@dataclass(frozen=True)
class AeTable:
    """Patients by term and worst grade: each patient counted once per term, at the maximum
    grade of that term (the convention of phase I safety tables)."""

    label: str
    n_patients: int
    rows: list[AeTableRow]


def _ae_table(label: str, n_patients: int, worst: dict[tuple[str, str], dict[int, int]]) -> AeTable:
    rows = []
    for (term, soc), per_patient in worst.items():
        by_grade = dict.fromkeys(range(1, 6), 0)
        for grade in per_patient.values():
            by_grade[grade] += 1
        rows.append(
            AeTableRow(
                term=term,
                soc=soc,
                by_grade=by_grade,
                all_grades=len(per_patient),
                grade_3_plus=sum(1 for g in per_patient.values() if g >= 3),
            )
        )
    rows.sort(key=lambda r: (-r.all_grades, -r.grade_3_plus, r.term))
    return AeTable(label=label, n_patients=n_patients, rows=rows)


def _windows(trial: Trial, patients: QuerySet[Patient] | None) -> QuerySet[DltWindow]:
    qs = DltWindow.objects.filter(patient__trial=trial)
    if patients is not None:
        qs = qs.filter(patient__in=patients.values("pk"))
    return qs


def ae_tables(
    trial: Trial, *, patients: QuerySet[Patient] | None = None
) -> tuple[AeTable, list[tuple[DoseLevel, AeTable]]]:
    """The AE table overall and by dose level (at first dose), over treated patients (3 queries).

    ``patients`` limits the tables to the patients a reader may see (a site's coordinator sees
    the site's own); readers covering every site get the trial's whole population.
    """
    treated = dict(_windows(trial, patients).values_list("patient_id", "dose_level_id"))
    rows = AdverseEvent.objects.filter(patient_id__in=list(treated)).values_list(
        "patient_id", "term", "soc", "max_grade"
    )
    overall: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)
    by_level: dict[int, dict[tuple[str, str], dict[int, int]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for patient_id, term, soc, grade in rows:
        key = (term, soc)
        overall[key][patient_id] = max(grade, overall[key].get(patient_id, 0))
        level = by_level[treated[patient_id]][key]
        level[patient_id] = max(grade, level.get(patient_id, 0))
    levels = list(DoseLevel.objects.filter(pk__in=set(treated.values())).order_by("number"))
    per_level = []
    for level in levels:
        n = sum(1 for lv in treated.values() if lv == level.pk)
        per_level.append((level, _ae_table(level.display_label, n, by_level.get(level.pk, {}))))
    return _ae_table("All dose levels", len(treated), overall), per_level


@dataclass(frozen=True)
class DltPatientEntry:
    patient_id: int
    patient_label: str
    toxicities: list[str]  # "grade 3 fatigue", ...

    @property
    def text(self) -> str:
        return ", ".join(self.toxicities)


@dataclass(frozen=True)
class DltLevelRow:
    dose_level: DoseLevel
    treated: int
    evaluable: int
    with_dlt: int
    pending: int
    not_evaluable: int
    patients: list[DltPatientEntry]

    @property
    def fraction(self) -> str:
        return f"{self.with_dlt}/{self.evaluable}"

    @property
    def text(self) -> str:
        """As a paper writes it: 'DL1: 1/6 (grade 3 fatigue, ...)'."""
        details = "; ".join(p.text for p in self.patients)
        return f"{self.dose_level.display_label}: {self.fraction}" + (
            f" ({details})" if details else ""
        )


def dlt_listing(trial: Trial, *, patients: QuerySet[Patient] | None = None) -> list[DltLevelRow]:
    """Confirmed DLTs per dose level, with treated and evaluable counts (2 queries)."""
    windows = list(
        _windows(trial, patients)
        .select_related("dose_level", "patient__trial")
        .order_by("dose_level__number", "opens_on", "id")
    )
    confirmed = (
        PotentialDlt.objects.filter(
            dlt_window__in=[w.pk for w in windows], status=PotentialDltStatus.CONFIRMED
        )
        .select_related("adverse_event")
        .order_by("adverse_event__max_grade", "adverse_event__term")
    )
    toxicities: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for potential in confirmed:
        ae = potential.adverse_event
        toxicities[potential.dlt_window_id].append((ae.max_grade, reported_name(ae.term)))
    by_level: dict[int, list[DltWindow]] = defaultdict(list)
    levels: dict[int, DoseLevel] = {}
    for window in windows:
        by_level[window.dose_level_id].append(window)
        levels[window.dose_level_id] = window.dose_level
    out = []
    for level_id, level_windows in by_level.items():
        statuses = [w.status for w in level_windows]
        entries = [
            DltPatientEntry(
                patient_id=w.patient_id,
                patient_label=w.patient.label,
                toxicities=[f"grade {g} {name}" for g, name in sorted(toxicities[w.pk])],
            )
            for w in level_windows
            if toxicities.get(w.pk)
        ]
        out.append(
            DltLevelRow(
                dose_level=levels[level_id],
                treated=len(level_windows),
                evaluable=sum(
                    s in (DltWindowState.DLT, DltWindowState.COMPLETED_EVALUABLE) for s in statuses
                ),
                with_dlt=sum(s == DltWindowState.DLT for s in statuses),
                pending=sum(s == DltWindowState.PENDING for s in statuses),
                not_evaluable=sum(s == DltWindowState.NOT_EVALUABLE for s in statuses),
                patients=entries,
            )
        )
    out.sort(key=lambda row: row.dose_level.number)
    return out


def as_dict(obj: Any) -> Any:
    """A selector dataclass as JSON-ready data (for the API)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: as_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list | tuple):
        return [as_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): as_dict(v) for k, v in obj.items()}
    return obj
