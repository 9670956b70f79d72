"""The published figures of trial A, and the synthetic design of trial B, beside what the product
computes from the demo data.

Every "computed" value is read through the apps' selectors and services (the escalation
decisions, DLT states and listing, AE tables, IMWG response summary, Simon monitor, survival
analysis), never from the loader's scripts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from dosing import selectors as dosing_selectors
from dosing.models import DecisionStatus, SlotKind
from response import selectors as response_selectors
from response.domain.simon import SimonPatient, monitor_simon
from response.models import PatientResponse
from response.services.simon import simon_outcome
from safety import selectors as safety_selectors
from survival.services import survival_analysis
from trials import selectors as trial_selectors
from trials.demo_data import cfz
from trials.domain.dosing import mg
from trials.models import DoseAdministration, Patient, Trial

#: Grade ≥ 2 terms the paper names as the most common, and the ones it calls infections.
COMMON_GRADE_2 = ("anaemia", "neutropenia", "thrombocytopenia", "infections")
INFECTION_TERMS = ("Lung infection", "Upper respiratory infection")
FOLLOW_UP_TOLERANCE_MONTHS = 0.05


@dataclass(frozen=True)
class Check:
    figure: str
    paper: str
    computed: str
    ok: bool


def _signed_steps(trial: Trial) -> list[str]:
    steps = []
    for d in dosing_selectors.decisions_for_trial(trial).order_by("number"):
        if d.status not in (DecisionStatus.SIGNED, DecisionStatus.OVERRIDDEN):
            continue
        level = (d.applied or {}).get("level")
        signed = "signed" if d.status == DecisionStatus.SIGNED else "overridden"
        steps.append(f"{d.action} DL{level} ({signed})")
    return steps


def _phase_one_counts(trial: Trial) -> dict[int, tuple[int, int, int]]:
    """Per level: (patients, DLT-evaluable, with a DLT) among the phase I patients."""
    data = dosing_selectors.escalation_input(trial)
    out: dict[int, list[int]] = {}
    for p in data.patients:
        row = out.setdefault(p.level_number, [0, 0, 0])
        row[0] += 1
        if p.status in ("DLT", "NO_DLT"):
            row[1] += 1
        if p.status == "DLT":
            row[2] += 1
    return {k: tuple(v) for k, v in out.items()}


def _ae_spectrum(trial: Trial) -> tuple[list[str], int]:
    """Patients with each grade ≥ 2 event group (infections pooled), most common first; and
    patients with peripheral neuropathy of any grade."""
    overall, _ = safety_selectors.ae_tables(trial)
    groups: Counter[str] = Counter()
    neuropathy = 0
    for row in overall.rows:
        at_2_plus = sum(row.by_grade[g] for g in range(2, 6))
        name = {
            "Anemia": "anaemia",
            "Neutrophil count decreased": "neutropenia",
            "Platelet count decreased": "thrombocytopenia",
        }.get(row.term, "infections" if row.term in INFECTION_TERMS else row.term.lower())
        groups[name] += at_2_plus
        if "neuropathy" in row.term.lower():
            neuropathy += row.all_grades
    return [name for name, _ in groups.most_common()], neuropathy


def _rp2d_simon(trial: Trial, rp2d: int | None):
    """The Simon design applied to the 25 patients at the RP2D (phase I at that level
    included, as the paper counts them), in enrolment order, with the monitor's own rule for
    each patient's outcome."""
    population = response_selectors.simon_population(trial).patients
    phase_one = list(
        Patient.objects.filter(trial=trial, dose_level__number=rp2d)
        .exclude(pk__in=[q.pk for q in population])
        .order_by("enrolment_date", "pk")
    )
    patients = [*phase_one, *population]
    responses = {r.patient_id: r for r in PatientResponse.objects.filter(patient__in=patients)}
    states = []
    for order, p in enumerate(patients, start=1):
        evaluable, responder = simon_outcome(
            responses.get(p.pk),
            off_treatment=p.status in response_selectors.OFF_TREATMENT_STATUSES,
        )
        states.append(SimonPatient(p.label, order, evaluable, responder))
    design = trial_selectors.trial_design(trial).simon
    return monitor_simon(design, states), len(patients)


