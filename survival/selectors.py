"""Every read of the survival app: who may see a trial's analysis, the export log, and the ONE
place that gathers each patient's analysis inputs from the database.

:func:`trial_inputs` runs a fixed number of queries whatever the number of patients (bulk
queries over the whole trial; "first"/"latest" rows picked in SQL or with pandas) and builds
whole columns, never one Python object per patient: an export of 10,000 patients costs the
same dozen round trips as one of 2.

Inputs from other apps come through one small function each, so that switching a source on is a
change in one place:

- :func:`response_source` — response assessments, progression, first response, best overall
  response, response-evaluability, ADRS rows (the response app);
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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Exists, Min, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404

from dosing.models import DoseLevel
from survival.domain.columns import ASSESSMENT_COLUMNS, dates
from survival.domain.inputs import (
    ADVERSE_EVENT_COLUMNS,
    PATIENT_COLUMNS,
    RESPONSE_PATIENT_COLUMNS,
    RESPONSE_RECORD_COLUMNS,
    PatientResponse,
    SourceStatus,
    TrialInputs,
    empty,
    response_frames,
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


@dataclass(frozen=True)
class ResponseFrames:
    """The response app's inputs for one trial at a cut, as frames (see ``response_source``)."""

    patients: pd.DataFrame = field(default_factory=lambda: empty(RESPONSE_PATIENT_COLUMNS))
    assessments: pd.DataFrame = field(default_factory=lambda: empty(ASSESSMENT_COLUMNS))
    records: pd.DataFrame = field(default_factory=lambda: empty(RESPONSE_RECORD_COLUMNS))

    @classmethod
    def from_responses(cls, responses: Mapping[int, PatientResponse]) -> ResponseFrames:
        """From one ``PatientResponse`` per patient id (convenient; the frames are faster)."""
        patients, assessments, records = response_frames(responses)
        return cls(patients=patients, assessments=assessments, records=records)


def response_source(
    trial: Trial, *, data_cut: dt.date, patient_ids: Iterable[int]
) -> tuple[SourceStatus, ResponseFrames]:
    """The response inputs of the trial's patients at the cut.

    Not available yet: the response app has no committed bulk read so far. To switch it on,
    call its documented read here (one query for the whole trial, records dated on or before
    ``data_cut``) and fill ``ResponseFrames``:

    - ``patients`` (``RESPONSE_PATIENT_COLUMNS``): progression date (first assessment of
      confirmed progression) and first response ≥ PR, each with ``_dom`` "RS" and ``_id`` the
      assessment id as text; best overall response, its date, and ``evaluable`` (or None);
    - ``assessments`` (``ASSESSMENT_COLUMNS``): every overall assessment — date, call, adequate,
      ``srcdom`` "RS", ``srcid``;
    - ``records`` (``RESPONSE_RECORD_COLUMNS``): the ADRS rows (computed, confirmed and entered
      calls, visit, criteria);

    then return ``SourceStatus("response", True, …)``.
    """
    return (
        SourceStatus(
            "response",
            available=False,
            detail="Response assessments are not recorded in TrialDesk yet: BOR, EFFFL and "
            "ADRS are empty, and TTP, PFS and DOR see no assessment.",
        ),
        ResponseFrames(),
    )


def adverse_event_source(
    trial: Trial, *, data_cut: dt.date, agents: tuple[str, ...]
) -> tuple[SourceStatus, pd.DataFrame]:
    """Adverse events with onset on or before the cut (``ADVERSE_EVENT_COLUMNS``), for ADAE.

    Not available yet: the safety app has no committed adverse-event read so far. To switch it
    on, read the trial's events here in bulk (term, CTCAE term and SOC, maximum grade,
    seriousness, DLT flag, onset and resolution, outcome, and attribution to each agent in the
    order of ``agents`` as AREL1…) and return ``SourceStatus("adverse_events", True, …)``.
    """
    return (
        SourceStatus(
            "adverse_events",
            available=False,
            detail="Adverse events are not recorded in TrialDesk yet: ADAE has no rows.",
        ),
        empty(ADVERSE_EVENT_COLUMNS),
    )


