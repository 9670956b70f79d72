"""Derivation of the time-to-event endpoints TTP, PFS, DOR and OS at a data cut.

Source: trial A's registration as summarised in TrialDesk the survival.md research note
("Endpoint definitions"), the default for every trial:

=========  ==========================================  ===============================================
PARAMCD    event                                       censored at
=========  ==========================================  ===============================================
TTP        disease progression                         last known progression-free (a death without
                                                       progression is censored)
PFS        progression or death from any cause         last known progression-free
DOR        progression or death, from first response   last known progression-free and alive
           (responders, best response ≥ PR, only)
OS         death from any cause                        last known alive
=========  ==========================================  ===============================================

All times start at the date of first dose (DOR: at the date of first response). The
progression date is the date of the first assessment of a confirmed progression (IMWG 2016,
Kumar et al. *Lancet Oncol* 2016;17:e328) or of the PD assessment (RECIST 1.0/1.1); it is
computed by the response engine and passed in. "Last known progression-free" is the date of the
last adequate response assessment without progression. The ADaM names (``STARTDT``, ``ADT``,
``AVAL``, ``CNSR``, ``EVNTDESC``, ``CNSDTDSC``, ``SRCDOM``) follow CDISC ADaM BDS for
time-to-event analyses (ADaM ADTTE v1.0); CNSR is 1 for censored, 0 for an event.

Choices made here (none is spelled out by the registration):

* **Data cut.** Every record dated after ``data_cut`` is ignored, as if the database had been
  frozen on that day: an event after the cut becomes censoring at the last qualifying date on
  or before the cut. Information from after the cut (a later contact proving the patient alive
  at the cut) is deliberately *not* used, so that re-running an old cut later reproduces the
  same rows. Pass every dated "known alive" record (or the latest one per source on or before
  the cut), not only the overall last contact.
* **Patients without a first dose** (or first dosed after the cut) get no rows at all: the
  endpoints are defined from first dose and such patients are outside the analysis set.
* **AVAL** is the elapsed number of days, ``ADT − STARTDT``; a censoring on the day of first
  dose therefore has ``AVAL = 0``. (Some sponsors add one day; TrialDesk does not, so AVAL
  matches the Kaplan–Meier times of the dose-finding.md research note §4.2.) ``AVALM`` is
  ``AVAL / 30.4375``.
* **No adequate post-baseline assessment** (none dated after first dose): TTP, PFS are
  censored at the first-dose date with AVAL 0 (CNSDTDSC ``FIRST DOSE DATE``), unless an event
  (PFS: death) occurred.
* **Adequate** means the caller's ``adequate`` flag is set *and* the call is not ``NE``; a
  ``PD`` call is never progression-free, confirmed or not (an unconfirmed laboratory PD is not
  a progression, but it is not evidence of being progression-free either).
* **Progression and death on the same day** (PFS, DOR): reported as progression.
* **Death long after the last assessment** still counts as a PFS/DOR event: the registration
  has no "two missed assessments" rule (FDA 2018 guidance's sensitivity rule is not applied).
* **New anticancer therapy** is ignored by default (not in the registration). With
  ``censor_at_new_therapy=True`` (FDA *Clinical Trial Endpoints for the Approval of Cancer
  Drugs and Biologics*, 2018, table of PFS censoring rules) TTP, PFS and DOR use only what
  happened on or before the new therapy start: a later event is censored at the last adequate
  assessment without progression on or before it; a first response after it is not a
  response. OS is unaffected.
* **Last known alive** (OS) is the latest of: the first-dose date, the ``known_alive``
  records, any response assessment (adequate or not), the progression and first-response
  dates, all on or before the cut; on equal dates the earlier record in that list is cited.
* **Inconsistent dates** that would give a negative duration (progression, death or first
  response before first dose; a first response after progression or death) raise
  ``ValueError`` naming the patient: they cannot be exported and must be corrected at source.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from survival.domain.units import DAYS_PER_MONTH

RULE_VERSION = "survival-endpoints/1"
"""Stored with derived values so that a result can be traced to the rules that produced it."""

#: IMWG 2016 categories (``sCR`` … ``NE``) and RECIST categories (``CR PR SD PD NE``).
RESPONSE_CATEGORIES: frozenset[str] = frozenset({"sCR", "CR", "VGPR", "PR", "MR", "SD", "PD", "NE"})
#: Responders for DOR: best response ≥ PR (MR and SD are not responses for DOR).
RESPONDER_CATEGORIES: frozenset[str] = frozenset({"sCR", "CR", "VGPR", "PR"})
PROGRESSIVE_DISEASE = "PD"
NOT_EVALUABLE = "NE"

TTP = "TTP"
PFS = "PFS"
DOR = "DOR"
OS = "OS"
PARAMCDS: tuple[str, ...] = (TTP, PFS, DOR, OS)
PARAM_LABELS: dict[str, str] = {
    TTP: "Time to Progression",
    PFS: "Progression-Free Survival",
    DOR: "Duration of Response",
    OS: "Overall Survival",
}

# EVNTDESC: what happened (for events) or why the time is censored.
EV_PROGRESSION = "DISEASE PROGRESSION"
EV_DEATH = "DEATH"
CN_PROGRESSION_FREE = "NO PROGRESSION AT LAST ADEQUATE ASSESSMENT"
CN_NO_ASSESSMENT = "NO ADEQUATE POST-BASELINE ASSESSMENT"
CN_DEATH_WITHOUT_PROGRESSION = "DEATH WITHOUT PROGRESSION"
CN_NEW_THERAPY = "NEW ANTICANCER THERAPY BEFORE PROGRESSION"
CN_ALIVE = "ALIVE"
# CNSDTDSC: which date the censoring time is.
DT_LAST_ASSESSMENT = "LAST ADEQUATE ASSESSMENT WITHOUT PROGRESSION"
DT_FIRST_DOSE = "FIRST DOSE DATE"
DT_FIRST_RESPONSE = "FIRST RESPONSE DATE"
DT_LAST_KNOWN_ALIVE = "LAST KNOWN ALIVE DATE"


@dataclass(frozen=True, slots=True)
class SourcedDate:
    """A date together with the record it comes from (for traceability in ADTTE)."""

    dt: dt.date
    srcdom: str
    """SDTM-style domain of the source record, e.g. ``EX``, ``RS``, ``DS``, ``SV``."""
    srcid: str | None = None
    """Identifier of the source record within its domain (primary key as text)."""


@dataclass(frozen=True, slots=True)
class ResponseAssessment:
    """One overall response assessment as called by the response engine."""

    adt: dt.date
    response: str
    """Overall call: IMWG ``sCR CR VGPR PR MR SD PD NE`` or RECIST ``CR PR SD PD NE``."""
    adequate: bool = True
    confirmed_progression: bool = False
    """True on the first assessment of a confirmed progression (IMWG) or a RECIST PD."""
    srcid: str | None = None
    srcdom: str = "RS"

    def __post_init__(self) -> None:
        if self.response not in RESPONSE_CATEGORIES:
            raise ValueError(
                f"unknown response category {self.response!r}; "
                f"expected one of {sorted(RESPONSE_CATEGORIES)}"
            )

    @property
    def progression_free(self) -> bool:
        """Adequate and without progression: may serve as "last known progression-free"."""
        return self.adequate and self.response not in (PROGRESSIVE_DISEASE, NOT_EVALUABLE)


@dataclass(frozen=True, slots=True)
class PatientEndpointInput:
    """Everything the endpoint derivation needs for one patient (all dates are calendar dates)."""

    usubjid: str
    first_dose: SourcedDate | None
    assessments: tuple[ResponseAssessment, ...] = ()
    progression: SourcedDate | None = None
    """First assessment of confirmed progression (IMWG) or of PD (RECIST), as computed."""
    first_response: SourcedDate | None = None
    """First assessment of a (confirmed) response ≥ PR; None for non-responders."""
    death: SourcedDate | None = None
    known_alive: tuple[SourcedDate, ...] = ()
    """Dated records showing the patient alive: contacts, visits, dosing, labs."""
    new_anticancer_therapy: dt.date | None = None

    def __post_init__(self) -> None:
        # Accept lists from callers but keep the instance immutable and hashable.
        if not isinstance(self.assessments, tuple):
            object.__setattr__(self, "assessments", tuple(self.assessments))
        if not isinstance(self.known_alive, tuple):
            object.__setattr__(self, "known_alive", tuple(self.known_alive))


@dataclass(frozen=True, slots=True)
class EndpointValue:
    """One ADTTE row: one patient, one endpoint."""

    usubjid: str
    paramcd: str
    param: str
    startdt: dt.date
    adt: dt.date
    aval_days: int
    avalm: float
    cnsr: int
    """1 = censored, 0 = event (CDISC ADaM convention)."""
    evntdesc: str
    cnsdtdsc: str | None
    """Description of the censoring date; None for events."""
    srcdom: str
    srcid: str | None

    @property
    def is_event(self) -> bool:
        return self.cnsr == 0


def progression_from_assessments(
    assessments: Iterable[ResponseAssessment],
) -> SourcedDate | None:
    """The first assessment flagged as confirmed progression, or None.

    A convenience for callers that hold the response engine's per-assessment calls but not
    its ``progression_date``; IMWG confirmation itself is the response engine's job.
    """
    flagged = [
        a for a in assessments if a.confirmed_progression and a.response == PROGRESSIVE_DISEASE
    ]
    if not flagged:
        return None
    first = min(flagged, key=lambda a: a.adt)
    return SourcedDate(first.adt, first.srcdom, first.srcid)


def first_response_from_assessments(
    assessments: Iterable[ResponseAssessment],
) -> SourcedDate | None:
    """The first adequate assessment with a call ≥ PR, or None (see ``progression_from_assessments``)."""
    responses = [a for a in assessments if a.adequate and a.response in RESPONDER_CATEGORIES]
    if not responses:
        return None
    first = min(responses, key=lambda a: a.adt)
    return SourcedDate(first.adt, first.srcdom, first.srcid)


@dataclass(frozen=True, slots=True)
class _CutView:
    """One patient's facts as known at the data cut (shared by the four derivations)."""

    usubjid: str
    start: SourcedDate
    progression: SourcedDate | None
    death: SourcedDate | None
    """Death as seen by TTP/PFS/DOR (on or before the new therapy when that rule applies)."""
    first_response: SourcedDate | None
    last_progression_free: ResponseAssessment | None
    """Last adequate non-PD assessment after first dose, on or before the analysis limit."""
    new_therapy_censors: bool
    """New anticancer therapy started (on or before the cut) and censoring at it applies."""
    last_alive: SourcedDate