def trial_a_checks(*, data_cut: date) -> list[Check]:
    trial = Trial.objects.get(code="IPD")
    checks: list[Check] = []

    def add(figure: str, paper: str, computed, ok: bool) -> None:
        checks.append(Check(figure, paper, str(computed), ok))

    enrolled = Patient.objects.filter(trial=trial, enrolment_date__isnull=False).count()
    add("Patients enrolled", "32", enrolled, enrolled == 32)
    summary = response_selectors.response_summary(trial)
    evaluable = summary.overall.n
    add("Evaluable for response", "31", evaluable, evaluable == 31)
    add("Not evaluable (replaced)", "1", summary.not_evaluable, summary.not_evaluable == 1)

    counts = _phase_one_counts(trial)
    dl1, dl2 = counts.get(1, (0, 0, 0)), counts.get(2, (0, 0, 0))
    add("DL1: DLTs / evaluable", "1/6", f"{dl1[2]}/{dl1[1]}", (dl1[2], dl1[1]) == (1, 6))
    add("DL1: patients treated (one replaced)", "7", dl1[0], dl1[0] == 7)
    add("DL2: DLTs / evaluable", "1/6", f"{dl2[2]}/{dl2[1]}", (dl2[2], dl2[1]) == (1, 6))

    steps = _signed_steps(trial)
    expected = [
        "EXPAND DL1 (signed)",
        "ESCALATE DL2 (signed)",
        "EXPAND DL2 (signed)",
        "STOP_MTD DL2 (signed)",
        "DECLARE_RP2D DL2 (signed)",
    ]
    add(
        "Escalation path (engine recommendations, signed)",
        "DL1 1/3 → expand → 1/6 → escalate; DL2 1/3 → expand → 1/6 → RP2D DL2",
        " → ".join(steps),
        steps == expected,
    )
    esc = dosing_selectors.escalation_of(trial)
    rp2d = esc.rp2d_level_number if esc else None
    add("Recommended phase II dose", "DL2", f"DL{rp2d}", rp2d == 2)
    phase_ii = dosing_selectors.slots_for_trial(trial).filter(kind=SlotKind.PHASE_II).count()
    add("Phase II patients at the RP2D", "19", phase_ii, phase_ii == 19)

    at_rp2d = next((r for r in summary.by_dose_level if r.label == f"DL{rp2d}"), None)
    n = at_rp2d.n if at_rp2d else 0
    add("Patients treated at the RP2D", "25", n, n == 25)
    if at_rp2d is not None:
        orr, vgpr, sd = at_rp2d.orr, at_rp2d.vgpr_or_better, at_rp2d.sd_or_better
        add(
            "≥ PR at the RP2D (IMWG, computed)",
            "12 (48%)",
            f"{orr.x} ({orr.rate:.0%})",
            orr.x == 12,
        )
        add("VGPR at the RP2D", "5 (20%)", f"{vgpr.x} ({vgpr.rate:.0%})", vgpr.x == 5)
        add("≥ SD at the RP2D", "19 (76%)", f"{sd.x} ({sd.rate:.0%})", sd.x == 19)

    analysis = survival_analysis(trial, data_cut=data_cut)
    months = analysis.follow_up.months
    add(
        "Median follow-up (reverse Kaplan–Meier, OS)",
        "11.9 months",
        f"{months:.2f} months",
        months is not None and abs(months - 11.9) <= FOLLOW_UP_TOLERANCE_MONTHS,
    )

    listing = {row.dose_level.number: row for row in safety_selectors.dlt_listing(trial)}
    paper_dlts = {
        1: "grade 3 fatigue, grade 3 lung infection, grade 4 neutropenia, grade 4 thrombocytopenia",
        2: "grade 4 febrile neutropenia, grade 4 neutropenia, grade 4 thrombocytopenia",
    }
    for level, text in paper_dlts.items():
        row = listing.get(level)
        entries = [p.text for p in row.patients] if row else []
        computed = "; ".join(entries) or "none"
        ok = len(entries) == 1 and set(entries[0].split(", ")) == set(text.split(", "))
        add(f"DLT listing, DL{level}", text, computed, ok)

    ranking, neuropathy = _ae_spectrum(trial)
    top = ranking[:4]
    add(
        "Most common grade ≥ 2 AEs",
        ", ".join(COMMON_GRADE_2),
        ", ".join(top),
        set(top) == set(COMMON_GRADE_2),
    )
    treated = safety_selectors.ae_tables(trial)[0].n_patients
    add(
        "Peripheral neuropathy (patients, any grade)",
        "infrequent",
        f"{neuropathy} of {treated}",
        0 < neuropathy <= treated * 0.15,
    )

    state, size = _rp2d_simon(trial, rp2d)
    verdict = state.final_verdict.value if state.final_verdict else "pending"
    add(
        "Simon two-stage (ASSUMED p0 0.20, p1 0.45, α 0.10, β 0.10 → 3/14, 7/25) at the RP2D",
        "12 > 7 of 25: promising",
        f"{state.total_responders_in_design} of {size}: {verdict.lower()}",
        state.final_verdict is not None
        and state.final_verdict.value == "PROMISING"
        and state.total_responders_in_design == 12,
    )
    monitor = response_selectors.simon_monitor(trial)
    stage1 = monitor.stage1_responders if monitor is not None else 0
    rule = monitor.get_rule_display() if monitor is not None else "not run"
    add(
        "Live Simon monitor (the product's population: the patients at the RP2D), stage 1",
        "continue (> 3 of 14)",
        f"{stage1} of 14 responded: {rule}",
        monitor is not None and monitor.stage1_decidable and stage1 > 3,
    )
    return checks


