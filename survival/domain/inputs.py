"""One trial's analysis inputs at a data cut, and their mapping to ADaM rows.

Source: TrialDesk ``shared/domain/survival.md`` ("The export": ADSL, ADAE, ADRS variables) and
CDISC ADaM IG v1.3 for the flags (``SAFFL``: any study drug received; ``*FL`` = Y/N). The
records are filled once by ``survival.selectors`` (bulk queries, no per-patient query) and
mapped here, without Django, so that the mapping is tested on plain dataclasses.

Choices made here:

* **ADSL** has one row per patient *enrolled* on or before the data cut (screen failures are
  not in the analysis sets). ``USUBJID`` is the study ID: never a name or a birth date.
* **Unknown is empty, never "N".** A flag whose source is not available (``DLTEVLFL`` before
  DLT windows are recorded, ``EFFFL`` and ``BOR`` before response assessments are, ``RP2DFL``
  before an RP2D is declared) is missing, so nobody mistakes "not recorded" for "no".
* ``EFFFL`` (response-evaluable), when the response source does not say, is Y for a treated
  patient with at least one adequate post-baseline response assessment on or before the cut.
* ``RP2DFL`` is Y for a treated patient at the RP2D dose level, N for any other patient.
* ``EOSSTT`` is ``COMPLETED`` for an off-study step "follow-up completed" or "trial closed",
  ``DISCONTINUED`` for any other off-study reason, ``ONGOING`` otherwise (at the cut);
  ``DCSREAS`` is the reason in capitals for a discontinuation.
* ``LSTALVDT`` is the date of death for a patient who died, else the latest dated record
  showing the patient alive (contact, visit, dose, lab, response assessment) on or before the
  cut.
* **ORR** is the share of response-evaluable patients whose best overall response is ≥ PR,
  with the exact Clopper–Pearson 95% CI (``response.domain.binomial.rate_summary``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from survival.domain.endpoints import (
    RESPONDER_CATEGORIES,
    EndpointValue,
    PatientEndpointInput,
    ResponseAssessment,
    SourcedDate,
)
from survival.domain.plots import SwimmerLane

#: Off-study reasons that complete the study rather than discontinue it.
COMPLETED_REASONS = frozenset({"follow_up_completed", "trial_closed"})
ONGOING = "ONGOING"
COMPLETED = "COMPLETED"
DISCONTINUED = "DISCONTINUED"
OVERALL = "ALL"
"""The ``GROUP`` of the overall (ungrouped) Kaplan–Meier rows."""


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """Whether one upstream source of inputs (response, safety, RP2D) is wired in."""

    name: str
    available: bool
    detail: str


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


@dataclass(frozen=True, slots=True)
class TrialInputs:
    """Everything the export and the statistician's page need for one trial at one cut."""

    studyid: str
    data_cut: dt.date
    patients: tuple[PatientRecord, ...]
    agents: tuple[str, ...] = ()
    """Study agent names, in the trial's order (they label AREL1…)."""
    dose_levels: tuple[tuple[int, str], ...] = ()
    """(number, label) of the trial's dose levels, in escalation order."""
    adverse_events: tuple[AdverseEventRecord, ...] = ()
    rp2d_level: int | None = None
    sources: tuple[SourceStatus, ...] = field(default_factory=tuple)

    def source(self, name: str) -> SourceStatus | None:
        for item in self.sources:
            if item.name == name:
                return item
        return None

    @property
    def dose_groups(self) -> dict[str, str]:
        """USUBJID → dose level label, for the grouped Kaplan–Meier fits."""
        return {p.usubjid: p.dose_level for p in self.patients if p.dose_level is not None}

    @property
    def dose_group_order(self) -> list[str]:
        """Dose level labels in escalation order, only those with an enrolled patient."""
        used = {p.dose_level for p in self.patients}
        return [label for _, label in self.dose_levels if label in used]


# --- ADSL ---------------------------------------------------------------------------------------


def _yn(value: bool | None) -> str | None:
    if value is None:
        return None
    return "Y" if value else "N"


def response_evaluable(patient: PatientRecord) -> bool | None:
    """EFFFL as a boolean (None when the response source is not available)."""
    response = patient.response
    if response is None:
        return None
    if response.evaluable is not None:
        return response.evaluable
    if patient.first_dose is None:
        return False
    start = patient.first_dose.dt
    return any(a.adequate and a.adt > start for a in response.assessments)


def end_of_study(patient: PatientRecord) -> tuple[str, str | None, dt.date | None]:
    """(EOSSTT, DCSREAS, EOSDT) at the cut."""
    if patient.off_study_date is None:
        return ONGOING, None, None
    if patient.off_study_reason in COMPLETED_REASONS:
        return COMPLETED, None, patient.off_study_date
    reason = (patient.off_study_reason_label or patient.off_study_reason or "").upper() or None
    return DISCONTINUED, reason, patient.off_study_date


def last_known_alive(patient: PatientRecord) -> dt.date | None:
    """LSTALVDT (see the module docstring)."""
    if patient.death is not None:
        return patient.death.dt
    dates = [d.dt for d in patient.known_alive]
    if patient.first_dose is not None:
        dates.append(patient.first_dose.dt)
    if patient.response is not None:
        dates += [a.adt for a in patient.response.assessments]
    return max(dates) if dates else None