def _on_or_before(value: SourcedDate | None, limit: dt.date) -> SourcedDate | None:
    return value if value is not None and value.dt <= limit else None


def _view_at_cut(
    patient: PatientEndpointInput, data_cut: dt.date, censor_at_new_therapy: bool
) -> _CutView:
    start = patient.first_dose
    assert start is not None  # checked by the caller
    usubjid = patient.usubjid

    therapy = patient.new_anticancer_therapy
    therapy_applies = censor_at_new_therapy and therapy is not None and therapy <= data_cut
    # TTP/PFS/DOR look no further than the new therapy start when that rule applies.
    limit = therapy if therapy_applies and therapy is not None else data_cut

    progression = _on_or_before(patient.progression, data_cut)
    death = _on_or_before(patient.death, data_cut)
    response = _on_or_before(patient.first_response, data_cut)
    for label, value in (
        ("progression", progression),
        ("death", death),
        ("first response", response),
    ):
        if value is not None and value.dt < start.dt:
            raise ValueError(
                f"{usubjid}: {label} date {value.dt.isoformat()} is before first dose "
                f"{start.dt.isoformat()}"
            )
    if response is not None:
        for label, value in (("progression", progression), ("death", death)):
            if value is not None and value.dt < response.dt:
                raise ValueError(
                    f"{usubjid}: first response {response.dt.isoformat()} is after "
                    f"{label} {value.dt.isoformat()}"
                )

    last_pf: ResponseAssessment | None = None
    last_alive = start
    for item in patient.known_alive:
        if last_alive.dt < item.dt <= data_cut:
            last_alive = item
    start_dt = start.dt
    for a in patient.assessments:
        adt = a.adt
        if adt > data_cut:
            continue
        if adt > last_alive.dt:
            last_alive = SourcedDate(adt, a.srcdom, a.srcid)
        if (
            start_dt < adt <= limit
            and a.progression_free
            and (last_pf is None or adt > last_pf.adt)
        ):
            last_pf = a
    for item in (progression, response):
        if item is not None and item.dt > last_alive.dt:
            last_alive = item

    if therapy_applies:
        progression = _on_or_before(progression, limit)
        death_for_progression_endpoints = _on_or_before(death, limit)
        response = _on_or_before(response, limit)
    else:
        death_for_progression_endpoints = death

    return _CutView(
        usubjid=usubjid,
        start=start,
        progression=progression,
        death=death_for_progression_endpoints,
        first_response=response,
        last_progression_free=last_pf,
        new_therapy_censors=therapy_applies,
        last_alive=last_alive,
    )