def format_table(checks: list[Check], *, reference: str = "paper") -> str:
    lines = [f"| figure | {reference} | TrialDesk (computed) | match |", "|---|---|---|---|"]
    for c in checks:
        lines.append(f"| {c.figure} | {c.paper} | {c.computed} | {'yes' if c.ok else 'NO'} |")
    return "\n".join(lines)


def trial_b_checks() -> list[Check]:
    """Trial B (CFZ) has no published results: its figures are compared with what the
    synthetic design (``trials.demo_data.cfz``) intends the product to compute."""
    trial = Trial.objects.get(code="CFZ")
    scripts = cfz.cfz_scripts()
    checks: list[Check] = []

    def add(figure: str, intended: str, computed, ok: bool) -> None:
        checks.append(Check(figure, intended, str(computed), ok))

    screened = Patient.objects.filter(trial=trial).count()
    enrolled = list(
        Patient.objects.filter(trial=trial, enrolment_date__isnull=False)
        .select_related("dose_level")
        .order_by("study_id")
    )
    add(
        "Patients screened / enrolled",
        f"{len(scripts) + 1} / {len(scripts)}",
        f"{screened} / {len(enrolled)}",
        (screened, len(enrolled)) == (len(scripts) + 1, len(scripts)),
    )

    levels = Counter(p.dose_level.display_label for p in enrolled if p.dose_level)
    decisions = dosing_selectors.decisions_for_trial(trial).count()
    intended_level = f"{cfz.LEVEL_DOSE_MG_PER_M2} mg/m²"
    add(
        "Dose path (single level, no escalation rule in the design)",
        f"{intended_level} for all {len(scripts)}; no escalation decisions",
        "; ".join(f"{label} for {n}" for label, n in levels.items())
        + f"; {decisions} escalation decisions",
        dict(levels) == {intended_level: len(scripts)} and decisions == 0,
    )

    doses = list(DoseAdministration.objects.filter(visit__patient__trial=trial))
    exact = all(
        d.dose_mg == d.allowed_mg
        and d.level_unit == "mg/m2"
        and d.level_dose == cfz.LEVEL_DOSE_MG_PER_M2
        for d in doses
    )
    low = min((d.allowed_mg for d in doses), default=None)
    high = max((d.allowed_mg for d in doses), default=None)
    add(
        "Infusions: 27 mg/m² × BSA (Mosteller), each given at the computed dose",
        "every infusion at 27 mg/m² × BSA",
        f"{len(doses)} infusions, {mg(low)}–{mg(high)} mg, all at the computed dose"
        if exact
        else f"{len(doses)} infusions, not all at the computed dose",
        bool(doses) and exact,
    )
    capped = (Decimal(cfz.LEVEL_DOSE_MG_PER_M2) * Decimal(cfz.BSA_CAP_M2)).quantize(Decimal("0.1"))
    add(
        f"BSA cap {cfz.BSA_CAP_M2} m² (one patient with BSA 2.50 m²)",
        f"largest dose {capped} mg",
        f"largest dose {mg(high) if high is not None else 'none'} mg",
        high == capped,
    )

    summary = response_selectors.response_summary(trial)
    add(
        "Response criteria (per trial)",
        "RECIST1.0",
        summary.criteria,
        summary.criteria == "RECIST1.0",
    )
    intended = Counter(s.intended_bor for s in scripts)
    computed = Counter(summary.overall.bor_counts)
    order = ("CR", "PR", "SD", "PD", "NE")
    add(
        "Best overall response (RECIST 1.0, computed)",
        ", ".join(f"{k} {intended[k]}" for k in order if intended[k]),
        ", ".join(f"{k} {computed[k]}" for k in order if computed[k]),
        computed == intended,
    )
    n = summary.overall.n
    orr, sd = summary.overall.orr, summary.overall.sd_or_better
    want_orr = intended["CR"] + intended["PR"]
    want_sd = want_orr + intended["SD"]
    add(
        "ORR (CR + PR) / ≥ SD",
        f"{want_orr}/{len(scripts)} / {want_sd}/{len(scripts)}",
        f"{orr.x}/{n} ({orr.rate:.0%}) / {sd.x}/{n} ({sd.rate:.0%})" if n else "none evaluable",
        (orr.x, sd.x, n) == (want_orr, want_sd, len(scripts)),
    )

    rows = {r.study_id: r for r in response_selectors.response_summary_for_trial(trial)}
    by_patient = [
        (f"CFZ-01-{i:03d}", s) for i, s in enumerate(scripts, start=1)
    ]  # study IDs in enrolment order
    matching = sum(
        1
        for sid, s in by_patient
        if sid in rows and rows[sid].best_overall_response == s.intended_bor
    )
    add(
        "Best overall response per patient",
        f"{len(scripts)} of {len(scripts)} as designed",
        f"{matching} of {len(scripts)} as designed",
        matching == len(scripts),
    )
    unconfirmed = next(sid for sid, s in by_patient if s.key == "C05")
    row = rows.get(unconfirmed)
    had_pr = row is not None and any(
        tp.timepoint == "PR"
        for tp in response_selectors.timepoints(Patient.objects.get(study_id=unconfirmed))
    )
    add(
        f"PR not confirmed ≥ 28 days later counts as SD ({unconfirmed})",
        "timepoint PR, best overall response SD",
        f"timepoint PR: {'yes' if had_pr else 'no'}, best overall response "
        f"{row.best_overall_response if row else 'none'}",
        had_pr and row is not None and row.best_overall_response == "SD",
    )
    small = next(sid for sid, s in by_patient if s.key == "C01")
    row = rows.get(small)
    add(
        f"RECIST 1.0 progression at +20 % from the nadir with +4 mm ({small}; not PD under 1.1)",
        "SD, then PD (20 → 24 mm)",
        f"{row.best_overall_response}, progression {row.progression_date}" if row else "none",
        row is not None and row.best_overall_response == "SD" and row.progression_date is not None,
    )

    listing = safety_selectors.dlt_listing(trial)
    dlt_text = "; ".join(f"{r.fraction} ({', '.join(p.text for p in r.patients)})" for r in listing)
    add(
        "DLT windows (21 days): with a DLT / evaluable",
        f"1/{len(scripts)} (grade 3 hypertension)",
        dlt_text or "none",
        len(listing) == 1
        and (listing[0].with_dlt, listing[0].evaluable) == (1, len(scripts))
        and [p.text for p in listing[0].patients] == ["grade 3 hypertension"],
    )
    return checks
