"""One trial's analysis inputs at a data cut, as whole columns, and their ADSL, ADAE and ADRS.

Source: TrialDesk's survival specification (``survival.md``) ("The export": ADSL, ADAE, ADRS variables) and
CDISC ADaM IG v1.3 for the flags (``SAFFL``: any study drug received; ``*FL`` = Y/N). The
frames are filled once by ``survival.selectors`` (bulk queries, no per-patient query) and
mapped here column-wise, without Django. :class:`PatientRecord` is the same information for
one patient, as a dataclass: :meth:`TrialInputs.from_records` turns records into the frames
(tests and small callers use it; the selector builds the frames directly).

Choices made here:

* **ADSL** has one row per patient *enrolled* on or before the data cut (screen failures are
  not in the analysis sets). ``USUBJID`` is the study ID: never a name or a birth date.
* **Unknown is empty, never "N".** A flag whose source is not available (``DLTEVLFL`` before
  DLT windows are recorded, ``EFFFL`` and ``BOR`` before response assessments are, ``RP2DFL``
  before an RP2D is declared) is missing, so nobody mistakes "not recorded" for "no".
* ``EFFFL`` (response-evaluable), when the response source does not say, is Y for a treated
  patient with at least one adequate response assessment after the first dose.
* ``RP2DFL`` is Y for a treated patient at the RP2D dose level, N for any other patient.
* ``EOSSTT`` is ``COMPLETED`` for an off-study step "follow-up completed" or "trial closed",
  ``DISCONTINUED`` for any other off-study reason, ``ONGOING`` otherwise (at the cut);
  ``DCSREAS`` is the reason in capitals for a discontinuation.
* ``LSTALVDT`` is the date of death for a patient who died, else the latest dated record
  showing the patient alive (first dose, contact, visit, dose, lab, response assessment).
* ``TRTEMFL`` (ADAE) is Y for an adverse event starting on or after the first dose.
* **ORR** is the share of response-evaluable patients whose best overall response is ≥ PR,
  with the exact Clopper–Pearson 95% CI (``response.domain.binomial.rate_summary``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from survival.domain.adam import MAX_AGENTS
from survival.domain.columns import (
    ASSESSMENT_COLUMNS,
    KNOWN_ALIVE_COLUMNS,
    NAT,
    dates,
    truthy,
    typed_frame,
    yes_no,
)
from survival.domain.endpoints import (
    RESPONDER_CATEGORIES,
    TTP,
    PatientEndpointInput,
    ResponseAssessment,
    SourcedDate,
)

if TYPE_CHECKING:
    from survival.domain.plots import SwimmerLane

#: Off-study reasons that complete the study rather than discontinue it.
COMPLETED_REASONS = frozenset({"follow_up_completed", "trial_closed"})
ONGOING = "ONGOING"
COMPLETED = "COMPLETED"
DISCONTINUED = "DISCONTINUED"
OVERALL = "ALL"
"""The ``GROUP`` of the overall (ungrouped) Kaplan–Meier rows."""

#: One row per enrolled patient (dates datetime64[ns], text object with None).
PATIENT_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "USUBJID",
    "SITEID",
    "DOSELVL",
    "DOSELVLN",
    "RFICDT",
    "ENRLDT",
    "first_dt",
    "first_dom",
    "first_id",
    "last_dose_dt",
    "death_dt",
    "death_dom",
    "death_id",
    "off_treatment_dt",
    "off_study_dt",
    "off_study_reason",
    "off_study_label",
    "dlt_evaluable",
    "progression_dt",
    "progression_dom",
    "progression_id",
    "response_dt",
    "response_dom",
    "response_id",
    "bor",
    "bor_dt",
    "evaluable",
)
#: ADRS inputs: one row per response assessment.
RESPONSE_RECORD_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "ADT",
    "AVALC",
    "CONFRESP",
    "INVRESP",
    "adequate",
    "AVISIT",
    "RSCRIT",
    "SRCID",
)
#: ADAE inputs: one row per adverse event (its maximum grade).
ADVERSE_EVENT_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "AETERM",
    "AEDECOD",
    "AEBODSYS",
    "AETOXGR",
    "serious",
    "dlt",
    "ASTDT",
    "AENDT",
    "AEOUT",
    *(f"AREL{i}" for i in range(1, MAX_AGENTS + 1)),
    "srcid",
)


def empty(columns: Sequence[str]) -> pd.DataFrame:
    """A frame without rows; columns ending in ``_dt`` (or named like a date) are dates."""
    data: dict[str, object] = {}
    for name in columns:
        if name.endswith("_dt") or name in (
            "adt",
            "dt",
            "ADT",
            "ASTDT",
            "AENDT",
            "RFICDT",
            "ENRLDT",
        ):
            data[name] = np.array([], dtype="datetime64[ns]")
        elif name == "patient_id":
            data[name] = np.array([], dtype=np.int64)
        else:
            data[name] = np.array([], dtype=object)
    return pd.DataFrame(data)


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """Whether one upstream source of inputs (response, safety, RP2D) is wired in."""

    name: str
    available: bool
    detail: str


@dataclass(frozen=True)
class TrialInputs:
    """Everything the export and the statistician's page need for one trial at one cut."""

    studyid: str
    data_cut: dt.date
    patients: pd.DataFrame
    """``PATIENT_COLUMNS``, one row per enrolled patient, in study-ID order."""
    known_alive: pd.DataFrame = field(default_factory=lambda: empty(KNOWN_ALIVE_COLUMNS))
    assessments: pd.DataFrame = field(default_factory=lambda: empty(ASSESSMENT_COLUMNS))
    response_records: pd.DataFrame = field(default_factory=lambda: empty(RESPONSE_RECORD_COLUMNS))
    adverse_events: pd.DataFrame = field(default_factory=lambda: empty(ADVERSE_EVENT_COLUMNS))
    agents: tuple[str, ...] = ()
    """Study agent names, in the trial's order (they label AREL1…)."""
    dose_levels: tuple[tuple[int, str], ...] = ()
    """(number, label) of the trial's dose levels, in escalation order."""
    rp2d_level: int | None = None
    response_available: bool = False
    sources: tuple[SourceStatus, ...] = ()

    @property
    def n_patients(self) -> int:
        return len(self.patients)

    @property
    def n_treated(self) -> int:
        return int(self.patients["first_dt"].notna().sum())

    def source(self, name: str) -> SourceStatus | None:
        return next((s for s in self.sources if s.name == name), None)

    @property
    def dose_group_order(self) -> list[str]:
        """Dose level labels in escalation order, only those with an enrolled patient."""
        used = set(self.patients["DOSELVL"].dropna())
        return [label for _, label in self.dose_levels if label in used]

    @classmethod
    def from_records(
        cls,
        *,
        studyid: str,
        data_cut: dt.date,
        patients: Sequence[PatientRecord],
        adverse_events: Sequence[AdverseEventRecord] = (),
        response_available: bool | None = None,
        **options: object,
    ) -> TrialInputs:
        """The frames of ``patients`` (records) — the columnar form the analysis runs on."""
        if response_available is None:
            response_available = any(p.response is not None for p in patients)
        rows, alive = [], []
        for p in patients:
            row: dict[str, object] = {
                "patient_id": p.patient_id,
                "USUBJID": p.usubjid,
                "SITEID": p.siteid,
                "DOSELVL": p.dose_level,
                "DOSELVLN": p.dose_level_number,
                "RFICDT": p.consent_date,
                "ENRLDT": p.enrolment_date,
                "last_dose_dt": p.last_dose,
                "off_treatment_dt": p.off_treatment_date,
                "off_study_dt": p.off_study_date,
                "off_study_reason": p.off_study_reason,
                "off_study_label": p.off_study_reason_label,
                "dlt_evaluable": p.dlt_evaluable,
            }
            for key, value in (("first", p.first_dose), ("death", p.death)):
                row[f"{key}_dt"] = value.dt if value else None
                row[f"{key}_dom"] = value.srcdom if value else None
                row[f"{key}_id"] = value.srcid if value else None
            rows.append(row)
            alive += [(p.patient_id, d.dt, d.srcdom, d.srcid) for d in p.known_alive]
        by_patient, assessments, records = response_frames(
            {p.patient_id: p.response or PatientResponse() for p in patients}
        )
        own = [c for c in PATIENT_COLUMNS if c not in RESPONSE_PATIENT_COLUMNS or c == "patient_id"]
        frame = frame_of(own, rows).merge(by_patient, on="patient_id", how="left")
        events = [
            (
                ae.patient_id,
                ae.term,
                ae.decod,
                ae.bodsys,
                ae.grade,
                ae.serious,
                ae.dlt,
                ae.onset,
                ae.resolution,
                ae.outcome,
                *(
                    ae.attributions[i] if i < len(ae.attributions) else None
                    for i in range(MAX_AGENTS)
                ),
                ae.srcid,
            )
            for ae in adverse_events
        ]
        return cls(
            studyid=studyid,
            data_cut=data_cut,
            patients=frame.reindex(columns=list(PATIENT_COLUMNS)),
            known_alive=frame_of(KNOWN_ALIVE_COLUMNS, alive),
            assessments=assessments,
            response_records=records,
            adverse_events=frame_of(ADVERSE_EVENT_COLUMNS, events),
            response_available=response_available,
            **options,  # type: ignore[arg-type]
        )


