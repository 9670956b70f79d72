"""Play the demo patients' scripts through the services the pages and the API use.

Every write below is a service call with the acting user a person would be (the site's
coordinator for clinical data, the investigator for adjudications and signatures); nothing
writes a result. The engines compute the escalation decisions, DLT windows, IMWG and RECIST
responses, Simon monitor and follow-up from what is recorded.

The loader runs without a Celery worker, so it runs each evaluation itself, synchronously
(``escalation_evaluate``, ``dlt_window_evaluate``, ``response_evaluate_patient``,
``simon_monitor_update``), and does not queue the thousands of after-commit messages the same
writes would queue from the pages (``quiet_enqueue``): they would only repeat, idempotently, the
evaluations run here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import random
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TypeVar

from django.db import connections
from django.utils import timezone

from config import enqueue
from dosing import selectors as dosing_selectors
from dosing import services as dosing_services
from dosing.models import DecisionStatus
from response.services.evaluation import response_evaluate_patient
from response.services.recist import LesionInput, recist_assessment_record, recist_lesion_add
from response.services.simon import simon_monitor_update
from safety.models import PotentialDlt, PotentialDltStatus
from safety.services.adverse_events import AttributionInput, adverse_event_create
from safety.services.dlt import dlt_window_evaluate, potential_dlt_adjudicate
from trials import services
from trials.demo_data import cfz
from trials.demo_data.cfz import CfzScript
from trials.demo_data.ipd import PROGRESSION_TAIL, RESPONSE_PATTERNS, PatientScript
from trials.domain import dosing as dosing_rules
from trials.domain.schedule import VisitKind, VisitState
from trials.models import Patient, Site, Trial, User, Visit
from trials.selectors import eligibility_criteria, trial_agents, trial_design

T = TypeVar("T")
R = TypeVar("R")
CONSENT_VERSION = "ICF v1.0"
SIGNATURE_MEANING = "I have reviewed the DLT data and approve this recommendation."
DLT_MEANING = "I have reviewed this adverse event against the protocol's DLT definition."
GIVEN_NAMES = ["Alan", "Beth", "Carl", "Dora", "Emil", "Fay", "Gus", "Hana", "Ivan", "Jude"]
FAMILY_NAMES = ["Archer", "Baker", "Carter", "Dyer", "Fisher", "Glover", "Hunter", "Mason"]

Progress = Callable[[str], None]

#: Patients whose histories are independent (after enrolment) are played by this many
#: threads, as several coordinators would enter them at once; each thread has its own
#: database connection, and the loader's time is mostly spent waiting for the database.
WORKERS = 4


def in_parallel(work: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[work(item) for item in items]`` on ``WORKERS`` threads (results in order)."""

    def run(item: T) -> R:
        try:
            return work(item)
        finally:
            connections.close_all()  # this thread's connection

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(run, items))


@contextlib.contextmanager
def quiet_enqueue() -> Iterator[list[str]]:
    """Record, instead of sending, the tasks the services enqueue after commit."""
    sent: list[str] = []
    original = enqueue.send_quietly

    def record(task, *args, **kwargs) -> bool:
        sent.append(getattr(task, "name", str(task)))
        return True

    enqueue.send_quietly = record
    try:
        yield sent
    finally:
        enqueue.send_quietly = original


@dataclass
class DemoContext:
    trial: Trial
    day0: date
    coordinators: dict[str, User]  # site code → coordinator
    investigator: User
    rng: random.Random
    seed: int = 0

    def on(self, day: int) -> date:
        return self.day0 + timedelta(days=day)

    @functools.cached_property
    def agent_codes(self) -> list[str]:
        return [a.code for a in trial_agents(self.trial)]

    @functools.cached_property
    def bsa_cap_m2(self) -> Decimal | None:
        cap = trial_design(self.trial).bsa_cap_m2
        return Decimal(str(cap)) if cap is not None else None

    def for_patient(self, key: str) -> DemoContext:
        """The same context with the patient's own random stream, so that patients played in
        parallel draw the same values whatever the order the threads run in."""
        return dataclasses.replace(self, rng=random.Random(f"{self.seed}-{key}"))  # noqa: S311


def _visit(patient: Patient, *, kind: str, cycle: int | None = None, day: int | None = None):
    qs = Visit.objects.filter(patient=patient, kind=kind)
    if cycle is not None:
        qs = qs.filter(cycle=cycle, day=day)
    return qs.filter(status=VisitState.PLANNED).order_by("planned_date").first()