def adsl_rows(inputs: TrialInputs) -> list[dict[str, object]]:
    """ADSL rows in patient order (the order of ``inputs.patients``)."""
    rows = []
    for p in inputs.patients:
        treated = p.first_dose is not None
        eosstt, dcsreas, eosdt = end_of_study(p)
        rp2d = None
        if inputs.rp2d_level is not None:
            rp2d = treated and p.dose_level_number == inputs.rp2d_level
        response = p.response
        rows.append(
            {
                "STUDYID": inputs.studyid,
                "USUBJID": p.usubjid,
                "SITEID": p.siteid,
                "DOSELVL": p.dose_level,
                "DOSELVLN": p.dose_level_number,
                "RFICDT": p.consent_date,
                "ENRLDT": p.enrolment_date,
                "TRTSDT": p.first_dose.dt if p.first_dose else None,
                "TRTEDT": p.last_dose,
                "SAFFL": _yn(treated),
                "DLTEVLFL": _yn(p.dlt_evaluable),
                "EFFFL": _yn(response_evaluable(p)),
                "RP2DFL": _yn(rp2d),
                "BOR": response.best_overall_response if response else None,
                "BORDT": response.best_overall_response_date if response else None,
                "EOSSTT": eosstt,
                "DCSREAS": dcsreas,
                "EOSDT": eosdt,
                "DTHDT": p.death.dt if p.death else None,
                "LSTALVDT": last_known_alive(p),
                "DCUTDT": inputs.data_cut,
            }
        )
    return rows


# --- ADAE and ADRS ------------------------------------------------------------------------------


def adae_rows(inputs: TrialInputs) -> list[dict[str, object]]:
    """ADAE rows: patient order, then onset date, then source order; AESEQ numbers them."""
    by_patient: dict[int, list[AdverseEventRecord]] = {}
    for ae in inputs.adverse_events:
        by_patient.setdefault(ae.patient_id, []).append(ae)
    rows: list[dict[str, object]] = []
    n_agents = len(inputs.agents)
    for p in inputs.patients:
        events = sorted(
            by_patient.get(p.patient_id, ()),
            key=lambda ae: (ae.onset or dt.date.max, ae.srcid or ""),
        )
        start = p.first_dose.dt if p.first_dose else None
        for seq, ae in enumerate(events, start=1):
            row: dict[str, object] = {
                "STUDYID": inputs.studyid,
                "USUBJID": p.usubjid,
                "AESEQ": seq,
                "AETERM": ae.term,
                "AEDECOD": ae.decod,
                "AEBODSYS": ae.bodsys,
                "AETOXGR": ae.grade,
                "AESER": _yn(ae.serious),
                "DLTFL": _yn(ae.dlt),
                "TRTEMFL": _yn(None if start is None or ae.onset is None else ae.onset >= start),
                "ASTDT": ae.onset,
                "AENDT": ae.resolution,
                "AEOUT": ae.outcome,
            }
            for i in range(n_agents):
                row[f"AREL{i + 1}"] = ae.attributions[i] if i < len(ae.attributions) else None
            rows.append(row)
    return rows


def adrs_rows(inputs: TrialInputs) -> list[dict[str, object]]:
    """ADRS rows: patient order, then assessment date."""
    rows: list[dict[str, object]] = []
    for p in inputs.patients:
        if p.response is None:
            continue
        for r in sorted(p.response.records, key=lambda r: (r.adt, r.srcid or "")):
            agree = None
            if r.computed is not None and r.entered is not None:
                agree = r.computed == r.entered
            rows.append(
                {
                    "STUDYID": inputs.studyid,
                    "USUBJID": p.usubjid,
                    "PARAMCD": "OVRLRESP",
                    "PARAM": "Overall Response by Investigator",
                    "RSCRIT": r.criteria,
                    "AVISIT": r.visit,
                    "ADT": r.adt,
                    "AVALC": r.computed,
                    "CONFRESP": r.confirmed,
                    "INVRESP": r.entered,
                    "AGREEFL": _yn(agree),
                    "ADEQFL": _yn(r.adequate),
                    "SRCID": r.srcid,
                }
            )
    return rows


# --- Swimmer lanes and response rates -----------------------------------------------------------


def swimmer_lanes(inputs: TrialInputs, endpoints: Sequence[EndpointValue]) -> list[SwimmerLane]:
    """One lane per treated patient: first dose to the end of treatment (or, still on
    treatment, to the last date known alive), with first response, progression and death."""
    events: dict[tuple[str, str], EndpointValue] = {(e.usubjid, e.paramcd): e for e in endpoints}
    lanes = []
    for p in inputs.patients:
        if p.first_dose is None:
            continue
        start = p.first_dose.dt
        ongoing = p.off_treatment_date is None and p.death is None
        if p.off_treatment_date is not None:
            end = p.off_treatment_date
        elif ongoing:
            end = max([start, *(d.dt for d in p.known_alive)])
        else:
            end = p.last_dose or start
        response = p.response or PatientResponse()
        ttp = events.get((p.usubjid, "TTP"))
        progression = ttp.adt if ttp is not None and ttp.is_event else None

        def days(day: dt.date | None, start: dt.date = start) -> float | None:
            return None if day is None else float((day - start).days)

        lanes.append(
            SwimmerLane(
                usubjid=p.usubjid,
                treatment_days=float(max((end - start).days, 0)),
                ongoing=ongoing,
                first_response_days=days(
                    response.first_response.dt if response.first_response else None
                ),
                progression_days=days(progression),
                death_days=days(p.death.dt if p.death else None),
                group=p.dose_level,
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
    counts: dict[str, list[int]] = {OVERALL: [0, 0]}
    for label in inputs.dose_group_order:
        counts[label] = [0, 0]
    for p in inputs.patients:
        if not response_evaluable(p):
            continue
        responder = (
            p.response is not None and p.response.best_overall_response in RESPONDER_CATEGORIES
        )
        for key in (OVERALL, p.dose_level):
            if key is None or key not in counts:
                continue
            counts[key][1] += 1
            counts[key][0] += int(responder)
    return [ResponseCount(group, x, n) for group, (x, n) in counts.items()]
