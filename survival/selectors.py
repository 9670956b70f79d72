"""Every read of the survival app: who may see a trial's analysis, the export log, and the ONE
place that gathers each patient's analysis inputs from the database.

:func:`trial_inputs` runs a fixed number of queries whatever the number of patients (bulk
queries over the whole trial, ``DISTINCT ON`` for "first"/"latest" rows, grouping in Python):
an export of 10,000 patients costs the same dozen round trips as one of 2.

Inputs from other apps come through one small function each, so that switching a source on is a
change in one place:

- :func:`response_source` — response assessments, progression, first response, best overall
  response, response-evaluability (the response app);
- :func:`adverse_event_source` — adverse events with grade, seriousness, attribution per agent
  and DLT flag (the safety app);
- :func:`dlt_evaluability_source` — DLT-evaluable flags (the safety app's DLT windows);
- :func:`rp2d_source` — the recommended phase 2 dose level (the dosing app).

A source that is not available yet says so (``SourceStatus``): its flags are empty (never "N")
and the manifest and the statistician's page name it.

Source domains (``SRCDOM``) and their TrialDesk records (``SRCID`` is the record's id):
``EX`` dose administration, ``SV`` visit, ``LB`` lab result, ``SS`` last contact (alive),
``DS`` last contact (death), ``RS`` response assessment.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Exists, Min, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404

from dosing.models import DoseLevel
from survival.domain.endpoints import SourcedDate
from survival.domain.inputs import (
    AdverseEventRecord,
    PatientRecord,
    PatientResponse,
    SourceStatus,
    TrialInputs,
)
from survival.models import DataCut, ExportJob
from trials.domain.dosing import RECEIVED
from trials.domain.schedule import VisitState
from trials.domain.transitions import REASON_LABELS, PatientStatus
from trials.models import (
    Consent,
    DoseAdministration,
    LabResult,
    LastContact,
    Membership,
    Patient,
    PatientStatusChange,
    Role,
    Trial,
    TrialAgent,
    User,
    Visit,
    VitalStatus,
)
from trials.selectors import get_trial_for_user, user_has_role

#: Who may see a trial's survival analysis and export it.
ANALYSIS_ROLES = (Role.STATISTICIAN, Role.TRIAL_ADMIN)

EX, SV, LB, SS, DS = "EX", "SV", "LB", "SS", "DS"


# --- Access -------------------------------------------------------------------------------------


def analysis_trials_for_user(user: User) -> QuerySet[Trial]:
    """Trials whose analysis and export the user may see (statistician or trial admin)."""
    if not user.is_authenticated:
        return Trial.objects.none()
    member = Membership.objects.filter(
        user=user, active=True, trial=OuterRef("pk"), role__in=ANALYSIS_ROLES
    )
    return Trial.objects.filter(Exists(member)).order_by("code")


def can_see_analysis(user: User, trial: Trial) -> bool:
    return user_has_role(user, trial=trial, roles=ANALYSIS_ROLES)


def analysis_trial_for_user(user: User, *, code: str) -> Trial:
    """The trial if the user may see its analysis: a trial the user is not a member of is not
    found (404); a member without a statistician or trial-admin role is refused (403)."""
    trial = get_trial_for_user(user, code=code)
    if not can_see_analysis(user, trial):
        raise PermissionDenied("Only the trial's statisticians and trial admins see its export.")
    return trial


# --- The export log and the named cuts ----------------------------------------------------------


def export_jobs(trial: Trial) -> QuerySet[ExportJob]:
    return ExportJob.objects.filter(trial=trial).select_related(
        "trial", "requested_by", "named_cut"
    )


def get_export_job(trial: Trial, *, pk: int) -> ExportJob:
    return get_object_or_404(export_jobs(trial), pk=pk)


def data_cuts(trial: Trial) -> QuerySet[DataCut]:
    return DataCut.objects.filter(trial=trial).select_related("trial", "created_by")


def find_data_cut(trial: Trial, *, name: str) -> DataCut | None:
    return data_cuts(trial).filter(name=name).first()


# --- Sources from other apps (each switched on in one place) ------------------------------------


def response_source(
    trial: Trial, *, data_cut: dt.date, patient_ids: Iterable[int]
) -> tuple[SourceStatus, dict[int, PatientResponse]]:
    """Each patient's response inputs at the cut, keyed by patient id.

    Not available yet: the response app stores no assessments so far. When it exposes its
    documented bulk read in ``response.selectors``, call it here (one query for the whole
    trial) and map each patient's rows to ``PatientResponse``: ``assessments`` as
    ``ResponseAssessment`` (date, call, adequate, confirmed progression, ``srcid``),
    ``progression`` and ``first_response`` as ``SourcedDate(date, "RS", id)``, the best
    overall response and its date, ``evaluable``, and ``records`` for ADRS; then return
    ``SourceStatus("response", True, …)``.
    """
    return (
        SourceStatus(
            "response",
            available=False,
            detail="Response assessments are not recorded in TrialDesk yet: BOR, EFFFL and "
            "ADRS are empty, and TTP, PFS and DOR see no assessment.",
        ),
        {},
    )


def adverse_event_source(
    trial: Trial, *, data_cut: dt.date, agents: tuple[str, ...]
) -> tuple[SourceStatus, list[AdverseEventRecord]]:
    """Adverse events with onset on or before the cut, for ADAE.

    Not available yet: the safety app stores no adverse events so far. When it does, read them
    here in bulk (events, their maximum grade, seriousness, DLT flag, and attribution per
    agent in the order of ``agents``) and return ``SourceStatus("safety", True, …)``.
    """
    return (
        SourceStatus(
            "adverse_events",
            available=False,
            detail="Adverse events are not recorded in TrialDesk yet: ADAE has no rows.",
        ),
        [],
    )


def dlt_evaluability_source(
    trial: Trial, *, data_cut: dt.date
) -> tuple[SourceStatus, dict[int, bool]]:
    """DLT-evaluable flag per patient id (safety's DLT windows, ``dlt_states_for_trial``).

    Not available yet: DLTEVLFL stays empty until the safety app records DLT windows.
    """
    return (
        SourceStatus(
            "dlt_windows",
            available=False,
            detail="DLT windows are not recorded in TrialDesk yet: DLTEVLFL is empty.",
        ),
        {},
    )


def rp2d_source(trial: Trial) -> tuple[SourceStatus, int | None]:
    """The number of the recommended phase 2 dose level, once declared.

    Not available yet: no TrialDesk record holds the RP2D decision; RP2DFL stays empty.
    """
    return (
        SourceStatus(
            "rp2d",
            available=False,
            detail="No recommended phase 2 dose is recorded yet: RP2DFL is empty.",
        ),
        None,
    )


# --- The analysis inputs of one trial -----------------------------------------------------------


def _first_per_patient(qs: QuerySet, patient_field: str, date_field: str, *, latest: bool):
    """``{patient_id: (date, id)}``: the earliest (or latest) row per patient, in one query."""
    direction = "-" if latest else ""
    rows = (
        qs.order_by(patient_field, f"{direction}{date_field}", f"{direction}id")
        .distinct(patient_field)
        .values_list(patient_field, date_field, "id")
    )
    return {pid: (day, pk) for pid, day, pk in rows}


_DOSE_DATES_SQL = """
SELECT v.patient_id,
       MIN(v.visit_date), (ARRAY_AGG(d.id ORDER BY v.visit_date, d.id))[1],
       MAX(v.visit_date), (ARRAY_AGG(d.id ORDER BY v.visit_date DESC, d.id DESC))[1]
FROM {dose} d
JOIN {visit} v ON v.id = d.visit_id
JOIN {patient} p ON p.id = v.patient_id
WHERE p.trial_id = %s AND p.study_id IS NOT NULL
  AND d.status = ANY(%s) AND v.visit_date <= %s
GROUP BY v.patient_id
"""


def _dose_dates(
    trial: Trial, *, data_cut: dt.date
) -> tuple[dict[int, tuple[dt.date, int]], dict[int, tuple[dt.date, int]]]:
    """First and last dose received (given or reduced) per patient, with the record's id.

    One pass over the trial's doses (SQL, because the ORM cannot take the first element of an
    ordered ARRAY_AGG); the two DISTINCT ON queries it replaces read the doses twice.
    """
    sql = _DOSE_DATES_SQL.format(
        dose=DoseAdministration._meta.db_table,
        visit=Visit._meta.db_table,
        patient=Patient._meta.db_table,
    )
    first: dict[int, tuple[dt.date, int]] = {}
    last: dict[int, tuple[dt.date, int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [trial.pk, sorted(s.value for s in RECEIVED), data_cut])
        for pid, first_day, first_id, last_day, last_id in cursor.fetchall():
            first[pid] = (first_day, first_id)
            last[pid] = (last_day, last_id)
    return first, last


def enrolled_patients(trial: Trial, *, data_cut: dt.date) -> QuerySet[Patient]:
    """Patients enrolled on or before the cut, in study-ID order (the analysis population)."""
    return (
        Patient.objects.filter(trial=trial, study_id__isnull=False, enrolment_date__lte=data_cut)
        .select_related("site", "dose_level")
        .order_by("study_id")
    )


def trial_inputs(trial: Trial, *, data_cut: dt.date) -> TrialInputs:
    """Every enrolled patient's analysis inputs at ``data_cut``, in a fixed number of queries.

    Records dated after the cut are not used (see ``survival.domain.endpoints``). Rows are in
    study-ID order, so the same data and cut always give the same datasets.
    """
    # Plain tuples, not model instances: building 10,000 Patient objects would cost more than
    # every query of this function together.
    patients = list(
        enrolled_patients(trial, data_cut=data_cut).values_list(
            "id",
            "study_id",
            "enrolment_date",
            "site__code",
            "dose_level__number",
            "dose_level__label",
        )
    )
    in_trial = {"patient__trial": trial, "patient__study_id__isnull": False}

    consents = dict(
        Consent.objects.filter(**in_trial, consent_date__lte=data_cut)
        .values("patient_id")
        .annotate(first=Min("consent_date"))
        .values_list("patient_id", "first")
    )
    first_doses, last_doses = _dose_dates(trial, data_cut=data_cut)
    last_visits = _first_per_patient(
        Visit.objects.filter(**in_trial, status=VisitState.DONE, visit_date__lte=data_cut),
        "patient_id",
        "visit_date",
        latest=True,
    )
    last_labs = _first_per_patient(
        LabResult.objects.filter(**in_trial, collected_on__lte=data_cut),
        "patient_id",
        "collected_on",
        latest=True,
    )

    alive: dict[int, tuple[dt.date, int]] = {}
    deaths: dict[int, tuple[dt.date, int]] = {}
    contacts = LastContact.objects.filter(**in_trial).filter(
        Q(vital_status=VitalStatus.ALIVE, contact_date__lte=data_cut)
        | Q(vital_status=VitalStatus.DEAD, death_date__lte=data_cut)
    )
    for pid, status, contact_date, death_date, pk in contacts.order_by("id").values_list(
        "patient_id", "vital_status", "contact_date", "death_date", "id"
    ):
        if status == VitalStatus.DEAD:
            if pid not in deaths or death_date < deaths[pid][0]:
                deaths[pid] = (death_date, pk)
        elif pid not in alive or contact_date >= alive[pid][0]:
            alive[pid] = (contact_date, pk)

    off_treatment: dict[int, dt.date] = {}
    off_study: dict[int, tuple[dt.date, str]] = {}
    steps = PatientStatusChange.objects.filter(
        **in_trial,
        to_status__in=[PatientStatus.OFF_TREATMENT, PatientStatus.OFF_STUDY],
        effective_date__lte=data_cut,
    ).order_by("effective_date", "id")
    for pid, to_status, effective, reason_code in steps.values_list(
        "patient_id", "to_status", "effective_date", "reason_code"
    ):
        if to_status == PatientStatus.OFF_TREATMENT:
            off_treatment[pid] = effective
        else:
            off_study[pid] = (effective, reason_code)

    agents = tuple(
        TrialAgent.objects.filter(trial=trial)
        .order_by("position", "code")
        .values_list("name", flat=True)
    )
    levels: list[tuple[int, str]] = []
    for number, label in (
        DoseLevel.objects.filter(trial=trial)
        .order_by("number", "id")
        .values_list("number", "label")
    ):
        text = label or f"DL{number}"
        if all(text != seen for _, seen in levels):
            levels.append((number, text))

    ids = [row[0] for row in patients]
    response_status, responses = response_source(trial, data_cut=data_cut, patient_ids=ids)
    ae_status, adverse_events = adverse_event_source(trial, data_cut=data_cut, agents=agents)
    dlt_status, dlt_evaluable = dlt_evaluability_source(trial, data_cut=data_cut)
    rp2d_status, rp2d_level = rp2d_source(trial)

    records = []
    for pid, study_id, enrolment_date, site_code, level_number, level_label in patients:
        first = first_doses.get(pid)
        death = deaths.get(pid)
        known_alive = []
        for domain, found in (
            (SS, alive.get(pid)),
            (SV, last_visits.get(pid)),
            (EX, last_doses.get(pid)),
            (LB, last_labs.get(pid)),
        ):
            if found is not None:
                known_alive.append(SourcedDate(found[0], domain, str(found[1])))
        stopped = off_study.get(pid)
        has_level = level_number is not None
        records.append(
            PatientRecord(
                patient_id=pid,
                usubjid=study_id,
                siteid=site_code,
                dose_level=(level_label or f"DL{level_number}") if has_level else None,
                dose_level_number=level_number,
                consent_date=consents.get(pid),
                enrolment_date=enrolment_date,
                first_dose=SourcedDate(first[0], EX, str(first[1])) if first else None,
                last_dose=last_doses[pid][0] if pid in last_doses else None,
                death=SourcedDate(death[0], DS, str(death[1])) if death else None,
                known_alive=tuple(known_alive),
                off_treatment_date=off_treatment.get(pid),
                off_study_date=stopped[0] if stopped else None,
                off_study_reason=(stopped[1] or None) if stopped else None,
                off_study_reason_label=REASON_LABELS.get(stopped[1]) if stopped else None,
                dlt_evaluable=dlt_evaluable.get(pid) if dlt_status.available else None,
                response=(
                    responses.get(pid, PatientResponse()) if response_status.available else None
                ),
            )
        )
    return TrialInputs(
        studyid=trial.code,
        data_cut=data_cut,
        patients=tuple(records),
        agents=agents,
        dose_levels=tuple(levels),
        adverse_events=tuple(adverse_events),
        rp2d_level=rp2d_level,
        sources=(response_status, ae_status, dlt_status, rp2d_status),
    )