def _level_doses(patient: Patient) -> list:
    """The patient's dose level's doses, read once per patient (the level does not change)."""
    cached = patient.__dict__.get("_demo_level_doses")
    if cached is None:
        cached = list(patient.dose_level.doses.select_related("agent").all())
        patient.__dict__["_demo_level_doses"] = cached
    return cached


def _doses(patient: Patient, day: int, bsa: Decimal | None = None) -> list[services.DoseInput]:
    """The doses the patient's level gives on ``day`` of a cycle (the agents' dose days)."""
    out = []
    for dose in _level_doses(patient):
        days = dose.agent.dose_days or [1, 2, 8, 9, 15, 16]
        if day not in days:
            continue
        amount = dose.dose
        if dose.unit == "mg/m2":
            amount = (dose.dose * bsa).quantize(Decimal("0.1"), rounding="ROUND_DOWN")
        out.append(services.DoseInput(agent=dose.agent.code, status="given", dose_mg=amount))
    return out


def record_visit(
    patient: Patient,
    visit: Visit,
    on: date,
    user: User,
    *,
    doses=(),
    labs=(),
    weight: Decimal | None = None,
) -> Visit:
    return services.visit_complete(
        visit=visit,
        visit_date=on,
        acting_user=user,
        expected_version=visit.version,
        doses=list(doses),
        labs=list(labs),
        weight_kg=weight,
        today=on,
    )


def screen_and_enrol(
    ctx: DemoContext,
    *,
    site_code: str,
    start: date,
    n: int,
    height: Decimal,
    weight: Decimal,
    eligible: bool = True,
) -> Patient:
    user = ctx.coordinators[site_code]
    site = Site.objects.get(code=site_code)
    rng = ctx.rng
    patient = services.patient_screen(
        trial=ctx.trial,
        site=site,
        acting_user=user,
        given_name=GIVEN_NAMES[n % len(GIVEN_NAMES)],
        family_name=FAMILY_NAMES[(n * 3) % len(FAMILY_NAMES)],
        date_of_birth=date(
            start.year - rng.randint(48, 79), rng.randint(1, 12), rng.randint(1, 28)
        ),
        sex=rng.choice(["M", "F"]),
        height_cm=height,
        weight_kg=weight,
    )
    consent_on = start - timedelta(days=14)
    services.consent_record(
        patient=patient,
        version=CONSENT_VERSION,
        consent_date=consent_on,
        acting_user=user,
        today=consent_on,
    )
    answers = {c.code: c.kind == "inclusion" for c in eligibility_criteria(ctx.trial)}
    if not eligible:
        answers["EX2"] = True  # peripheral neuropathy grade 2: a screen failure
    services.eligibility_record(
        patient=patient, answers=answers, acting_user=user, assessed_on=consent_on
    )
    if not eligible:
        return patient
    screening = _visit(patient, kind=VisitKind.SCREENING)
    if screening is not None:
        record_visit(patient, screening, consent_on + timedelta(days=2), user)
    return services.patient_enrol(
        patient=patient,
        acting_user=user,
        enrolment_date=start - timedelta(days=3),
        planned_start_date=start,
        today=start - timedelta(days=3),
    )


# --- Trial A (IMWG) ----------------------------------------------------------------------------


def _serum_series(script: PatientScript, baseline: float, cycles_available: int) -> list[float]:
    pattern = list(RESPONSE_PATTERNS.get(script.response, []))
    if script.progresses:
        pattern += PROGRESSION_TAIL[script.response]
    elif script.response in ("VGPR", "PR"):
        # Still responding at the data cut: the last value holds until then.
        pattern += [pattern[-1]] * max(0, cycles_available - len(pattern))
    pattern = pattern[:cycles_available]
    return [round(baseline * f, 2) for f in pattern]


def run_ipd_cycle_1(ctx: DemoContext, script: PatientScript, n: int) -> Patient:
    """Screen, consent, enrol and treat cycle 1 (the DLT window)."""
    patient = enrol_ipd_patient(ctx, script, n)
    treat_ipd_cycle_1(ctx, patient, script)
    return patient


