"""The published figures of trial A beside what the product computes from the demo data.

Every "computed" value is read through the apps' selectors and services (the escalation
decisions, DLT states and listing, AE tables, IMWG response summary, Simon monitor, survival
analysis), never from the loader's scripts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

from dosing import selectors as dosing_selectors
from dosing.models import DecisionStatus, SlotKind
from response import selectors as response_selectors
from response.domain.simon import SimonPatient, monitor_simon
from response.models import PatientResponse
from response.services.simon import simon_outcome
from safety import selectors as safety_selectors
from survival.services import survival_analysis
from trials import selectors as trial_selectors
from trials.models import Patient, Trial

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


def format_table(checks: list[Check]) -> str:
    lines = ["| figure | paper | TrialDesk (computed) | match |", "|---|---|---|---|"]
    for c in checks:
        lines.append(f"| {c.figure} | {c.paper} | {c.computed} | {'yes' if c.ok else 'NO'} |")
    return "\n".join(lines)