RESPONSE_PATIENT_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "progression_dt",
    "progression_dom",
    "progression_id",
    "response_dt",
    "response_dom",
    "response_id",
    "bor",
    "bor_dt",
    "evaluable",
)


def response_frames(
    responses: Mapping[int, PatientResponse],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per-patient responses (keyed by patient id) as the three frames the analysis reads:
    ``RESPONSE_PATIENT_COLUMNS``, ``ASSESSMENT_COLUMNS`` and ``RESPONSE_RECORD_COLUMNS``."""
    patients, assessed, records = [], [], []
    for pid, r in responses.items():
        row: dict[str, object] = {
            "patient_id": pid,
            "bor": r.best_overall_response,
            "bor_dt": r.best_overall_response_date,
            "evaluable": r.evaluable,
        }
        for key, value in (("progression", r.progression), ("response", r.first_response)):
            row[f"{key}_dt"] = value.dt if value else None
            row[f"{key}_dom"] = value.srcdom if value else None
            row[f"{key}_id"] = value.srcid if value else None
        patients.append(row)
        assessed += [(pid, a.adt, a.response, a.adequate, a.srcdom, a.srcid) for a in r.assessments]
        records += [
            (
                pid,
                x.adt,
                x.computed,
                x.confirmed,
                x.entered,
                x.adequate,
                x.visit,
                x.criteria,
                x.srcid,
            )
            for x in r.records
        ]
    return (
        frame_of(RESPONSE_PATIENT_COLUMNS, patients),
        frame_of(ASSESSMENT_COLUMNS, assessed),
        frame_of(RESPONSE_RECORD_COLUMNS, records),
    )


def frame_of(columns: Sequence[str], rows: Sequence[object]) -> pd.DataFrame:
    """Rows (dicts or tuples in ``columns`` order) as a frame typed like ``empty(columns)``."""
    if not rows:
        return empty(columns)
    if isinstance(rows[0], dict):
        frame = pd.DataFrame(list(rows), columns=list(columns))
    else:
        frame = pd.DataFrame.from_records(list(rows), columns=list(columns))
    template = empty(columns)
    for name in columns:
        if template[name].dtype.kind == "M":
            frame[name] = dates(frame[name])
        elif name == "patient_id":
            frame[name] = frame[name].astype(np.int64)
        else:
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


# --- Records: one patient at a time (tests, small callers) -------------------------------------


@dataclass(frozen=True, slots=True)
class ResponseRecord:
    """One response assessment for ADRS: the computed call and the investigator's entry."""

    adt: dt.date
    computed: str | None
    """The engine's call at this assessment (IMWG or RECIST category)."""
    confirmed: str | None = None
    entered: str | None = None
    adequate: bool | None = None
    visit: str | None = None
    criteria: str | None = None
    srcid: str | None = None


@dataclass(frozen=True, slots=True)
class PatientResponse:
    """What the response app says about one patient, at the cut."""

    assessments: tuple[ResponseAssessment, ...] = ()
    progression: SourcedDate | None = None
    first_response: SourcedDate | None = None
    best_overall_response: str | None = None
    best_overall_response_date: dt.date | None = None
    evaluable: bool | None = None
    """None: the response app does not say; derived from the assessments (see module doc)."""
    records: tuple[ResponseRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class AdverseEventRecord:
    """One adverse event for ADAE (the maximum grade of the event)."""

    patient_id: int
    term: str
    decod: str | None
    bodsys: str | None
    grade: int | None
    serious: bool | None
    dlt: bool | None
    onset: dt.date | None
    resolution: dt.date | None
    outcome: str | None
    attributions: tuple[str | None, ...] = ()
    """Attribution to each study agent, in the trial's agent order (ADaM codes, e.g. POSSIBLE)."""
    srcid: str | None = None


@dataclass(frozen=True, slots=True)
class PatientRecord:
    """One enrolled patient's inputs at the cut (every date on or before it)."""

    patient_id: int
    usubjid: str
    siteid: str
    dose_level: str | None
    dose_level_number: int | None
    consent_date: dt.date | None
    enrolment_date: dt.date | None
    first_dose: SourcedDate | None
    last_dose: dt.date | None
    death: SourcedDate | None
    known_alive: tuple[SourcedDate, ...] = ()
    off_treatment_date: dt.date | None = None
    off_study_date: dt.date | None = None
    off_study_reason: str | None = None
    """The reason code of the off-study step (``trials.domain.transitions.OffStudyReason``)."""
    off_study_reason_label: str | None = None
    dlt_evaluable: bool | None = None
    response: PatientResponse | None = None
    """None when the response source is not available."""

    def endpoint_input(self) -> PatientEndpointInput:
        """The same patient for the scalar (reference) derivation."""
        response = self.response or PatientResponse()
        return PatientEndpointInput(
            usubjid=self.usubjid,
            first_dose=self.first_dose,
            assessments=response.assessments,
            progression=response.progression,
            first_response=response.first_response,
            death=self.death,
            known_alive=self.known_alive,
        )


# --- ADSL ---------------------------------------------------------------------------------------


def _dt(frame: pd.DataFrame, name: str) -> np.ndarray:
    return frame[name].to_numpy(dtype="datetime64[ns]")


def _text(frame: pd.DataFrame, name: str) -> np.ndarray:
    return frame[name].to_numpy(dtype=object)


def response_evaluable(inputs: TrialInputs) -> np.ndarray:
    """EFFFL as True/False/None per patient (None when the response source is off)."""
    p = inputs.patients
    n = len(p)
    if not inputs.response_available:
        return np.full(n, None, dtype=object)
    start = pd.Series(_dt(p, "first_dt"), index=p["patient_id"].to_numpy())
    a = inputs.assessments
    after_start = a["adt"].to_numpy(dtype="datetime64[ns]") > start.reindex(
        a["patient_id"].to_numpy()
    ).to_numpy(dtype="datetime64[ns]")
    adequate = truthy(a["adequate"])
    evaluated = set(a["patient_id"].to_numpy()[after_start & adequate].tolist())
    derived = p["first_dt"].notna().to_numpy() & p["patient_id"].isin(evaluated).to_numpy()
    given = _text(p, "evaluable")
    return np.where(pd.isna(given), derived, given).astype(object)


def last_known_alive(inputs: TrialInputs) -> np.ndarray:
    """LSTALVDT per patient (see the module docstring)."""
    p = inputs.patients
    ids = p["patient_id"].to_numpy()
    pieces = [
        pd.Series(_dt(p, key), index=ids) for key in ("first_dt", "progression_dt", "response_dt")
    ]
    pieces.append(
        pd.Series(_dt(inputs.known_alive, "dt"), index=inputs.known_alive["patient_id"].to_numpy())
    )
    pieces.append(
        pd.Series(_dt(inputs.assessments, "adt"), index=inputs.assessments["patient_id"].to_numpy())
    )
    latest = pd.concat(pieces).dropna()
    latest = latest[latest.to_numpy() <= np.datetime64(inputs.data_cut, "ns")]
    by_patient = latest.groupby(level=0).max().reindex(ids).to_numpy(dtype="datetime64[ns]")
    death = _dt(p, "death_dt")
    return np.where(np.isnat(death), by_patient, death)


def adsl_frame(inputs: TrialInputs) -> pd.DataFrame:
    """ADSL, one row per patient, in the order of ``inputs.patients``."""
    p = inputs.patients
    n = len(p)
    treated = p["first_dt"].notna().to_numpy()
    off_study = p["off_study_dt"].notna().to_numpy()
    completed = off_study & p["off_study_reason"].isin(COMPLETED_REASONS).to_numpy()
    discontinued = off_study & ~completed
    reason = np.array(
        [
            (label or code or "").upper() or None
            for label, code in zip(
                _text(p, "off_study_label"), _text(p, "off_study_reason"), strict=True
            )
        ],
        dtype=object,
    )
    if inputs.rp2d_level is None:
        rp2d = np.full(n, None, dtype=object)
    else:
        level = p["DOSELVLN"].to_numpy(dtype=object)
        rp2d = yes_no(treated & (level == inputs.rp2d_level))
    respond = inputs.response_available
    no_text = np.full(n, None, dtype=object)
    columns = {
        "STUDYID": np.full(n, inputs.studyid, dtype=object),
        "USUBJID": _text(p, "USUBJID"),
        "SITEID": _text(p, "SITEID"),
        "DOSELVL": _text(p, "DOSELVL"),
        "DOSELVLN": _text(p, "DOSELVLN"),
        "RFICDT": _dt(p, "RFICDT"),
        "ENRLDT": _dt(p, "ENRLDT"),
        "TRTSDT": _dt(p, "first_dt"),
        "TRTEDT": _dt(p, "last_dose_dt"),
        "SAFFL": yes_no(treated),
        "DLTEVLFL": yes_no(_text(p, "dlt_evaluable")),
        "EFFFL": yes_no(response_evaluable(inputs)),
        "RP2DFL": rp2d,
        "BOR": _text(p, "bor") if respond else no_text,
        "BORDT": _dt(p, "bor_dt") if respond else np.full(n, NAT),
        "EOSSTT": np.select([completed, discontinued], [COMPLETED, DISCONTINUED], ONGOING).astype(
            object
        ),
        "DCSREAS": np.where(discontinued, reason, None),
        "EOSDT": _dt(p, "off_study_dt"),
        "DTHDT": _dt(p, "death_dt"),
        "LSTALVDT": last_known_alive(inputs),
        "DCUTDT": np.full(n, np.datetime64(inputs.data_cut, "ns")),
    }
    return typed_frame("adsl", columns, n)


# --- ADAE and ADRS ------------------------------------------------------------------------------


def _with_patients(frame: pd.DataFrame, inputs: TrialInputs) -> pd.DataFrame:
    """``frame`` joined to its patients (position, USUBJID, first dose), patients' order."""
    p = inputs.patients
    keys = pd.DataFrame(
        {
            "patient_id": p["patient_id"].to_numpy(),
            "position": np.arange(len(p)),
            "USUBJID": _text(p, "USUBJID"),
            "first_dt": _dt(p, "first_dt"),
        }
    )
    return frame.merge(keys, on="patient_id", how="inner")


def _in_order(frame: pd.DataFrame, keys: Sequence[str]) -> bool:
    """Whether the rows are already in ``sort_values(keys, na_position="last")`` order: each
    row's keys are ≤ the next row's, compared key by key (NaT after every date), whole
    columns at once."""
    n = len(frame)
    if n < 2:
        return True
    tied = np.ones(n - 1, dtype=bool)  # equal on every earlier key
    for key in keys:
        values = frame[key].to_numpy()
        if values.dtype.kind == "M":
            missing = np.isnat(values)
            days = values.astype(np.int64)
            days[missing] = np.iinfo(np.int64).max  # NaT last (and equal to each other)
            values = days
        before, after = values[:-1], values[1:]
        less, equal = before < after, before == after
        if values.dtype == object:
            less, equal = less.astype(bool), equal.astype(bool)
        if np.any(tied & ~less & ~equal):
            return False
        tied &= equal
    return True


def _stable_order(frame: pd.DataFrame, keys: Sequence[str]) -> np.ndarray:
    """The row order of ``frame.sort_values(keys, na_position="last", kind="mergesort")``
    (the one stable lexicographic order), from ``np.lexsort`` on plain arrays: dates as
    integers with NaT last, text (no missing values) as fixed-width strings."""
    arrays = []
    for key in keys:
        values = frame[key].to_numpy()
        if values.dtype.kind == "M":
            missing = np.isnat(values)
            values = values.astype(np.int64)
            values[missing] = np.iinfo(np.int64).max
        elif values.dtype == object:
            values = values.astype(str)
        arrays.append(values)
    return np.lexsort(arrays[::-1])


def adae_frame(inputs: TrialInputs, *, n_agents: int) -> pd.DataFrame:
    """ADAE: patient order, then onset date (unknown last), then source order; AESEQ numbers
    each patient's events from 1."""
    ae = _with_patients(inputs.adverse_events, inputs)
    ae["onset_key"] = ae["ASTDT"].to_numpy(dtype="datetime64[ns]")
    ae["src_key"] = ae["srcid"].astype(object).where(ae["srcid"].notna(), "").astype(str)
    keys = ["position", "onset_key", "src_key"]
    if not _in_order(ae, keys):  # a stable sort of rows already in order changes nothing
        ae = ae.take(_stable_order(ae, keys))
    ae = ae.reset_index(drop=True)
    m = len(ae)
    onset = _dt(ae, "ASTDT")
    start = _dt(ae, "first_dt")
    emergent = np.where(np.isnat(onset) | np.isnat(start), None, onset >= start)
    columns: dict[str, object] = {
        "STUDYID": np.full(m, inputs.studyid, dtype=object),
        "USUBJID": _text(ae, "USUBJID"),
        "AESEQ": (ae.groupby("position").cumcount() + 1).to_numpy(dtype=np.int64),
        "AETERM": _text(ae, "AETERM"),
        "AEDECOD": _text(ae, "AEDECOD"),
        "AEBODSYS": _text(ae, "AEBODSYS"),
        "AETOXGR": _text(ae, "AETOXGR"),
        "AESER": yes_no(_text(ae, "serious")),
        "DLTFL": yes_no(_text(ae, "dlt")),
        "TRTEMFL": yes_no(emergent),
        "ASTDT": onset,
        "AENDT": _dt(ae, "AENDT"),
        "AEOUT": _text(ae, "AEOUT"),
    }
    for i in range(1, MAX_AGENTS + 1):
        columns[f"AREL{i}"] = _text(ae, f"AREL{i}")
    frame = typed_frame("adae", columns, m)
    return frame.drop(columns=[f"AREL{i}" for i in range(n_agents + 1, MAX_AGENTS + 1)])


def adrs_frame(inputs: TrialInputs) -> pd.DataFrame:
    """ADRS: patient order, then assessment date."""
    rs = _with_patients(inputs.response_records, inputs)
    rs["src_key"] = rs["SRCID"].astype(object).where(rs["SRCID"].notna(), "").astype(str)
    rs = rs.sort_values(["position", "ADT", "src_key"], kind="mergesort").reset_index(drop=True)
    m = len(rs)
    computed, entered = _text(rs, "AVALC"), _text(rs, "INVRESP")
    known = ~(pd.isna(computed) | pd.isna(entered))
    agree = np.where(known, computed == entered, None)
    columns = {
        "STUDYID": np.full(m, inputs.studyid, dtype=object),
        "USUBJID": _text(rs, "USUBJID"),
        "PARAMCD": np.full(m, "OVRLRESP", dtype=object),
        "PARAM": np.full(m, "Overall Response by Investigator", dtype=object),
        "RSCRIT": _text(rs, "RSCRIT"),
        "AVISIT": _text(rs, "AVISIT"),
        "ADT": _dt(rs, "ADT"),
        "AVALC": computed,
        "CONFRESP": _text(rs, "CONFRESP"),
        "INVRESP": entered,
        "AGREEFL": yes_no(agree),
        "ADEQFL": yes_no(_text(rs, "adequate")),
        "SRCID": _text(rs, "SRCID"),
    }
    return typed_frame("adrs", columns, m)


# --- Swimmer lanes and response rates -----------------------------------------------------------


def _days(day: object, start: pd.Timestamp) -> float | None:
    return None if pd.isna(day) else float((pd.Timestamp(day) - start).days)


def swimmer_lanes(inputs: TrialInputs, adtte: pd.DataFrame) -> list[SwimmerLane]:
    """One lane per treated patient: first dose to the end of treatment (or, still on
    treatment, to the last date known alive), with first response, progression and death."""
    from survival.domain.plots import SwimmerLane  # matplotlib only when a plot is drawn

    ttp = adtte[(adtte["PARAMCD"] == TTP) & (adtte["CNSR"] == 0)]
    progression = dict(zip(ttp["USUBJID"], ttp["ADT"], strict=True))
    alive = inputs.known_alive.groupby("patient_id")["dt"].max()
    lanes = []
    for row in inputs.patients.itertuples(index=False):
        if pd.isna(row.first_dt):
            continue
        start = pd.Timestamp(row.first_dt)
        ongoing = pd.isna(row.off_treatment_dt) and pd.isna(row.death_dt)
        if not pd.isna(row.off_treatment_dt):
            end = pd.Timestamp(row.off_treatment_dt)
        elif ongoing:
            last = alive.get(row.patient_id)
            end = (
                max(start, pd.Timestamp(last)) if last is not None and not pd.isna(last) else start
            )
        else:
            end = start if pd.isna(row.last_dose_dt) else pd.Timestamp(row.last_dose_dt)
        lanes.append(
            SwimmerLane(
                usubjid=row.USUBJID,
                treatment_days=float(max((end - start).days, 0)),
                ongoing=ongoing,
                first_response_days=_days(row.response_dt, start),
                progression_days=_days(progression.get(row.USUBJID), start),
                death_days=_days(row.death_dt, start),
                group=row.DOSELVL,
            )
        )
    return lanes


@dataclass(frozen=True, slots=True)
class ResponseCount:
    """Responders (best overall response ≥ PR) among response-evaluable patients."""

    group: str
    responders: int
    evaluable: int


def response_counts(inputs: TrialInputs) -> list[ResponseCount]:
    """Overall (``ALL``) then by dose level in escalation order."""
    p = inputs.patients
    evaluable = truthy(response_evaluable(inputs))
    responder = p["bor"].isin(RESPONDER_CATEGORIES).to_numpy() & evaluable
    levels = _text(p, "DOSELVL")
    counts = [ResponseCount(OVERALL, int(responder.sum()), int(evaluable.sum()))]
    for label in inputs.dose_group_order:
        mask = levels == label
        counts.append(
            ResponseCount(label, int((responder & mask).sum()), int((evaluable & mask).sum()))
        )
    return counts