def enrol_ipd_patient(ctx: DemoContext, script: PatientScript, n: int) -> Patient:
    """Screen, consent and enrol (in enrolment order: it gives the slot and the study ID); the
    values cycle 1 day 1 will record are drawn here too, so the random stream is the same
    whether cycle 1 is played now or later, beside other patients'."""
    rng = ctx.rng
    patient = screen_and_enrol(
        ctx,
        site_code=script.site,
        start=ctx.on(script.start_day),
        n=n,
        height=Decimal(rng.randint(155, 188)),
        weight=Decimal(rng.randint(55, 98)),
    )
    patient.refresh_from_db()
    baseline = round(rng.uniform(1.8, 4.2), 2)
    patient.__dict__["_demo_c1d1_labs"] = [
        services.LabInput("SPEP_M", f"{baseline}", "g/dL"),
        services.LabInput("UPEP_M", "40", "mg/24h"),
        services.LabInput("HGB", f"{rng.randint(92, 128)}", "g/L"),
        services.LabInput("ANC", f"{rng.uniform(1.6, 4.0):.1f}", "10^9/L"),
        services.LabInput("PLT", f"{rng.randint(90, 260)}", "10^9/L"),
    ]
    return patient


def treat_ipd_cycle_1(ctx: DemoContext, patient: Patient, script: PatientScript) -> None:
    """Cycle 1's visits with their doses (baseline labs at day 1); a withdrawal after the
    first dose."""
    start = ctx.on(script.start_day)
    user = ctx.coordinators[script.site]
    days = [1] if script.withdraw_day is not None else [1, 8, 15, 22]
    for day in days:
        visit = _visit(patient, kind=VisitKind.TREATMENT, cycle=1, day=day)
        record_visit(
            patient,
            visit,
            start + timedelta(days=day - 1),
            user,
            doses=_doses(patient, day),
            labs=patient.__dict__["_demo_c1d1_labs"] if day == 1 else [],
        )
    if script.withdraw_day is not None:
        services.patient_transition(
            patient=patient,
            to_status="off_treatment",
            effective_date=start + timedelta(days=script.withdraw_day),
            reason_code="patient_decision",
            reason="Withdrew from treatment after the first dose (personal reasons).",
            acting_user=user,
        )


def ipd_adverse_events(ctx: DemoContext, patient: Patient, script: PatientScript, *, dlt_only):
    """Record the script's events (the DLT-window ones, or the later ones), then adjudicate
    every potential DLT the product flags: confirmed when the script says so."""
    start = ctx.on(script.start_day)
    user = ctx.coordinators[script.site]
    last = start + timedelta(days=script.follow_up_days)
    for ae in script.aes:
        if ae.dlt != dlt_only:
            continue
        onset = start + timedelta(days=ae.onset_day)
        resolved = onset + timedelta(days=ae.days)
        if resolved > last:
            continue
        agents = ctx.agent_codes
        adverse_event_create(
            patient=patient,
            onset_date=onset,
            grade=ae.grade,
            term=ae.term,
            resolution_date=resolved,
            outcome="recovered",
            with_fever=ae.term == "Febrile neutropenia",
            attributions=[AttributionInput(code, ae.attribution) for code in agents],
            acting_user=user,
            today=resolved,
            now=timezone.make_aware(datetime.combine(resolved, time(12))),
        )
    adjudicate_pending(ctx, patient, confirm=dlt_only)


def adjudicate_pending(ctx: DemoContext, patient: Patient, *, confirm: bool) -> None:
    for potential in PotentialDlt.objects.filter(
        adverse_event__patient=patient, status=PotentialDltStatus.PENDING
    ).select_related("adverse_event"):
        on = potential.adverse_event.resolution_date or potential.adverse_event.onset_date
        potential_dlt_adjudicate(
            potential_dlt=potential,
            decision="confirmed" if confirm else "rejected",
            reason=(
                "Meets the protocol's DLT definition; related to study treatment."
                if confirm
                else "Outside what the protocol counts as a DLT for this patient."
            ),
            signer=ctx.investigator,
            meaning=DLT_MEANING,
            acting_user=ctx.investigator,
            expected_version=potential.version,
            today=on,
            now=timezone.make_aware(datetime.combine(on, time(15))),
        )