def _value(
    view: _CutView,
    paramcd: str,
    start: dt.date,
    end: SourcedDate,
    *,
    censored: bool,
    evntdesc: str,
    cnsdtdsc: str | None,
) -> EndpointValue:
    aval = (end.dt - start).days
    return EndpointValue(
        usubjid=view.usubjid,
        paramcd=paramcd,
        param=PARAM_LABELS[paramcd],
        startdt=start,
        adt=end.dt,
        aval_days=aval,
        avalm=aval / DAYS_PER_MONTH,
        cnsr=1 if censored else 0,
        evntdesc=evntdesc,
        cnsdtdsc=cnsdtdsc,
        srcdom=end.srcdom,
        srcid=end.srcid,
    )


def _progression_free_censoring(view: _CutView) -> tuple[SourcedDate, str, str]:
    """(date, EVNTDESC, CNSDTDSC) for TTP/PFS without an event."""
    last_pf = view.last_progression_free
    if last_pf is None:
        when, cnsdtdsc, reason = view.start, DT_FIRST_DOSE, CN_NO_ASSESSMENT
    else:
        when = SourcedDate(last_pf.adt, last_pf.srcdom, last_pf.srcid)
        cnsdtdsc, reason = DT_LAST_ASSESSMENT, CN_PROGRESSION_FREE
    if view.new_therapy_censors:
        reason = CN_NEW_THERAPY
    return when, reason, cnsdtdsc


