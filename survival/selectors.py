"""Every read of the survival app: who may see a trial's analysis, the export log, and the ONE
place that gathers each patient's analysis inputs from the database.

:func:`trial_inputs` runs a fixed number of queries whatever the number of patients (bulk
queries over the whole trial; "first"/"latest" rows picked in SQL or with pandas) and builds
whole columns, never one Python object per patient: an export of 10,000 patients costs the
same dozen round trips as one of 2.

Inputs from other apps come through one small function each, so that switching a source on is a
change in one place:

- :func:`response_source` — response assessments, progression, first response, best overall
  response, response-evaluability, ADRS rows (the response app, IMWG and RECIST, at the cut);
- :func:`adverse_event_source` — adverse events with grade, seriousness, attribution per agent
  and DLT flag (the safety app; :func:`safety_adverse_events` reads them);
- :func:`dlt_evaluability_source` — DLT-evaluable flags (the safety app's DLT windows);
- :func:`rp2d_source` — the signed recommended phase 2 dose level (the dosing app).

A source that is not available says so (``SourceStatus``): its flags are empty (never "N") and
the manifest and the statistician's page name it.

Source domains (``SRCDOM``) and their TrialDesk records (``SRCID`` is the record's id):
``EX`` dose administration, ``SV`` visit, ``LB`` lab result, ``SS`` last contact (alive),
``DS`` last contact (death), ``RS`` response assessment.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.shortcuts import get_object_or_404

from dosing.models import DoseLevel
from survival.domain.adam import MAX_AGENTS
from survival.domain.columns import ASSESSMENT_COLUMNS, NAT, calendar_dates
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
    Site,
    Trial,
    TrialAgent,
    User,
    Visit,
    VitalStatus,
)
from trials.selectors import get_trial_for_user, user_has_role

#: Who may export a trial's datasets, see its export log and download its exports.
ANALYSIS_ROLES = (Role.STATISTICIAN, Role.TRIAL_ADMIN)
#: Who may read its Kaplan–Meier results and plots (aggregate results, pseudonymised lanes).
RESULTS_ROLES = (Role.INVESTIGATOR, Role.STATISTICIAN, Role.TRIAL_ADMIN)

EX, SV, LB, SS, DS, RS = "EX", "SV", "LB", "SS", "DS", "RS"
NOT_EVALUABLE = "NE"
# --- Access -------------------------------------------------------------------------------------


def _trials_with_roles(user: User, roles: Iterable[str]) -> QuerySet[Trial]:
    if not user.is_authenticated:
        return Trial.objects.none()
    member = Membership.objects.filter(
        user=user, active=True, trial=OuterRef("pk"), role__in=list(roles)
    )
    return Trial.objects.filter(Exists(member)).order_by("code")


def analysis_trials_for_user(user: User) -> QuerySet[Trial]:
    """Trials the user may export (statistician or trial admin)."""
    return _trials_with_roles(user, ANALYSIS_ROLES)


def results_trials_for_user(user: User) -> QuerySet[Trial]:
    """Trials whose Kaplan–Meier results the user may read (investigators too)."""
    return _trials_with_roles(user, RESULTS_ROLES)


def can_see_analysis(user: User, trial: Trial) -> bool:
    """May export the trial and see its export log and downloads."""
    return user_has_role(user, trial=trial, roles=ANALYSIS_ROLES)


def can_see_results(user: User, trial: Trial) -> bool:
    return user_has_role(user, trial=trial, roles=RESULTS_ROLES)


def analysis_trial_for_user(user: User, *, code: str) -> Trial:
    """The trial if the user may export it: a trial the user is not a member of is not found
    (404); a member without a statistician or trial-admin role is refused (403)."""
    trial = get_trial_for_user(user, code=code)
    if not can_see_analysis(user, trial):
        raise PermissionDenied("Only the trial's statisticians and trial admins see its exports.")
    return trial


def results_trial_for_user(user: User, *, code: str) -> Trial:
    """The trial if the user may read its results (404 outside the trial, 403 for roles
    without access: coordinators and monitors)."""
    trial = get_trial_for_user(user, code=code)
    if not can_see_results(user, trial):
        raise PermissionDenied(
            "Only the trial's investigators, statisticians and trial admins see its results."
        )
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


# --- Sources from other apps (one function each) ------------------------------------------------


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
    """The response inputs of the trial's patients at the cut, from the response app's bulk
    read ``response.selectors.responses_for_trial_at_cut`` (a fixed number of queries; IMWG
    and RECIST results alike, both stored by the response engine):

    - ``patients`` (``RESPONSE_PATIENT_COLUMNS``): ``progression_dt`` (the first assessment of
      a confirmed progression, IMWG; the PD assessment, RECIST) and ``response_dt`` (the first
      assessment confirmed ≥ PR), each with ``_dom`` "RS" and ``_id`` the id of the computed
      timepoint of that date; the best overall response and its date; ``evaluable``;
    - ``assessments`` (``ASSESSMENT_COLUMNS``): every computed timepoint — date, the call at
      that assessment, ``adequate`` (not NE and no measurable parameter missing), "RS", id;
    - ``records`` (``RESPONSE_RECORD_COLUMNS``): the same timepoints for ADRS, with the
      confirmed call, the investigator's entry of that date and the assessment visit.

    Only what is dated on or before ``data_cut`` is used, and the calls are those the engine
    makes on that data alone (a patient whose data go on after the cut is recomputed at the
    cut by the response app).
    """
    from response.selectors import (
        RESPONSE_AT_CUT_FIELDS,
        TIMEPOINT_FIELDS,
        responses_for_trial_at_cut,
    )

    data = responses_for_trial_at_cut(trial, data_cut=data_cut, timepoint_visits_only=True)
    wanted = np.asarray(list(patient_ids), dtype=np.int64)

    points = pd.DataFrame.from_records(data.timepoints, columns=list(TIMEPOINT_FIELDS))
    points = points[points["patient_id"].isin(wanted)].reset_index(drop=True)
    n = len(points)
    point_ids = np.array(
        [None if pk is None or pk != pk else str(int(pk)) for pk in points["id"]], dtype=object
    )
    calls = points["timepoint"].to_numpy(dtype=object)
    adequate = (calls != NOT_EVALUABLE) & ~points["missing"].to_numpy(dtype=bool)
    adt = _dates(points["assessment_date"])
    pids = points["patient_id"].to_numpy(dtype=np.int64)
    assessments = pd.DataFrame(
        {
            "patient_id": pids,
            "adt": adt,
            "response": calls,
            "adequate": adequate.astype(object),
            "srcdom": np.full(n, RS, dtype=object),
            "srcid": point_ids,
        }
    )
    keys = pd.MultiIndex.from_arrays([pids, adt])
    raw_days = points["assessment_date"].tolist()
    raw_pids = pids.tolist()
    investigator = _by_patient_and_date(data.investigator_calls, raw_pids, raw_days)
    visits = _by_patient_and_date(data.visits, raw_pids, raw_days)
    records = pd.DataFrame(
        {
            "patient_id": pids,
            "ADT": adt,
            "AVALC": calls,
            "CONFRESP": points["confirmed"].to_numpy(dtype=object),
            "INVRESP": investigator,
            "adequate": adequate.astype(object),
            "AVISIT": visits,
            "RSCRIT": points["criteria"].to_numpy(dtype=object),
            "SRCID": point_ids,
        }
    )
    records["CONFRESP"] = records["CONFRESP"].where(records["CONFRESP"].notna(), None)

    summary = pd.DataFrame.from_records(data.patients, columns=list(RESPONSE_AT_CUT_FIELDS))
    summary = summary[summary["patient_id"].isin(wanted)].reset_index(drop=True)
    sid = summary["patient_id"].to_numpy(dtype=np.int64)
    id_of = pd.Series(point_ids, index=keys)
    columns: dict[str, object] = {"patient_id": sid}
    for key, name in (("progression", "progression_date"), ("response", "first_response_date")):
        day = _dates(summary[name])
        known = ~np.isnat(day)
        ids = (
            id_of.reindex(pd.MultiIndex.from_arrays([sid, day])).to_numpy(dtype=object)
            if len(sid)
            else np.array([], dtype=object)
        )
        columns[f"{key}_dt"] = day
        columns[f"{key}_dom"] = np.where(known, RS, None).astype(object)
        columns[f"{key}_id"] = np.where(known & pd.notna(ids), ids, None).astype(object)
    columns["bor"] = summary["best_overall_response"].to_numpy(dtype=object)
    columns["bor_dt"] = _dates(summary["best_response_date"])
    columns["evaluable"] = summary["evaluable"].astype(object).to_numpy(dtype=object)
    recomputed = len(data.reevaluated)
    detail = (
        "Response assessments, progression, first response, BOR and evaluability from the "
        "response engine's stored calls (IMWG or RECIST, as the trial's design says), dated on "
        "or before the cut."
    )
    if recomputed:
        detail += f" {recomputed} patient(s) with data after the cut were recomputed at the cut."
    return (
        SourceStatus("response", available=True, detail=detail),
        ResponseFrames(
            patients=pd.DataFrame(columns).reindex(columns=list(RESPONSE_PATIENT_COLUMNS)),
            assessments=assessments,
            records=records.reindex(columns=list(RESPONSE_RECORD_COLUMNS)),
        ),
    )


def _dates(values: pd.Series) -> np.ndarray:
    """Calendar dates (None where missing) as ``datetime64[ns]`` (NaT where missing)."""
    items = values.tolist()
    converted = calendar_dates(items)
    if converted is not None:
        return converted
    return np.array(items, dtype="datetime64[D]").astype("datetime64[ns]")


def _by_patient_and_date(
    rows: list[tuple[int, dt.date, str]], pids: Sequence[int], days: Sequence[object]
) -> np.ndarray:
    """The value of (patient id, date, value) ``rows`` at each (``pids``, ``days``) key (None
    where absent; the first row of a repeated key wins). A dictionary lookup on the rows' own
    values: no date conversion of the (possibly many) rows."""
    n = len(pids)
    if not rows or not n:
        return np.full(n, None, dtype=object)
    found: dict[tuple[int, object], object] = {}
    for pid, day, value in reversed(rows):
        found[pid, day] = value
    get = found.get
    values = np.empty(n, dtype=object)
    values[:] = [get(key) for key in zip(pids, days, strict=True)]
    return values


def adverse_event_source(
    trial: Trial, *, data_cut: dt.date, agents: tuple[str, ...]
) -> tuple[SourceStatus, pd.DataFrame]:
    """Adverse events with onset on or before the cut (``ADVERSE_EVENT_COLUMNS``), for ADAE,
    from the safety app (:func:`safety_adverse_events`)."""
    return (
        SourceStatus(
            "adverse_events", available=True, detail="Adverse events from the safety app."
        ),
        safety_adverse_events(trial, data_cut=data_cut),
    )


#: safety's outcome codes → ADaM AEOUT (CDISC controlled terminology, C66768).
AE_OUTCOMES = {
    "recovered": "RECOVERED/RESOLVED",
    "recovering": "RECOVERING/RESOLVING",
    "not_recovered": "NOT RECOVERED/NOT RESOLVED",
    "recovered_with_sequelae": "RECOVERED/RESOLVED WITH SEQUELAE",
    "fatal": "FATAL",
    "unknown": "UNKNOWN",
}
#: safety's attribution codes → the ADAE code list (``survival.domain.adam.ATTRIBUTION_CODES``).
AE_ATTRIBUTIONS = {
    "unrelated": "NOT RELATED",
    "unlikely": "UNLIKELY",
    "possible": "POSSIBLE",
    "probable": "PROBABLE",
    "definite": "DEFINITE",
}


#: The trial's adverse events at the cut, with the highest grade reached by the cut, the
#: attribution to each of the trial's first ``MAX_AGENTS`` agents (``{agent_slots}``) and the
#: confirmed-DLT flag, in one round trip. The trial's kept events are narrowed first (``ev``:
#: the trial's patients' events with onset on or before the cut); grades and attributions are
#: aggregated per event in their own subqueries (``grade``, ``rel``: only the rows of kept
#: events), then joined one row per event by event id — no GROUP BY over the wide event row,
#: no join of every event in the database. Derived values (verbatim else term, the
#: resolution date and outcome as known at the cut, dates as day numbers) are computed here.
#: The order is the model's (the patient's ordering: trial, site, screening number; then
#: onset and id), the patients ranked once.
_ADVERSE_EVENTS_SQL = """
WITH pt AS (
    SELECT p.id,
           row_number() OVER (ORDER BY t.code, s.code, p.screening_number, p.id) AS rank
    FROM {patient} p
    JOIN {trial} t ON t.id = p.trial_id
    JOIN {site} s ON s.id = p.site_id
    WHERE p.trial_id = %(trial)s AND p.study_id IS NOT NULL
),
ev AS MATERIALIZED (
    SELECT ae.id, pt.rank
    FROM {event} ae
    JOIN pt ON pt.id = ae.patient_id
    WHERE ae.onset_date <= %(cut)s
    ORDER BY ae.id
),
grade AS (
    SELECT g.adverse_event_id AS id,
           COUNT(g.id) FILTER (WHERE g.onset_date <= %(cut)s) AS n,
           MAX(g.grade) FILTER (WHERE g.onset_date <= %(cut)s) AS grade
    FROM {grade} g JOIN ev ON ev.id = g.adverse_event_id
    GROUP BY g.adverse_event_id
){rel_cte}
SELECT ae.id, ae.patient_id, COALESCE(NULLIF(ae.verbatim, ''), ae.term), ae.term, ae.soc,
       CASE WHEN grade.n > 0 THEN grade.grade ELSE ae.max_grade END,
       COALESCE({serious}, false), d.id IS NOT NULL,
       ae.onset_date - DATE '1970-01-01',
       CASE WHEN ae.resolution_date <= %(cut)s THEN ae.resolution_date END - DATE '1970-01-01',
       CASE WHEN ae.resolution_date <= %(cut)s OR ae.outcome <> ALL(%(ended)s)
            THEN ae.outcome END,
       ev.rank{agent_slots}