def close_windows_and_decide(
    ctx: DemoContext, patients: list[Patient], on: date, progress: Progress
) -> list[str]:
    """The cohort's DLT windows are over: re-evaluate them on ``on``, run the escalation engine
    and sign what it recommends (the RP2D too, once an MTD is signed)."""
    for patient in patients:
        dlt_window_evaluate(patient=patient, acting_user=ctx.investigator, today=on)
    steps = []
    decision = dosing_services.escalation_evaluate(
        trial_id=ctx.trial.pk, acting_user=ctx.investigator
    )
    for _ in range(3):
        pending = list(dosing_selectors.awaiting_signature(ctx.trial))
        if not pending:
            break
        for decision in pending:
            dosing_services.escalation_decision_sign(
                decision=decision,
                signer=ctx.investigator,
                meaning=SIGNATURE_MEANING,
                acting_user=ctx.investigator,
            )
            decision.refresh_from_db()
            steps.append(
                f"#{decision.number} {decision.action} (level {decision.recommended_level_number or decision.next_level_number})"
            )
            progress(f"  {ctx.trial.code}: decision #{decision.number} {decision.action} signed")
    if decision is not None and decision.status == DecisionStatus.RECORDED:
        steps.append(f"#{decision.number} {decision.action} (recorded)")
    return steps