def dlt_evaluability_source(
    trial: Trial, *, data_cut: dt.date
) -> tuple[SourceStatus, dict[int, bool]]:
    """DLT-evaluable flag per patient id (the safety app's DLT windows).

    Not available yet: DLTEVLFL stays empty until the safety app's ``dlt_states_for_trial`` is
    committed; then map each patient's window state to True/False here.
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


def enrolled_patients(trial: Trial, *, data_cut: dt.date) -> QuerySet[Patient]:
    """Patients enrolled on or before the cut, in study-ID order (the analysis population)."""
    return Patient.objects.filter(
        trial=trial, study_id__isnull=False, enrolment_date__lte=data_cut
    ).order_by("study_id")


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


def _dose_dates(trial: Trial, *, data_cut: dt.date) -> pd.DataFrame:
    """First and last dose received (given or reduced) per patient, with the records' ids.

    One pass over the trial's doses, in SQL because the ORM cannot take the first element of
    an ordered ARRAY_AGG (two DISTINCT ON queries would read the doses twice).
    """
    sql = _DOSE_DATES_SQL.format(
        dose=DoseAdministration._meta.db_table,
        visit=Visit._meta.db_table,
        patient=Patient._meta.db_table,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [trial.pk, sorted(s.value for s in RECEIVED), data_cut])
        rows = cursor.fetchall()
    return _frame(rows, ["patient_id", "first_dt", "first_id", "last_dt", "last_id"])


def _frame(rows: list[tuple], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(rows, columns=columns)
    for name in columns:
        if name.endswith("_dt") or name in ("dt", "death_date", "contact_date", "effective_date"):
            frame[name] = dates(frame[name]) if len(frame) else np.array([], "datetime64[ns]")
    return frame


def _latest_rows(qs: QuerySet, patient_field: str, date_field: str) -> pd.DataFrame:
    """``patient_id, dt, id``: the latest row per patient (DISTINCT ON), in one query."""
    rows = (
        qs.order_by(patient_field, f"-{date_field}", "-id")
        .distinct(patient_field)
        .values_list(patient_field, date_field, "id")
    )
    return _frame(list(rows), ["patient_id", "dt", "id"])


def _one_per_patient(frame: pd.DataFrame, date_column: str, *, earliest: bool) -> pd.DataFrame:
    ordered = frame.sort_values(
        ["patient_id", date_column, "id"], ascending=[True, earliest, earliest], kind="mergesort"
    )
    return ordered.drop_duplicates("patient_id").set_index("patient_id")


def _as_text(values: pd.Series) -> np.ndarray:
    """Record ids as text (None where missing)."""
    return np.array([None if pd.isna(v) else str(int(v)) for v in values], dtype=object)


def _known_alive(pieces: list[tuple[str, pd.DataFrame]]) -> pd.DataFrame:
    """``patient_id, dt, dom, id`` in citation order: contact, visit, dose, lab."""
    frames = [
        pd.DataFrame(
            {
                "patient_id": frame["patient_id"].to_numpy(dtype=np.int64),
                "dt": frame["dt"].to_numpy(dtype="datetime64[ns]"),
                "dom": np.full(len(frame), domain, dtype=object),
                "id": _as_text(frame["id"]),
            }
        )
        for domain, frame in pieces
    ]
    return pd.concat(frames, ignore_index=True)


def trial_inputs(trial: Trial, *, data_cut: dt.date) -> TrialInputs:
    """Every enrolled patient's analysis inputs at ``data_cut`` as whole columns, in a fixed
    number of queries.

    Records dated after the cut are not used (see ``survival.domain.endpoints``). Rows are in
    study-ID order, so the same data and cut always give the same datasets.
    """
    base = _frame(
        list(
            enrolled_patients(trial, data_cut=data_cut).values_list(
                "id",
                "study_id",
                "site__code",
                "dose_level__number",
                "dose_level__label",
                "enrolment_date",
            )
        ),
        ["patient_id", "USUBJID", "SITEID", "DOSELVLN", "label", "ENRLDT"],
    )
    ids = base["patient_id"].to_numpy(dtype=np.int64)
    in_trial = {"patient__trial": trial, "patient__study_id__isnull": False}

    consents = pd.Series(
        dict(
            Consent.objects.filter(**in_trial, consent_date__lte=data_cut)
            .values("patient_id")
            .annotate(first=Min("consent_date"))
            .values_list("patient_id", "first")
        ),
        dtype=object,
    )
    doses = _dose_dates(trial, data_cut=data_cut)
    last_visits = _latest_rows(
        Visit.objects.filter(**in_trial, status=VisitState.DONE, visit_date__lte=data_cut),
        "patient_id",
        "visit_date",
    )
    last_labs = _latest_rows(
        LabResult.objects.filter(**in_trial, collected_on__lte=data_cut),
        "patient_id",
        "collected_on",
    )
    contacts = _frame(
        list(
            LastContact.objects.filter(**in_trial)
            .filter(
                Q(vital_status=VitalStatus.ALIVE, contact_date__lte=data_cut)
                | Q(vital_status=VitalStatus.DEAD, death_date__lte=data_cut)
            )
            .values_list("patient_id", "vital_status", "contact_date", "death_date", "id")
        ),
        ["patient_id", "vital_status", "contact_date", "death_date", "id"],
    )
    dead = (contacts["vital_status"] == VitalStatus.DEAD).to_numpy(dtype=bool)
    deaths = _one_per_patient(contacts[dead], "death_date", earliest=True).reindex(ids)
    alive = _one_per_patient(contacts[~dead], "contact_date", earliest=False).reset_index()
    steps = _frame(
        list(
            PatientStatusChange.objects.filter(
                **in_trial,
                to_status__in=[PatientStatus.OFF_TREATMENT, PatientStatus.OFF_STUDY],
                effective_date__lte=data_cut,
            ).values_list("patient_id", "to_status", "effective_date", "reason_code", "id")
        ),
        ["patient_id", "to_status", "effective_date", "reason_code", "id"],
    )
    is_off_study = (steps["to_status"] == PatientStatus.OFF_STUDY).to_numpy(dtype=bool)
    off_treatment = _one_per_patient(steps[~is_off_study], "effective_date", earliest=False)
    off_study = _one_per_patient(steps[is_off_study], "effective_date", earliest=False)
    off_treatment, off_study = off_treatment.reindex(ids), off_study.reindex(ids)

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

    response_status, response = response_source(trial, data_cut=data_cut, patient_ids=ids)
    ae_status, adverse_events = adverse_event_source(trial, data_cut=data_cut, agents=agents)
    dlt_status, dlt_evaluable = dlt_evaluability_source(trial, data_cut=data_cut)
    rp2d_status, rp2d_level = rp2d_source(trial)

    dose = doses.set_index("patient_id").reindex(ids)
    has_dose = dose["first_id"].notna().to_numpy(dtype=bool)
    reason = off_study["reason_code"].to_numpy(dtype=object)
    reason = np.where(pd.isna(reason) | (reason == ""), None, reason)
    level_label = [
        None if pd.isna(number) else (label or f"DL{int(number)}")
        for number, label in zip(base["DOSELVLN"], base["label"], strict=True)
    ]
    columns = {
        "patient_id": ids,
        "USUBJID": base["USUBJID"].to_numpy(dtype=object),
        "SITEID": base["SITEID"].to_numpy(dtype=object),
        "DOSELVL": np.array(level_label, dtype=object),
        "DOSELVLN": base["DOSELVLN"].astype(object).where(base["DOSELVLN"].notna(), None),
        "RFICDT": dates(consents.reindex(ids)) if len(ids) else np.array([], "datetime64[ns]"),
        "ENRLDT": base["ENRLDT"].to_numpy(dtype="datetime64[ns]"),
        "first_dt": dose["first_dt"].to_numpy(dtype="datetime64[ns]"),
        "first_dom": np.where(has_dose, EX, None),
        "first_id": _as_text(dose["first_id"]),
        "last_dose_dt": dose["last_dt"].to_numpy(dtype="datetime64[ns]"),
        "death_dt": deaths["death_date"].to_numpy(dtype="datetime64[ns]"),
        "death_dom": np.where(deaths["id"].notna().to_numpy(dtype=bool), DS, None),
        "death_id": _as_text(deaths["id"]),
        "off_treatment_dt": off_treatment["effective_date"].to_numpy(dtype="datetime64[ns]"),
        "off_study_dt": off_study["effective_date"].to_numpy(dtype="datetime64[ns]"),
        "off_study_reason": reason,
        "off_study_label": np.array([REASON_LABELS.get(r) if r else None for r in reason]),
        "dlt_evaluable": (
            pd.Series(dlt_evaluable, dtype=object).reindex(ids).to_numpy(dtype=object)
            if dlt_status.available
            else np.full(len(ids), None, dtype=object)
        ),
    }
    patients = pd.DataFrame(columns).merge(
        response.patients, on="patient_id", how="left", validate="one_to_one"
    )
    last_doses = doses.loc[:, ["patient_id", "last_dt", "last_id"]].set_axis(
        ["patient_id", "dt", "id"], axis=1
    )
    known_alive = _known_alive(
        [
            (
                SS,
                alive.loc[:, ["patient_id", "contact_date", "id"]].set_axis(
                    ["patient_id", "dt", "id"], axis=1
                ),
            ),
            (SV, last_visits),
            (EX, last_doses),
            (LB, last_labs),
        ]
    )
    return TrialInputs(
        studyid=trial.code,
        data_cut=data_cut,
        patients=patients.reindex(columns=list(PATIENT_COLUMNS)),
        known_alive=known_alive,
        assessments=response.assessments,
        response_records=response.records,
        adverse_events=adverse_events,
        agents=agents,
        dose_levels=tuple(levels),
        rp2d_level=rp2d_level,
        response_available=response_status.available,
        sources=(response_status, ae_status, dlt_status, rp2d_status),
    )