FROM ev
JOIN {event} ae ON ae.id = ev.id
LEFT JOIN grade ON grade.id = ev.id{rel_join}
LEFT JOIN {dlt} d ON d.adverse_event_id = ev.id AND d.status = %(confirmed)s
"""
_ATTRIBUTIONS_CTE = """,
rel AS (
    SELECT x.adverse_event_id AS id{agent_columns}
    FROM {attribution} x JOIN ev ON ev.id = x.adverse_event_id
    GROUP BY x.adverse_event_id
)"""


def _coded(values: Sequence[object], labels: Mapping[str, str]) -> np.ndarray:
    """Codes (None where missing) → their labels (None for a missing or unknown code): each
    distinct code is looked up once."""
    codes, uniques = pd.factorize(_object_column(values))
    mapped = np.array([labels.get(code) for code in uniques] + [None], dtype=object)
    return mapped[codes]  # code -1 (missing) picks the trailing None


def _epoch_days(values: Sequence[object]) -> np.ndarray:
    """Days since 1970-01-01 (None where missing) as ``datetime64[ns]`` (NaT where missing)."""
    return _days(pd.Series(values, dtype=object))


def safety_adverse_events(trial: Trial, *, data_cut: dt.date) -> pd.DataFrame:
    """The trial's adverse events as known at the cut, in two queries.

    An event is kept when its onset is on or before the cut; its grade is the highest grade
    reached on or before the cut, its resolution date is kept only when on or before the cut,
    and AREL1… hold the attribution to each agent in the trial's agent order. DLTFL is Y for
    an investigator-confirmed DLT.
    """
    from safety.models import (
        AdverseEvent,
        AdverseEventAttribution,
        AdverseEventGrade,
        PotentialDlt,
        PotentialDltStatus,
    )
    from safety.models.adverse_events import SERIOUSNESS_FIELDS

    agents = list(
        TrialAgent.objects.filter(trial=trial)
        .order_by("position", "code")
        .values_list("id", flat=True)[:MAX_AGENTS]
    )
    tables = {
        "event": AdverseEvent,
        "grade": AdverseEventGrade,
        "attribution": AdverseEventAttribution,
        "dlt": PotentialDlt,
        "patient": Patient,
        "trial": Trial,
        "site": Site,
    }
    names = {k: m._meta.db_table for k, m in tables.items()}
    rel_cte = (
        _ATTRIBUTIONS_CTE.format(
            agent_columns="".join(
                f", MAX(x.attribution) FILTER (WHERE x.agent_id = %(agent{i})s) AS a{i}"
                for i in range(len(agents))
            ),
            **names,
        )
        if agents
        else ""
    )
    sql = _ADVERSE_EVENTS_SQL.format(
        serious=" OR ".join(f"ae.{name}" for name in SERIOUSNESS_FIELDS),
        rel_cte=rel_cte,
        rel_join="\nLEFT JOIN rel ON rel.id = ev.id" if agents else "",
        agent_slots="".join(f", rel.a{i}" for i in range(len(agents))),
        **names,
    )
    params: dict[str, Any] = {
        "trial": trial.pk,
        "cut": data_cut,
        "confirmed": PotentialDltStatus.CONFIRMED.value,
        "ended": sorted(ENDED_OUTCOMES),
    }
    params.update({f"agent{i}": pk for i, pk in enumerate(agents)})
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        events = cursor.fetchall()
    if not events:
        return empty(ADVERSE_EVENT_COLUMNS)
    # Column by column: the same values (and types) the rows gave, built with whole-column
    # operations rather than a Python loop per row. The rows come unordered (no sort of the
    # wide rows in SQL): they are put in (patient rank, onset, id) order here, on integers.
    n = len(events)
    (
        ids,
        patient_ids,
        term,
        decod,
        soc,
        grade,
        serious,
        dlt,
        onset,
        resolved,
        outcome,
        rank,
        *rel,
    ) = zip(*events, strict=True)
    pk = np.fromiter(ids, dtype=np.int64, count=n)
    onset_day = np.fromiter(onset, dtype=np.int64, count=n)
    order = np.lexsort((pk, onset_day, np.fromiter(rank, dtype=np.int64, count=n)))
    columns: dict[str, object] = {
        "patient_id": np.fromiter(patient_ids, dtype=np.int64, count=n)[order],
        "AETERM": _object_column(term)[order],
        "AEDECOD": _object_column(decod)[order],
        "AEBODSYS": _object_column(soc)[order],
        "AETOXGR": _object_column(grade)[order],
        "serious": _object_column(serious)[order],
        "dlt": _object_column(dlt)[order],
        "ASTDT": onset_day[order].astype("datetime64[D]").astype("datetime64[ns]"),
        "AENDT": _epoch_days(resolved)[order],
        "AEOUT": _coded(outcome, AE_OUTCOMES)[order],
    }
    for i in range(MAX_AGENTS):
        columns[f"AREL{i + 1}"] = (
            _coded(rel[i], AE_ATTRIBUTIONS)[order]
            if i < len(rel)
            else np.full(n, None, dtype=object)
        )
    columns["srcid"] = pk[order].astype(str).astype(object)
    return pd.DataFrame(columns, columns=list(ADVERSE_EVENT_COLUMNS))


def _object_column(values: Sequence[object]) -> np.ndarray:
    """Values as an object column (None stays None)."""
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return column


#: Outcomes that end an event (known only once its end date is on or before the cut).
ENDED_OUTCOMES = frozenset({"recovered", "recovered_with_sequelae", "fatal"})


def dlt_evaluability_source(
    trial: Trial, *, data_cut: dt.date
) -> tuple[SourceStatus, dict[int, bool]]:
    """DLT-evaluable flag per patient id, from the safety app's DLT windows.

    A window that ended with a DLT or completed evaluable gives Y, one declared not evaluable
    N; a window still open (or not opened) gives no flag. The state is the window's current
    one (a named data cut freezes it).
    """
    from safety.selectors import dlt_states_for_trial

    evaluable = {"DLT": True, "NO_DLT": True, "NOT_EVALUABLE": False}
    states = dlt_states_for_trial(trial)
    flags = {pid: evaluable[s.status] for pid, s in states.items() if s.status in evaluable}
    return (
        SourceStatus(
            "dlt_windows",
            available=True,
            detail="DLTEVLFL from the safety app's DLT windows (empty while a window is open).",
        ),
        flags,
    )


def rp2d_source(trial: Trial) -> tuple[SourceStatus, int | None]:
    """The number of the recommended phase 2 dose level, once an investigator signed it."""
    from dosing.selectors import escalation_of

    escalation = escalation_of(trial)
    level = escalation.rp2d_level_number if escalation is not None else None
    detail = (
        f"RP2DFL from the signed RP2D (dose level {level})."
        if level is not None
        else "No RP2D is signed yet: RP2DFL is empty."
    )
    return SourceStatus("rp2d", available=level is not None, detail=detail), level


# --- The analysis inputs of one trial -----------------------------------------------------------


def enrolled_patients(trial: Trial, *, data_cut: dt.date) -> QuerySet[Patient]:
    """Patients enrolled on or before the cut, in study-ID order (the analysis population)."""
    return Patient.objects.filter(
        trial=trial, study_id__isnull=False, enrolment_date__lte=data_cut
    ).order_by("study_id")


# One row per enrolled patient with every per-patient fact the endpoints need, in one round
# trip: each CTE reads one table once (joined to the trial's patients) and aggregates it by
# patient with a hash aggregate, no sort. "The first (or latest) record and its id" is taken
# as MIN (or MAX) of one number, ``day * 2^40 + id`` (days since 1970-01-01 in the high bits,
# the record's id in the low 40), which orders by date and then by id, as the rules want;
# Python splits it again. Dates come back as such day numbers: integers convert to numpy at
# once, 10,000s of date objects do not.
_PACK = 2**40
_PATIENT_FACTS_SQL = """
WITH pt AS (
    SELECT p.id, p.study_id, s.code AS site, dl.number AS level, dl.label,
           p.enrolment_date - DATE '1970-01-01' AS enrolled
    FROM {patient} p
    JOIN {site} s ON s.id = p.site_id
    LEFT JOIN {dose_level} dl ON dl.id = p.dose_level_id
    WHERE p.trial_id = %(trial)s AND p.study_id IS NOT NULL AND p.enrolment_date <= %(cut)s
),
consent AS (
    SELECT c.patient_id, MIN(c.consent_date) - DATE '1970-01-01' AS day
    FROM {consent} c JOIN pt ON pt.id = c.patient_id
    WHERE c.consent_date <= %(cut)s
    GROUP BY c.patient_id
),
dose AS (
    SELECT v.patient_id,
           MIN((v.visit_date - DATE '1970-01-01')::bigint * {pack} + d.id) AS first_key,
           MAX((v.visit_date - DATE '1970-01-01')::bigint * {pack} + d.id) AS last_key
    FROM {dose} d
    JOIN {visit} v ON v.id = d.visit_id
    JOIN pt ON pt.id = v.patient_id
    WHERE d.status = ANY(%(received)s) AND v.visit_date <= %(cut)s
    GROUP BY v.patient_id
),
visit AS (
    SELECT v.patient_id, MAX((v.visit_date - DATE '1970-01-01')::bigint * {pack} + v.id) AS key
    FROM {visit} v JOIN pt ON pt.id = v.patient_id
    WHERE v.status = %(done)s AND v.visit_date <= %(cut)s
    GROUP BY v.patient_id
),
lab AS (
    SELECT l.patient_id, MAX((l.collected_on - DATE '1970-01-01')::bigint * {pack} + l.id) AS key
    FROM {lab} l JOIN pt ON pt.id = l.patient_id
    WHERE l.collected_on <= %(cut)s
    GROUP BY l.patient_id
),
contact AS (
    SELECT c.patient_id,
           MAX((c.contact_date - DATE '1970-01-01')::bigint * {pack} + c.id)
               FILTER (WHERE c.vital_status = %(alive)s AND c.contact_date <= %(cut)s) AS alive_key,
           MIN((c.death_date - DATE '1970-01-01')::bigint * {pack} + c.id)
               FILTER (WHERE c.vital_status = %(dead)s AND c.death_date <= %(cut)s) AS death_key
    FROM {contact} c JOIN pt ON pt.id = c.patient_id
    GROUP BY c.patient_id
),
step AS (
    SELECT x.patient_id,
           MAX((x.effective_date - DATE '1970-01-01')::bigint * {pack} + x.id)
               FILTER (WHERE x.to_status = %(off_treatment)s) AS off_treatment_key,
           MAX((x.effective_date - DATE '1970-01-01')::bigint * {pack} + x.id)
               FILTER (WHERE x.to_status = %(off_study)s) AS off_study_key
    FROM {step} x JOIN pt ON pt.id = x.patient_id
    WHERE x.effective_date <= %(cut)s
    GROUP BY x.patient_id
)
SELECT pt.id, pt.study_id, pt.site, pt.level, pt.label, pt.enrolled, consent.day,
       dose.first_key, dose.last_key, visit.key, lab.key,
       contact.alive_key, contact.death_key, step.off_treatment_key, step.off_study_key,
       reason.reason_code