def _earliest_event(view: _CutView, not_before: dt.date) -> tuple[SourcedDate, str] | None:
    progression, death = view.progression, view.death
    if (
        progression is not None
        and progression.dt >= not_before
        and (death is None or progression.dt <= death.dt)
    ):
        return progression, EV_PROGRESSION
    if death is not None and death.dt >= not_before:
        return death, EV_DEATH
    return None


def _ttp(view: _CutView) -> EndpointValue:
    start = view.start.dt
    if view.progression is not None:
        return _value(
            view,
            TTP,
            start,
            view.progression,
            censored=False,
            evntdesc=EV_PROGRESSION,
            cnsdtdsc=None,
        )
    when, reason, cnsdtdsc = _progression_free_censoring(view)
    if view.death is not None:
        reason = CN_DEATH_WITHOUT_PROGRESSION
    return _value(view, TTP, start, when, censored=True, evntdesc=reason, cnsdtdsc=cnsdtdsc)


def _pfs(view: _CutView) -> EndpointValue:
    start = view.start.dt
    event = _earliest_event(view, start)
    if event is not None:
        when, desc = event
        return _value(view, PFS, start, when, censored=False, evntdesc=desc, cnsdtdsc=None)
    when, reason, cnsdtdsc = _progression_free_censoring(view)
    return _value(view, PFS, start, when, censored=True, evntdesc=reason, cnsdtdsc=cnsdtdsc)


def _dor(view: _CutView) -> EndpointValue | None:
    response = view.first_response
    if response is None:
        return None
    start = response.dt
    event = _earliest_event(view, start)
    if event is not None:
        when, desc = event
        return _value(view, DOR, start, when, censored=False, evntdesc=desc, cnsdtdsc=None)
    last_pf = view.last_progression_free
    if last_pf is not None and last_pf.adt >= start:
        when = SourcedDate(last_pf.adt, last_pf.srcdom, last_pf.srcid)
        cnsdtdsc = DT_LAST_ASSESSMENT
    else:
        when, cnsdtdsc = response, DT_FIRST_RESPONSE
    reason = CN_NEW_THERAPY if view.new_therapy_censors else CN_PROGRESSION_FREE
    return _value(view, DOR, start, when, censored=True, evntdesc=reason, cnsdtdsc=cnsdtdsc)


def _os(view: _CutView, death: SourcedDate | None) -> EndpointValue:
    start = view.start.dt
    if death is not None:
        return _value(view, OS, start, death, censored=False, evntdesc=EV_DEATH, cnsdtdsc=None)
    return _value(
        view,
        OS,
        start,
        view.last_alive,
        censored=True,
        evntdesc=CN_ALIVE,
        cnsdtdsc=DT_LAST_KNOWN_ALIVE,
    )


def derive_endpoints(
    patient: PatientEndpointInput,
    *,
    data_cut: dt.date,
    censor_at_new_therapy: bool = False,
) -> tuple[EndpointValue, ...]:
    """TTP, PFS, DOR (responders only) and OS for one patient at ``data_cut``, in that order.

    Returns ``()`` for a patient without a first dose, or first dosed after the cut.
    See the module docstring for the rules and every edge-case choice.
    """
    if patient.first_dose is None or patient.first_dose.dt > data_cut:
        return ()
    view = _view_at_cut(patient, data_cut, censor_at_new_therapy)
    death_at_cut = _on_or_before(patient.death, data_cut)
    dor = _dor(view)
    if dor is None:
        return (_ttp(view), _pfs(view), _os(view, death_at_cut))
    return (_ttp(view), _pfs(view), dor, _os(view, death_at_cut))


def derive_all_endpoints(
    patients: Iterable[PatientEndpointInput],
    *,
    data_cut: dt.date,
    censor_at_new_therapy: bool = False,
) -> list[EndpointValue]:
    """``derive_endpoints`` over many patients, rows in patient order then TTP, PFS, DOR, OS."""
    rows: list[EndpointValue] = []
    for patient in patients:
        rows.extend(
            derive_endpoints(
                patient, data_cut=data_cut, censor_at_new_therapy=censor_at_new_therapy
            )
        )
    return rows
