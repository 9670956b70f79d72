"""Adverse events: the CTCAE term of the trial's version, the grade over time (the maximum
grade derived in the same transaction), seriousness, attribution and action per agent, and
corrections with a reason. Every change re-runs the SAE report and the DLT flag."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from safety import selectors
from safety.domain.ctcae import load_dictionary
from safety.domain.sae_workflow import SaeStatus
from safety.models import (
    ActionTaken,
    AdverseEvent,
    AdverseEventAttribution,
    AdverseEventGrade,
    AttributionChoice,
    CtcaeTerm,
    DltWindow,
    Expectedness,
    LabGradeSuggestion,
    Outcome,
    PotentialDlt,
    SaeReport,
    SuggestionStatus,
)
from safety.models.adverse_events import ENDED_OUTCOMES, SERIOUSNESS_FIELDS
from safety.services._common import (
    _check_version,
    _enqueue_escalation,
    _Errors,
    _now,
    _today,
)
from safety.services.dlt import _dlt_flag, _refresh_window
from safety.services.sae import _sync_sae_report
from trials import selectors as trial_selectors
from trials.audit import audited, require_reason
from trials.models import (
    Patient,
    User,
)

logger = logging.getLogger(__name__)


@transaction.atomic
def ctcae_dictionary_install(*, version: str, acting_user: User | None) -> int:
    """Load the shipped CTCAE dictionary of ``version`` into its table (the data migration does
    this for v5.0). Idempotent: terms already present are left as they are; returns how many
    were added."""
    present = set(CtcaeTerm.objects.filter(version=version).values_list("meddra_code", flat=True))
    rows = [
        CtcaeTerm(
            version=version,
            meddra_code=term.meddra_code,
            term=term.term,
            soc=term.soc,
            definition=term.definition or "",
            navigational_note=term.navigational_note or "",
            allowed_grades=list(term.allowed_grades),
            **{f"grade_{g}": term.grades[g] for g in range(1, 6)},
        )
        for term in load_dictionary(version)
        if term.meddra_code not in present
    ]
    with audited(acting_user=acting_user, reason=f"CTCAE v{version} dictionary installed"):
        CtcaeTerm.objects.bulk_create(rows, batch_size=500)
    return len(rows)


@dataclass(frozen=True)
class GradeChange:
    """The event reached ``grade`` on ``on`` (the first change is the onset)."""

    on: date
    grade: int


@dataclass(frozen=True)
class AttributionInput:
    agent: str  # the agent's code (IXA, POM, ...)
    attribution: str  # unrelated / unlikely / possible / probable / definite
    action_taken: str = ActionTaken.NONE


@dataclass(frozen=True)
class _AeData:
    """Everything an adverse event holds, as one value the validator checks as a whole."""

    term: CtcaeTerm | None
    grades: tuple[GradeChange, ...]
    resolution_date: date | None = None
    outcome: str = Outcome.NOT_RECOVERED
    expectedness: str = Expectedness.NOT_ASSESSED
    verbatim: str = ""
    seriousness: frozenset[str] = frozenset()
    awareness_at: datetime | None = None
    with_fever: bool = False
    with_bleeding: bool = False
    with_transfusion: bool = False
    controlled_within_hours: Decimal | None = None
    cycle2_delay_days: int | None = None
    attributions: Mapping[str, AttributionInput] = field(default_factory=dict)

    @property
    def onset_date(self) -> date | None:
        return self.grades[0].on if self.grades else None

    @property
    def max_grade(self) -> int | None:
        return max((g.grade for g in self.grades), default=None)

    @property
    def is_serious(self) -> bool:
        return bool(self.seriousness)


AE_UPDATABLE_FIELDS = frozenset(
    {
        "term",
        "meddra_code",
        "grades",
        "resolution_date",
        "outcome",
        "expectedness",
        "verbatim",
        "seriousness",
        "awareness_at",
        "with_fever",
        "with_bleeding",
        "with_transfusion",
        "controlled_within_hours",
        "cycle2_delay_days",
        "attributions",
    }
)


def _resolve_term(
    patient: Patient, *, term: str | None, meddra_code: int | None, errors: _Errors
) -> CtcaeTerm | None:
    version = selectors.ctcae_version_for(patient.trial)
    if not selectors.ctcae_version_installed(version):
        errors.add(
            "term", f"{patient.trial.code} grades with CTCAE v{version}, which is not installed."
        )
        return None
    found = None
    if meddra_code:
        found = selectors.ctcae_term_by_code(version, int(meddra_code))
    elif term and term.strip():
        found = selectors.ctcae_term_by_name(version, term)
    else:
        errors.add("term", "Choose the CTCAE term.")
        return None
    if found is None:
        shown = meddra_code or term
        errors.add("term", f"{shown!r} is not a CTCAE v{version} term: pick one from the list.")
    return found


def _as_decimal(value: Any, name: str, errors: _Errors) -> Decimal | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        errors.add(name, f"{value!r} is not a number.")
        return None
    if not number.is_finite() or number < 0:
        errors.add(name, "Give a number of 0 or more.")
        return None
    return number


def _validate(patient: Patient, data: _AeData, *, today: date, now: datetime) -> None:
    errors = _Errors()
    term = data.term
    if term is None:
        errors.add("term", "Choose the CTCAE term.")
    if not data.grades:
        errors.add("grade", "Give the grade at onset.")
    dates = [g.on for g in data.grades]
    if dates != sorted(set(dates)):
        errors.add("grades", "Grade changes must have different dates, in order.")
    for i, change in enumerate(data.grades):
        name = "grade" if i == 0 else "grades"
        if not 1 <= change.grade <= 5:
            errors.add(name, f"CTCAE grades are 1 to 5, not {change.grade}.")
        elif term is not None and change.grade not in term.allowed_grades:
            allowed = ", ".join(str(g) for g in term.allowed_grades)
            errors.add(
                name,
                f"Grade {change.grade} is not defined for {term.term} in CTCAE "
                f"v{term.version} (allowed: {allowed}).",
            )
        if change.on > today:
            errors.add(name, f"{change.on:%Y-%m-%d} is in the future.")
        if i and change.grade == data.grades[i - 1].grade:
            errors.add("grades", f"The grade on {change.on:%Y-%m-%d} does not change.")
    onset = data.onset_date
    if onset is not None:
        consent = trial_selectors.first_consent_date(patient)
        if consent is None:
            errors.add("onset_date", f"{patient.label} has no consent on file.")
        elif onset < consent:
            errors.add(
                "onset_date",
                f"{onset:%Y-%m-%d} is before the patient's consent ({consent:%Y-%m-%d}).",
            )
    resolution = data.resolution_date
    if resolution is not None:
        if onset is not None and resolution < onset:
            errors.add("resolution_date", "The event cannot resolve before its onset.")
        if dates and resolution < dates[-1]:
            errors.add("resolution_date", "A grade change is dated after the resolution.")
        if resolution > today:
            errors.add("resolution_date", f"{resolution:%Y-%m-%d} is in the future.")
    if data.outcome not in Outcome.values:
        errors.add("outcome", "Choose an outcome.")
    elif data.outcome in ENDED_OUTCOMES and resolution is None:
        errors.add("resolution_date", "Give the date the event ended (resolution or death).")
    elif data.outcome not in ENDED_OUTCOMES and resolution is not None:
        errors.add("outcome", "An event with a resolution date has ended: choose its outcome.")
    fatal = data.outcome == Outcome.FATAL
    if fatal and data.grades and data.grades[-1].grade != 5:
        errors.add("grades", "A fatal event ends at grade 5: add grade 5 on the date of death.")
    if not fatal and data.max_grade == 5:
        errors.add("outcome", "Grade 5 is death related to the event: the outcome is fatal.")
    if fatal != ("serious_death" in data.seriousness):
        errors.add("seriousness", "'Results in death' goes with a fatal outcome, and only with it.")
    unknown = data.seriousness - set(SERIOUSNESS_FIELDS)
    if unknown:
        errors.add("seriousness", f"Unknown seriousness criteria: {', '.join(sorted(unknown))}.")
    if data.is_serious:
        if data.awareness_at is None:
            errors.add("awareness_at", "Give when the site learned of this serious event.")
        elif data.awareness_at > now + timedelta(minutes=5):
            errors.add("awareness_at", "The awareness time is in the future.")
        elif onset is not None and data.awareness_at.date() < onset - timedelta(days=1):
            errors.add("awareness_at", "The site cannot have known before the onset.")
    if data.expectedness not in Expectedness.values:
        errors.add("expectedness", "Choose the expectedness.")
    agents = {a.code: a for a in trial_selectors.trial_agents(patient.trial)}
    for code, item in data.attributions.items():
        name = f"attributions.{code}"
        if code not in agents:
            errors.add(name, f"{code!r} is not an agent of {patient.trial.code}.")
        if item.attribution not in AttributionChoice.values:
            errors.add(name, "Choose unrelated, unlikely, possible, probable or definite.")
        if item.action_taken not in ActionTaken.values:
            errors.add(name, "Choose the action taken with this agent.")
    if data.cycle2_delay_days is not None and data.cycle2_delay_days < 0:
        errors.add("cycle2_delay_days", "Give 0 or more days.")
    errors.raise_if_any()


def _episodes(data: _AeData) -> list[tuple[int, date, date | None]]:
    """(grade, onset, resolved_on) for each grade change: a change ends at the next one."""
    out = []
    for i, change in enumerate(data.grades):
        end = data.grades[i + 1].on if i + 1 < len(data.grades) else data.resolution_date
        out.append((change.grade, change.on, end))
    return out


def _write(ae: AdverseEvent, data: _AeData, *, term_changed: bool) -> None:
    """Store ``data`` on ``ae`` (saved), its grade episodes and its attributions."""
    term = data.term
    assert term is not None
    existing = (
        {e.onset_date: e for e in AdverseEventGrade.objects.filter(adverse_event=ae)}
        if ae.pk
        else {}
    )
    if term_changed and existing:
        # The old episodes may not be allowed for the new term (and the reverse): clear them
        # before the term changes, so the database check sees one term at a time.
        AdverseEventGrade.objects.filter(adverse_event=ae).delete()
        existing = {}
    ae.ctcae_term = term
    ae.ctcae_version = term.version
    ae.meddra_code = term.meddra_code
    ae.term = term.term
    ae.soc = term.soc
    ae.onset_date = data.onset_date
    ae.resolution_date = data.resolution_date
    ae.max_grade = data.max_grade
    ae.outcome = data.outcome
    ae.expectedness = data.expectedness
    ae.verbatim = data.verbatim.strip()
    for name in SERIOUSNESS_FIELDS:
        setattr(ae, name, name in data.seriousness)
    ae.awareness_at = data.awareness_at if data.is_serious else None
    ae.with_fever = data.with_fever
    ae.with_bleeding = data.with_bleeding
    ae.with_transfusion = data.with_transfusion
    ae.controlled_within_hours = data.controlled_within_hours
    ae.cycle2_delay_days = data.cycle2_delay_days
    ae.save()
    wanted = {onset: (grade, end) for grade, onset, end in _episodes(data)}
    for onset, row in existing.items():
        if onset not in wanted:
            row.delete()
    for onset, (grade, end) in wanted.items():
        row = existing.get(onset)
        if row is None:
            AdverseEventGrade.objects.create(
                adverse_event=ae, grade=grade, onset_date=onset, resolved_on=end
            )
        elif (row.grade, row.resolved_on) != (grade, end):
            row.grade, row.resolved_on = grade, end
            row.save(update_fields=["grade", "resolved_on"])
    agents = {a.code: a for a in trial_selectors.trial_agents(ae.patient.trial)}
    current = {
        a.agent.code: a
        for a in AdverseEventAttribution.objects.filter(adverse_event=ae).select_related("agent")
    }
    for code, item in data.attributions.items():
        row = current.get(code)
        if row is None:
            AdverseEventAttribution.objects.create(
                adverse_event=ae,
                agent=agents[code],
                attribution=item.attribution,
                action_taken=item.action_taken,
            )
        elif (row.attribution, row.action_taken) != (item.attribution, item.action_taken):
            row.attribution, row.action_taken = item.attribution, item.action_taken
            row.save(update_fields=["attribution", "action_taken"])


def _data_of(ae: AdverseEvent) -> _AeData:
    episodes = AdverseEventGrade.objects.filter(adverse_event=ae).order_by("onset_date")
    attributions = AdverseEventAttribution.objects.filter(adverse_event=ae).select_related("agent")
    return _AeData(
        term=ae.ctcae_term,
        grades=tuple(GradeChange(e.onset_date, e.grade) for e in episodes),
        resolution_date=ae.resolution_date,
        outcome=ae.outcome,
        expectedness=ae.expectedness,
        verbatim=ae.verbatim,
        seriousness=frozenset(n for n in SERIOUSNESS_FIELDS if getattr(ae, n)),
        awareness_at=ae.awareness_at,
        with_fever=ae.with_fever,
        with_bleeding=ae.with_bleeding,
        with_transfusion=ae.with_transfusion,
        controlled_within_hours=ae.controlled_within_hours,
        cycle2_delay_days=ae.cycle2_delay_days,
        attributions={
            a.agent.code: AttributionInput(a.agent.code, a.attribution, a.action_taken)
            for a in attributions
        },
    )


def _attribution_inputs(
    attributions: Iterable[AttributionInput] | Mapping[str, Any] | None,
) -> dict[str, AttributionInput]:
    if attributions is None:
        return {}
    if isinstance(attributions, Mapping):
        items = []
        for code, value in attributions.items():
            if isinstance(value, AttributionInput):
                items.append(value)
            elif isinstance(value, Mapping):
                items.append(AttributionInput(code, **value))
            else:
                items.append(AttributionInput(code, str(value)))
        attributions = items
    out: dict[str, AttributionInput] = {}
    for item in attributions:
        if item.attribution:
            out[item.agent] = item
    return out


def _after_ae_change(
    ae: AdverseEvent,
    *,
    acting_user: User | None,
    reason: str,
    today: date,
    now: datetime,
) -> None:
    """What follows any change of an event: the DLT flag, then the SAE report (in the lock
    order: window, potential DLT, SAE report)."""
    _dlt_flag(ae, acting_user=acting_user, today=today, now=now)
    _sync_sae_report(ae, acting_user=acting_user, reason=reason, now=now)


@transaction.atomic
def adverse_event_create(
    *,
    patient: Patient,
    onset_date: date,
    grade: int,
    acting_user: User,
    term: str | None = None,
    meddra_code: int | None = None,
    grade_changes: Sequence[GradeChange] = (),
    resolution_date: date | None = None,
    outcome: str = Outcome.NOT_RECOVERED,
    expectedness: str = Expectedness.NOT_ASSESSED,
    verbatim: str = "",
    seriousness: Iterable[str] = (),
    awareness_at: datetime | None = None,
    with_fever: bool = False,
    with_bleeding: bool = False,
    with_transfusion: bool = False,
    controlled_within_hours: Any = None,
    cycle2_delay_days: int | None = None,
    attributions: Iterable[AttributionInput] | Mapping[str, Any] | None = None,
    today: date | None = None,
    now: datetime | None = None,
) -> AdverseEvent:
    """Record an adverse event graded with the trial's CTCAE version.

    ``grade`` is the grade at ``onset_date``; ``grade_changes`` the later changes. A serious
    event opens its SAE report (the clock starts at ``awareness_at``); an event inside the
    patient's DLT window that the trial's definition matches is flagged a potential DLT.
    """
    today, now = _today(today), _now(now)
    patient = Patient.objects.select_related("trial", "site").get(pk=patient.pk)
    errors = _Errors()
    ctcae_term = _resolve_term(patient, term=term, meddra_code=meddra_code, errors=errors)
    hours = _as_decimal(controlled_within_hours, "controlled_within_hours", errors)
    errors.raise_if_any()
    serious = frozenset(seriousness)
    data = _AeData(
        term=ctcae_term,
        grades=(GradeChange(onset_date, int(grade)), *sorted(grade_changes, key=lambda g: g.on)),
        resolution_date=resolution_date,
        outcome=outcome,
        expectedness=expectedness,
        verbatim=verbatim or "",
        seriousness=serious,
        awareness_at=awareness_at if awareness_at is not None or not serious else now,
        with_fever=with_fever,
        with_bleeding=with_bleeding,
        with_transfusion=with_transfusion,
        controlled_within_hours=hours,
        cycle2_delay_days=cycle2_delay_days,
        attributions=_attribution_inputs(attributions),
    )
    _validate(patient, data, today=today, now=now)
    reason = "adverse event recorded"
    with audited(acting_user=acting_user, reason=reason):
        ae = AdverseEvent(patient=patient, created_by=acting_user)
        _write(ae, data, term_changed=False)
        _after_ae_change(ae, acting_user=acting_user, reason=reason, today=today, now=now)
    logger.info(
        "adverse event recorded",
        extra={"adverse_event": ae.pk, "patient": patient.pk, "grade": ae.max_grade},
    )
    return ae


def _locked_event(adverse_event: AdverseEvent) -> AdverseEvent:
    return (
        AdverseEvent.objects.select_for_update(of=("self",))
        .select_related("patient__trial", "patient__site", "ctcae_term")
        .get(pk=adverse_event.pk)
    )


def _save_change(
    locked: AdverseEvent,
    data: _AeData,
    *,
    reason: str,
    acting_user: User,
    today: date,
    now: datetime,
) -> AdverseEvent:
    _validate(locked.patient, data, today=today, now=now)
    if data == _data_of(locked):
        return locked
    with audited(acting_user=acting_user, reason=reason):
        term_changed = data.term is not None and data.term.pk != locked.ctcae_term_id
        locked.version += 1
        _write(locked, data, term_changed=term_changed)
        _after_ae_change(locked, acting_user=acting_user, reason=reason, today=today, now=now)
    return locked


@transaction.atomic
def adverse_event_update(
    *,
    adverse_event: AdverseEvent,
    acting_user: User,
    reason: str,
    expected_version: int | None,
    today: date | None = None,
    now: datetime | None = None,
    **changes: Any,
) -> AdverseEvent:
    """Correct or complete an event (any of ``AE_UPDATABLE_FIELDS``), with a reason.

    ``grades`` replaces the whole grade history (a list of :class:`GradeChange`, onset first);
    ``attributions`` adds or changes the agents given. A change to data an investigator signed
    voids the signature.
    """
    today, now = _today(today), _now(now)
    reason = require_reason(reason)
    unknown = set(changes) - AE_UPDATABLE_FIELDS
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, "This field cannot be changed here."))
    locked = _locked_event(adverse_event)
    _check_version(locked, expected_version, "adverse event")
    current = _data_of(locked)
    errors = _Errors()
    updates: dict[str, Any] = {}
    if "term" in changes or "meddra_code" in changes:
        updates["term"] = _resolve_term(
            locked.patient,
            term=changes.get("term"),
            meddra_code=changes.get("meddra_code"),
            errors=errors,
        )
    if "controlled_within_hours" in changes:
        updates["controlled_within_hours"] = _as_decimal(
            changes["controlled_within_hours"], "controlled_within_hours", errors
        )
    errors.raise_if_any()
    if "grades" in changes:
        updates["grades"] = tuple(sorted(changes["grades"], key=lambda g: g.on))
    if "seriousness" in changes:
        updates["seriousness"] = frozenset(changes["seriousness"])
    if "attributions" in changes:
        updates["attributions"] = {
            **current.attributions,
            **_attribution_inputs(changes["attributions"]),
        }
    for name in (
        "resolution_date",
        "outcome",
        "expectedness",
        "verbatim",
        "awareness_at",
        "with_fever",
        "with_bleeding",
        "with_transfusion",
        "cycle2_delay_days",
    ):
        if name in changes:
            updates[name] = changes[name] if name != "verbatim" else (changes[name] or "")
    data = replace(current, **updates)
    if data.is_serious and data.awareness_at is None:
        data = replace(data, awareness_at=now)
    return _save_change(locked, data, reason=reason, acting_user=acting_user, today=today, now=now)


@transaction.atomic
def adverse_event_grade_change(
    *,
    adverse_event: AdverseEvent,
    grade: int,
    on_date: date,
    acting_user: User,
    reason: str,
    expected_version: int | None,
    today: date | None = None,
    now: datetime | None = None,
) -> AdverseEvent:
    """The event changed grade on ``on_date`` (a later date adds a change; the date of an
    existing change corrects it). The maximum grade follows."""
    today, now = _today(today), _now(now)
    reason = require_reason(reason)
    locked = _locked_event(adverse_event)
    _check_version(locked, expected_version, "adverse event")
    current = _data_of(locked)
    if current.onset_date is not None and on_date < current.onset_date:
        raise ValidationError(
            {"on_date": "A grade change cannot be before the onset: correct the onset instead."}
        )
    grades = [g for g in current.grades if g.on != on_date]
    grades.append(GradeChange(on_date, int(grade)))
    data = replace(current, grades=tuple(sorted(grades, key=lambda g: g.on)))
    return _save_change(locked, data, reason=reason, acting_user=acting_user, today=today, now=now)


@transaction.atomic
def adverse_event_attribute(
    *,
    adverse_event: AdverseEvent,
    agent: str,
    attribution: str,
    acting_user: User,
    reason: str,
    expected_version: int | None,
    action_taken: str = ActionTaken.NONE,
    today: date | None = None,
    now: datetime | None = None,
) -> AdverseEvent:
    """Set the relationship of the event to one agent and the action taken with that agent."""
    return adverse_event_update(
        adverse_event=adverse_event,
        acting_user=acting_user,
        reason=reason,
        expected_version=expected_version,
        today=today,
        now=now,
        attributions=[AttributionInput(agent, attribution, action_taken)],
    )


@transaction.atomic
def adverse_event_delete(
    *,
    adverse_event: AdverseEvent,
    acting_user: User,
    reason: str,
    expected_version: int | None,
    today: date | None = None,
    now: datetime | None = None,
) -> None:
    """Remove an event entered in error (the audit trail keeps every row, with the reason).

    Refused once an investigator adjudicated it as a potential DLT or an SAE report about it
    was submitted or reminded: those are regulated records, to correct, not to remove. A lab
    suggestion confirmed into this event goes back to the review list.
    """
    today, now = _today(today), _now(now)
    reason = require_reason(reason)
    locked = _locked_event(adverse_event)
    _check_version(locked, expected_version, "adverse event")
    window = DltWindow.objects.select_for_update().filter(patient=locked.patient).first()
    potential = PotentialDlt.objects.select_for_update().filter(adverse_event=locked).first()
    report = SaeReport.objects.select_for_update().filter(adverse_event=locked).first()
    if potential is not None and potential.adjudications.exists():
        raise ValidationError(
            {"non_field_errors": "An investigator adjudicated this event: correct it instead."}
        )
    if report is not None and (
        report.status != SaeStatus.OPEN or report.reminders.exists() or report.signature_id
    ):
        raise ValidationError(
            {"non_field_errors": "An SAE report of this event is under way: correct it instead."}
        )
    with audited(acting_user=acting_user, reason=reason):
        LabGradeSuggestion.objects.filter(adverse_event=locked).update(
            status=SuggestionStatus.PENDING,
            adverse_event=None,
            decided_by=None,
            decided_at=None,
            decision_reason="",
        )
        if report is not None:
            report.delete()
        if potential is not None:
            potential.delete()
        locked.delete()
        changed = window is not None and _refresh_window(
            window, locked.patient, today=today, now=now
        )
    if changed:
        _enqueue_escalation(locked.patient.trial_id)