FROM pt
LEFT JOIN consent ON consent.patient_id = pt.id
LEFT JOIN dose ON dose.patient_id = pt.id
LEFT JOIN visit ON visit.patient_id = pt.id
LEFT JOIN lab ON lab.patient_id = pt.id
LEFT JOIN contact ON contact.patient_id = pt.id
LEFT JOIN step ON step.patient_id = pt.id
LEFT JOIN {step} reason ON reason.id = step.off_study_key %% {pack}
ORDER BY pt.study_id
"""
_FACT_COLUMNS = [
    "patient_id",
    "USUBJID",
    "SITEID",
    "level",
    "label",
    "enrolled",
    "consent",
    "first_key",
    "last_key",
    "visit_key",
    "lab_key",
    "alive_key",
    "death_key",
    "off_treatment_key",
    "off_study_key",
    "off_study_reason",
]


def _patient_facts(trial: Trial, *, data_cut: dt.date) -> pd.DataFrame:
    tables = {
        "patient": Patient,
        "site": Site,
        "dose_level": DoseLevel,
        "consent": Consent,
        "dose": DoseAdministration,
        "visit": Visit,
        "lab": LabResult,
        "contact": LastContact,
        "step": PatientStatusChange,
    }
    sql = _PATIENT_FACTS_SQL.format(pack=_PACK, **{k: m._meta.db_table for k, m in tables.items()})
    params = {
        "trial": trial.pk,
        "cut": data_cut,
        "received": sorted(s.value for s in RECEIVED),
        "done": VisitState.DONE.value,
        "alive": VitalStatus.ALIVE.value,
        "dead": VitalStatus.DEAD.value,
        "off_treatment": PatientStatus.OFF_TREATMENT.value,
        "off_study": PatientStatus.OFF_STUDY.value,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return pd.DataFrame.from_records(rows, columns=_FACT_COLUMNS)


#: ``work_mem`` of the bulk reads (per sort or hash node, for the one export transaction).
_BULK_WORK_MEM = "64MB"


@contextlib.contextmanager
def _bulk_reads() -> Iterator[None]:
    """One consistent, read-only snapshot for the bulk reads, planned with hash joins.

    The reads join whole tables (a trial's patients to their visits, doses, contacts). Right
    after a bulk load the planner's statistics still say "a few rows", and it picked nested
    loops that took minutes on 10,000 patients; without nested loops every plan is a hash or
    merge join, linear in the rows read. The hash tables and sorts of a large trial (100,000
    adverse events) outgrow the default 4 MB ``work_mem`` and spill to disk: the bulk reads get
    :data:`_BULK_WORK_MEM`. ``SET LOCAL`` ends with the transaction.
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if outermost:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT current_setting('enable_nestloop'), current_setting('work_mem')")
        previous = cursor.fetchone()
        cursor.execute(
            "SELECT set_config('enable_nestloop', 'off', true), set_config('work_mem', %s, true)",
            [_BULK_WORK_MEM],
        )
        try:
            yield
        finally:
            if not outermost:  # a savepoint: put the settings back for the enclosing transaction
                cursor.execute(
                    "SELECT set_config('enable_nestloop', %s, true), "
                    "set_config('work_mem', %s, true)",
                    list(previous),
                )


def _days(values: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 (None where missing) as ``datetime64[ns]`` (NaT where missing)."""
    days = pd.to_numeric(values).to_numpy(dtype="float64")
    out = np.full(len(days), NAT)
    known = ~np.isnan(days)
    out[known] = days[known].astype(np.int64).astype("datetime64[D]").astype("datetime64[ns]")
    return out


def _unpack(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``day * 2^40 + id`` keys (None where missing) → (dates, ids as text)."""
    keys = pd.array(values, dtype="Int64")
    missing = keys.isna()
    packed = keys.to_numpy(dtype=np.int64, na_value=0)
    days = (packed // _PACK).astype("datetime64[D]").astype("datetime64[ns]")
    days[missing] = NAT
    ids = (packed % _PACK).astype(str).astype(object)
    ids[missing] = None
    return days, ids


def trial_inputs(trial: Trial, *, data_cut: dt.date) -> TrialInputs:
    """Every enrolled patient's analysis inputs at ``data_cut`` as whole columns, in a fixed
    number of queries, all from one snapshot of the database.

    Records dated after the cut are not used (see ``survival.domain.endpoints``). Rows are in
    study-ID order, so the same data and cut always give the same datasets.
    """
    with _bulk_reads():
        return _trial_inputs(trial, data_cut=data_cut)


def _trial_inputs(trial: Trial, *, data_cut: dt.date) -> TrialInputs:
    facts = _patient_facts(trial, data_cut=data_cut)
    ids = facts["patient_id"].to_numpy(dtype=np.int64)
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

    level = pd.array(facts["level"], dtype="Int64").to_numpy(dtype=object, na_value=None)
    reason = facts["off_study_reason"].to_numpy(dtype=object)
    reason = np.where(pd.isna(reason) | (reason == ""), None, reason)
    first_dt, first_id = _unpack(facts["first_key"])
    death_dt, death_id = _unpack(facts["death_key"])
    columns = {
        "patient_id": ids,
        "USUBJID": facts["USUBJID"].to_numpy(dtype=object),
        "SITEID": facts["SITEID"].to_numpy(dtype=object),
        "DOSELVL": np.array(
            [
                None if number is None else (label or f"DL{number}")
                for number, label in zip(level, facts["label"], strict=True)
            ],
            dtype=object,
        ),
        "DOSELVLN": level,
        "RFICDT": _days(facts["consent"]),
        "ENRLDT": _days(facts["enrolled"]),
        "first_dt": first_dt,
        "first_dom": np.where(np.isnat(first_dt), None, EX),
        "first_id": first_id,
        "last_dose_dt": _unpack(facts["last_key"])[0],
        "death_dt": death_dt,
        "death_dom": np.where(np.isnat(death_dt), None, DS),
        "death_id": death_id,
        "off_treatment_dt": _unpack(facts["off_treatment_key"])[0],
        "off_study_dt": _unpack(facts["off_study_key"])[0],
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
    # Records showing the patient alive, in the order they are cited on equal dates.
    pieces = []
    for domain, key in ((SS, "alive_key"), (SV, "visit_key"), (EX, "last_key"), (LB, "lab_key")):
        days, record_ids = _unpack(facts[key])
        known = ~np.isnat(days)
        pieces.append(
            pd.DataFrame(
                {
                    "patient_id": ids[known],
                    "dt": days[known],
                    "dom": np.full(int(known.sum()), domain, dtype=object),
                    "id": record_ids[known],
                }
            )
        )
    return TrialInputs(
        studyid=trial.code,
        data_cut=data_cut,
        patients=patients.reindex(columns=list(PATIENT_COLUMNS)),
        known_alive=pd.concat(pieces, ignore_index=True),
        assessments=response.assessments,
        response_records=response.records,
        adverse_events=adverse_events,
        agents=agents,
        dose_levels=tuple(levels),
        rp2d_level=rp2d_level,
        response_available=response_status.available,
        sources=(response_status, ae_status, dlt_status, rp2d_status),
    )
