"""The configurations of trial A (IPD) and trial B (CFZ), as data, and the function that applies
one to the database through the services (idempotent: what exists is left as it is).

Sources: trial A's registration (ixazomib + pomalidomide + dexamethasone, phase I/II, 3+3 over
up to 4 ixazomib levels, 21-day DLT window, Simon optimal two-stage design, response every 28
days) and its publication (DL1 ixazomib 3 mg, DL2 4 mg, each with pomalidomide 4 mg and
dexamethasone 40 mg; DL2 the RP2D); trial B's registration (single-agent infusional
carfilzomib, best overall response by RECIST 1.0 on MRI/CT over 2 years).

Assumptions of the product, not stated by those sources, are marked ``ASSUMED`` and must be
checked against the real protocol: dose level −1, the visit days, windows and follow-up
interval, the minimum-exposure rule, the Simon parameters (p0 0.20, p1 0.45, α 0.10, β 0.10 →
3/14, 7/25), carfilzomib's dose and days, and the eligibility criteria wording (the usual
criteria of relapsed/refractory myeloma trials of that era).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone

from dosing import services as dosing_services
from dosing.models import DoseLevel
from trials import services
from trials.models import EligibilityCriterion, ProtocolVersion, Trial, TrialAgent, User

IMWG_RESPONSE_LABS = ("SPEP_M", "UPEP_M", "FLC_KAPPA", "FLC_LAMBDA", "SIFE", "UIFE")

TRIAL_A: dict[str, Any] = {
    "code": "IPD",
    "title": "Ixazomib + pomalidomide + dexamethasone in relapsed/refractory myeloma (phase I/II)",
    "phase": "I/II",
    "design": {
        "dlt_window_days": 21,
        "cycle_length_days": 28,
        "ctcae_version": "5.0",
        "sae_full_report_days": 5,
        "visit_schedule": {  # ASSUMED: weekly in cycle 1 (DLT window), twice a cycle after
            "cycle_1_visit_days": [1, 8, 15, 22],
            "visit_days": [1, 15],
            "window_days": 2,
            "day_1_window_days": 3,
            "response_assessment_day": 1,
            "response_first_cycle": 2,
            "response_every_cycles": 1,
            "end_of_treatment_within_days": 30,
            "follow_up_every_weeks": 12,
            "follow_up_window_days": 14,
            "follow_up_months": 60,
            "required_labs": ["ANC", "PLT", "HGB", "WBC", "LYMPH", "CREAT", "CA"],
            "response_labs": list(IMWG_RESPONSE_LABS),
        },
        "escalation": {
            "rule_set": "3+3",
            "allow_deescalate": False,
            "require_six_at_mtd": True,
            "has_level_minus_one": True,  # ASSUMED
            "early_determination": True,
            "minimum_exposure": {  # ASSUMED
                "min_fraction_of_planned_doses": 0.75,
                "doses_held_for_toxicity_count": False,
                "off_treatment_for_toxicity_is_evaluable": True,
            },
        },
        "simon": {
            "p0": 0.20,
            "p1": 0.45,
            "alpha": 0.10,
            "beta": 0.10,
            "r1": 3,
            "n1": 14,
            "r": 7,
            "n": 25,
            "assumed": True,
            "label": "Assumed design: the publication does not state the Simon parameters.",
        },
        "response": {
            "criteria": "IMWG2016",
            "nadir_policy": "lowest_confirmed",
            "mr_plasmacytoma_min_reduction_pct": None,
            "waive_urine_for_vgpr": False,
            "confirmation_required": True,
        },
    },
    "agents": [
        {
            "code": "IXA",
            "name": "Ixazomib",
            "unit": "mg",
            "route": "oral",
            "schedule": "days 1, 4, 8, 11 (twice weekly)",
            "dose_days": [1, 8],
        },
        {
            "code": "POM",
            "name": "Pomalidomide",
            "unit": "mg",
            "route": "oral",
            "schedule": "days 1–21",
            "dose_days": [1, 8, 15],
        },
        {
            "code": "DEX",
            "name": "Dexamethasone",
            "unit": "mg",
            "route": "oral",
            "schedule": "days 1, 8, 15, 22",
            "dose_days": [1, 8, 15, 22],
        },
    ],
    "dose_levels": [
        {
            "number": -1,
            "label": "DL−1",
            "notes": "ASSUMED fallback level: pomalidomide reduced to 3 mg.",
            "doses": {"IXA": "3", "POM": "3", "DEX": "40"},
        },
        {
            "number": 1,
            "label": "DL1",
            "is_starting": True,
            "doses": {"IXA": "3", "POM": "4", "DEX": "40"},
        },
        {"number": 2, "label": "DL2", "doses": {"IXA": "4", "POM": "4", "DEX": "40"}},
    ],
    "criteria": [
        ("inclusion", "IN1", "Multiple myeloma, relapsed and/or refractory after ≥ 1 prior line."),
        (
            "inclusion",
            "IN2",
            "Lenalidomide-refractory: progression on or within 60 days of lenalidomide.",
        ),
        (
            "inclusion",
            "IN3",
            "Measurable disease: serum M-protein ≥ 0.5 g/dL, or urine M-protein ≥ 200 mg/24 h, "
            "or involved free light chain ≥ 10 mg/dL with an abnormal κ/λ ratio.",
        ),
        ("inclusion", "IN4", "Age ≥ 18 years; ECOG performance status 0–2."),
        (
            "inclusion",
            "IN5",
            "Adequate counts: ANC ≥ 1.0 × 10⁹/L and platelets ≥ 75 × 10⁹/L "
            "(≥ 50 × 10⁹/L if marrow plasma cells ≥ 50%).",
        ),
        (
            "inclusion",
            "IN6",
            "Adequate organ function: creatinine clearance ≥ 30 mL/min, bilirubin ≤ 1.5 × ULN, "
            "AST/ALT ≤ 3 × ULN.",
        ),
        ("inclusion", "IN7", "Able to take thromboprophylaxis (aspirin or anticoagulant)."),
        ("exclusion", "EX1", "Prior pomalidomide or ixazomib."),
        ("exclusion", "EX2", "Peripheral neuropathy grade ≥ 2 (CTCAE v5.0)."),
        ("exclusion", "EX3", "Uncontrolled infection, or known active HIV, hepatitis B or C."),
        ("exclusion", "EX4", "Myeloma therapy or investigational agent within 14 days."),
        ("exclusion", "EX5", "Pregnant or breast-feeding."),
    ],
}

TRIAL_B: dict[str, Any] = {
    "code": "CFZ",
    "title": "Infusional carfilzomib in relapsed/refractory myeloma",
    "phase": "II",
    "design": {
        "dlt_window_days": 21,
        "cycle_length_days": 28,
        "ctcae_version": "5.0",
        "sae_full_report_days": 5,
        "bsa_cap_m2": 2.2,  # ASSUMED: the usual carfilzomib BSA cap
        "visit_schedule": {  # ASSUMED: carfilzomib on days 1, 2, 8, 9, 15, 16
            "cycle_1_visit_days": [1, 2, 8, 9, 15, 16],
            "visit_days": [1, 2, 8, 9, 15, 16],
            "window_days": 1,
            "day_1_window_days": 3,
            "response_assessment_day": 1,
            "response_first_cycle": 3,
            "response_every_cycles": 2,  # imaging every 8 weeks
            "end_of_treatment_within_days": 30,
            "follow_up_every_weeks": 12,
            "follow_up_window_days": 14,
            "follow_up_months": 24,
            "required_labs": ["ANC", "PLT", "HGB", "WBC", "CREAT", "CA"],
            "response_labs": [],
        },
        "escalation": None,
        "simon": None,
        "response": {
            "criteria": "RECIST1.0",
            "nadir_policy": "lowest_observed",
            "confirmation_required": True,
            "confirmation_min_days": 28,
            "pr_threshold_pct": 30.0,
            "pd_threshold_pct": 20.0,
            "pd_min_absolute_mm": None,
            "max_target_lesions": 10,
            "max_target_lesions_per_organ": 5,
        },
    },
    "agents": [
        {
            "code": "CFZ",
            "name": "Carfilzomib",
            "unit": "mg/m2",
            "route": "iv",
            "schedule": "days 1, 2, 8, 9, 15, 16 (infusion)",
            "dose_days": [],
        },
    ],
    "dose_levels": [
        {"number": 1, "label": "27 mg/m²", "is_starting": True, "doses": {"CFZ": "27"}},
    ],
    "criteria": [
        ("inclusion", "IN1", "Relapsed or refractory multiple myeloma after ≥ 1 prior therapy."),
        (
            "inclusion",
            "IN2",
            "At least one measurable target lesion by RECIST 1.0 on MRI or CT "
            "(≥ 20 mm, or ≥ 10 mm on spiral CT).",
        ),
        ("inclusion", "IN3", "ANC ≥ 1.0 × 10⁹/L; platelets ≥ 50 × 10⁹/L."),
        ("inclusion", "IN4", "Left-ventricular ejection fraction ≥ 40%."),
        ("exclusion", "EX1", "Prior carfilzomib."),
        ("exclusion", "EX2", "NYHA class III–IV heart failure, or uncontrolled hypertension."),
        ("exclusion", "EX3", "Pregnant or breast-feeding."),
    ],
}

REFERENCE_TRIALS = {"IPD": TRIAL_A, "CFZ": TRIAL_B}


@transaction.atomic
def configure_reference_trial(
    code: str, *, acting_user: User | None, effective_date: date | None = None
) -> Trial:
    """Create (or complete) trial ``code`` from its configuration: trial, protocol version 1,
    agents, dose levels and eligibility criteria. Safe to run again."""
    spec = REFERENCE_TRIALS[code]
    trial = Trial.objects.filter(code=code).first() or services.trial_create(
        code=code, title=spec["title"], phase=spec["phase"], acting_user=acting_user
    )
    if not ProtocolVersion.objects.filter(trial=trial).exists():
        services.protocol_version_create(
            trial=trial,
            design=spec["design"],
            effective_date=effective_date or timezone.localdate(),
            reason="initial protocol",
            label="Protocol v1",
            acting_user=acting_user,
        )
    agents = {a.code: a for a in TrialAgent.objects.filter(trial=trial)}
    for position, item in enumerate(spec["agents"]):
        if item["code"] not in agents:
            agents[item["code"]] = services.trial_agent_add(
                trial=trial, acting_user=acting_user, position=position, **item
            )
    for level in spec["dose_levels"]:
        if DoseLevel.objects.filter(trial=trial, number=level["number"]).exists():
            continue
        dosing_services.dose_level_create(
            trial=trial,
            number=level["number"],
            label=level.get("label", ""),
            is_starting=level.get("is_starting", False),
            notes=level.get("notes", ""),
            doses=[
                {"agent": agents[agent_code], "dose": dose, "unit": agents[agent_code].unit}
                for agent_code, dose in level["doses"].items()
            ],
            acting_user=acting_user,
        )
    known = set(EligibilityCriterion.objects.filter(trial=trial).values_list("code", flat=True))
    for position, (kind, criterion_code, text) in enumerate(spec["criteria"]):
        if criterion_code not in known:
            services.eligibility_criterion_add(
                trial=trial,
                kind=kind,
                code=criterion_code,
                text=text,
                position=position,
                acting_user=acting_user,
            )
    return trial