def run_ipd_treatment(ctx: DemoContext, patient: Patient, script: PatientScript, cut: date):
    """Cycles 2 onwards, with the IMWG response labs at each day 1; then off treatment,
    follow-up visits and the last contact."""
    if script.withdraw_day is not None:
        _follow_up(ctx, patient, script, ctx.on(script.start_day + script.withdraw_day), cut)
        return
    patient.refresh_from_db()
    start = ctx.on(script.start_day)
    user = ctx.coordinators[script.site]
    end = start + timedelta(days=script.follow_up_days)
    cycles_available = max(0, (script.follow_up_days - 1) // 28)
    baseline = float(patient.lab_results.get(analyte="SPEP_M", visit__cycle=1, visit__day=1).value)
    series = _serum_series(script, baseline, cycles_available)
    ongoing = script.response in ("VGPR", "PR") and not script.progresses
    off_on = None
    off_reason = ""
    for i, serum in enumerate(series):
        cycle = i + 2
        d1 = start + timedelta(days=28 * (cycle - 1))
        visit = _visit(patient, kind=VisitKind.TREATMENT, cycle=cycle, day=1)
        last_value = i == len(series) - 1
        record_visit(
            patient,
            visit,
            d1,
            user,
            doses=_doses(patient, 1),
            labs=[
                services.LabInput("SPEP_M", f"{serum}", "g/dL"),
                services.LabInput("UPEP_M", f"{ctx.rng.randint(20, 60)}", "mg/24h"),
            ],
        )
        if last_value and not ongoing:
            off_on = d1
            off_reason = (
                "progression"
                if script.progresses or script.response == "PD"
                else "investigator_decision"
            )
            break
        d15 = d1 + timedelta(days=14)
        visit = _visit(patient, kind=VisitKind.TREATMENT, cycle=cycle, day=15)
        if visit is not None and d15 <= end:
            record_visit(patient, visit, d15, user, doses=_doses(patient, 15))
    ipd_adverse_events(ctx, patient, script, dlt_only=False)
    _end_treatment_phase(
        ctx,
        patient,
        script,
        user=user,
        end=end,
        cut=cut,
        off_on=off_on,
        reason_code=off_reason,
        reason="Confirmed progression (IMWG)."
        if off_reason == "progression"
        else "Stable disease without response after the planned assessments; next line of therapy.",
    )


def _end_treatment_phase(
    ctx: DemoContext,
    patient: Patient,
    script: PatientScript | CfzScript,
    *,
    user: User,
    end: date,
    cut: date,
    off_on: date | None,
    reason_code: str,
    reason: str,
) -> None:
    """Still on treatment at the cut: a last contact. Otherwise: off treatment, then follow-up."""
    if off_on is None:
        services.last_contact_record(
            patient=patient,
            contact_date=max(end, _last_visit_date(patient)),
            vital_status="alive",
            acting_user=user,
            source="clinic visit",
            today=cut,
        )
        return
    services.patient_transition(
        patient=patient,
        to_status="off_treatment",
        effective_date=off_on,
        reason_code=reason_code,
        reason=reason,
        acting_user=user,
    )
    _follow_up(ctx, patient, script, off_on, cut)


def _last_visit_date(patient: Patient) -> date:
    return (
        Visit.objects.filter(patient=patient, status=VisitState.DONE)
        .order_by("-visit_date")
        .values_list("visit_date", flat=True)
        .first()
    )


def _follow_up(ctx: DemoContext, patient: Patient, script: PatientScript, off_on: date, cut):
    user = ctx.coordinators[script.site]
    start = ctx.on(script.start_day)
    end = start + timedelta(days=script.follow_up_days)
    eot = _visit(patient, kind=VisitKind.END_OF_TREATMENT)
    if eot is not None:
        record_visit(patient, eot, min(off_on + timedelta(days=14), end), user)
    services.patient_transition(
        patient=patient,
        to_status="follow_up",
        effective_date=min(off_on + timedelta(days=14), end),
        reason="Follow-up for progression and survival.",
        acting_user=user,
    )
    while True:
        visit = _visit(patient, kind=VisitKind.FOLLOW_UP)
        if (
            visit is None
            or visit.planned_date > end
            or visit.planned_date <= _last_visit_date(patient)
        ):
            break
        record_visit(patient, visit, visit.planned_date, user)
    if script.dies:
        services.last_contact_record(
            patient=patient,
            contact_date=end + timedelta(days=2),
            vital_status="dead",
            death_date=end,
            cause_of_death="Progressive myeloma",
            acting_user=user,
            source="hospital record",
            today=cut,
        )
        services.patient_transition(
            patient=patient,
            to_status="off_study",
            effective_date=end,
            reason_code="death",
            reason="Died of progressive myeloma.",
            acting_user=user,
        )
    else:
        services.last_contact_record(
            patient=patient,
            contact_date=end,
            vital_status="alive",
            acting_user=user,
            source="telephone",
            today=cut,
        )


def evaluate_responses(trial: Trial) -> None:
    for patient_id in Patient.objects.filter(trial=trial, enrolment_date__isnull=False).values_list(
        "pk", flat=True
    ):
        response_evaluate_patient(patient_id=patient_id)
    simon_monitor_update(trial_id=trial.pk)


# --- Trial B (RECIST 1.0, mg/m²) -----------------------------------------------------------


def _next_treatment_visit(patient: Patient) -> Visit | None:
    return (
        Visit.objects.filter(patient=patient, kind=VisitKind.TREATMENT, status=VisitState.PLANNED)
        .order_by("planned_date", "cycle", "day")
        .first()
    )


def _cfz_series(script: CfzScript, start: date, end: date) -> list[tuple[date, dict, bool]]:
    """The imaging assessments: (date, diameter of each target in mm, new lesion). A patient
    still on treatment at the cut keeps the last measurements at every later assessment."""
    values = list(script.assessments)
    if not script.progresses:
        while start + timedelta(days=cfz.assessment_day(len(values))) <= end:
            values.append(values[-1])
    out = []
    for index, value in enumerate(values):
        on = start + timedelta(days=cfz.assessment_day(index))
        if on > end:
            break
        if isinstance(value, dict):
            mm = {code: Decimal(str(v)) for code, v in value.items()}
        else:
            mm = {
                lesion.code: (Decimal(str(lesion.baseline_mm)) * Decimal(str(value))).quantize(
                    Decimal("0.1")
                )
                for lesion in script.lesions
            }
        out.append((on, mm, script.new_lesion_at == index))
    return out


def _cfz_doses(
    ctx: DemoContext, patient: Patient, height: Decimal, weight: Decimal
) -> list[services.DoseInput]:
    """27 mg/m² × BSA (Mosteller), capped at the design's BSA limit: the dose a pharmacist
    would prepare, computed as the visit form does."""
    out = []
    for dose in _level_doses(patient):
        allowed = dosing_rules.absolute_dose(
            dose.dose,
            dose.unit,
            bsa_m2=dosing_rules.mosteller_bsa(height, weight),
            bsa_cap_m2=ctx.bsa_cap_m2,
        )
        out.append(services.DoseInput(agent=dose.agent.code, status="given", dose_mg=allowed))
    return out


def _cfz_aes_until(ctx: DemoContext, patient: Patient, script: CfzScript, pending, until: date):
    """Record the events resolved by ``until`` (as they would be entered, once resolved), and
    let the investigator adjudicate what the product flags as a potential DLT."""
    start = ctx.on(script.start_day)
    user = ctx.coordinators[script.site]
    agents = ctx.agent_codes
    while pending:
        ae = pending[0]
        onset = start + timedelta(days=ae.onset_day)
        resolved = onset + timedelta(days=ae.days)
        if resolved > until:
            return
        pending.pop(0)
        adverse_event_create(
            patient=patient,
            onset_date=onset,
            grade=ae.grade,
            term=ae.term,
            resolution_date=resolved,
            outcome="recovered",
            attributions=[AttributionInput(code, ae.attribution) for code in agents],
            acting_user=user,
            today=resolved,
            now=timezone.make_aware(datetime.combine(resolved, time(12))),
        )
        adjudicate_pending(ctx, patient, confirm=ae.dlt)


def enrol_cfz_patient(ctx: DemoContext, script: CfzScript, n: int) -> Patient:
    """Screen, consent, enrol (in enrolment order: it gives the study ID), and document the
    baseline target lesions."""
    start = ctx.on(script.start_day)
    user = ctx.coordinators[script.site]
    patient = screen_and_enrol(
        ctx,
        site_code=script.site,
        start=start,
        n=n,
        height=Decimal(script.height_cm),
        weight=Decimal(script.weight_kg),
    )
    baseline_on = start - timedelta(days=10)
    for lesion in script.lesions:
        recist_lesion_add(
            patient=patient,
            lesion=LesionInput(
                code=lesion.code,
                kind="target",
                organ=lesion.organ,
                baseline_date=baseline_on,
                baseline_diameter_mm=Decimal(str(lesion.baseline_mm)),
                method="CT",
                slice_thickness_mm=Decimal(5),
            ),
            acting_user=user,
        )
    return patient


def run_cfz_treatment(ctx: DemoContext, patient: Patient, script: CfzScript, cut: date) -> None:
    """Every infusion visit (weight at each day 1, the dose in mg from BSA); imaging every 8
    weeks; adverse events as they resolve; off treatment at progression, then follow-up and
    the last contact."""
    rng = ctx.rng
    start = ctx.on(script.start_day)
    end = start + timedelta(days=script.follow_up_days)
    user = ctx.coordinators[script.site]
    height = Decimal(script.height_cm)
    weight = Decimal(script.weight_kg)
    series = _cfz_series(script, start, end)
    off_on = series[-1][0] + timedelta(days=2) if script.progresses else None
    stop = off_on or end
    pending = sorted(script.aes, key=lambda ae: ae.onset_day + ae.days)
    assessed = 0
    while True:
        visit = _next_treatment_visit(patient)
        if visit is None or visit.planned_date > stop:
            break
        while assessed < len(series) and series[assessed][0] <= visit.planned_date:
            _cfz_assessment(patient, series[assessed], user)
            assessed += 1
        _cfz_aes_until(ctx, patient, script, pending, visit.planned_date)
        labs = []
        if visit.day == 1:
            weight = max(Decimal(45), weight + rng.choice([-1, 0, 0, 0, 1]))
            labs = [
                services.LabInput("HGB", f"{rng.randint(95, 135)}", "g/L"),
                services.LabInput("ANC", f"{rng.uniform(1.5, 4.2):.1f}", "10^9/L"),
                services.LabInput("PLT", f"{rng.randint(80, 240)}", "10^9/L"),
            ]
        services.visit_complete(
            visit=visit,
            visit_date=visit.planned_date,
            acting_user=user,
            expected_version=visit.version,
            doses=_cfz_doses(ctx, patient, height, weight),
            labs=labs,
            weight_kg=weight if visit.day == 1 else None,
            today=visit.planned_date,
        )
    for item in series[assessed:]:
        _cfz_assessment(patient, item, user)
    _cfz_aes_until(ctx, patient, script, pending, end)
    _end_treatment_phase(
        ctx,
        patient,
        script,
        user=user,
        end=end,
        cut=cut,
        off_on=off_on,
        reason_code="progression",
        reason="Progression on imaging (RECIST 1.0).",
    )


def _cfz_assessment(patient: Patient, item: tuple[date, dict, bool], user: User) -> None:
    on, measurements, new_lesion = item
    recist_assessment_record(
        patient=patient,
        assessment_date=on,
        measurements={code: str(mm) for code, mm in measurements.items()},
        new_lesions="YES" if new_lesion else "NO",
        acting_user=user,
    )
