"""Trial B (CFZ): the patient scripts of the synthetic carfilzomib trial (RECIST 1.0).

Trial B has no published results to reproduce; its demo patients are a small synthetic design
chosen to show what the product computes for a RECIST trial dosed in mg/m²: a mix of best
overall responses (CR, PR, SD, PD), an unconfirmed PR that RECIST 1.0 counts as stable disease,
a progression that RECIST 1.0 calls and RECIST 1.1 would not (+20 % but only +4 mm), a new
lesion, a dose capped at the protocol's BSA limit, and one confirmed DLT.

Nothing here is a result: each script is what happened to one patient (first-dose day, body
measurements, baseline target lesions, the longest diameters at each imaging assessment,
adverse events, last contact). The timepoint and best overall responses, DLT window states,
doses in mg and follow-up are computed by the product. ``INTENDED`` is what the design
expects the product to compute; ``validate_demo`` compares the two.

Timeline, in days from the first patient's first dose (day 0): one patient every 16 to 28
days (about 6 months of accrual), imaging every 8 weeks from cycle 3 day 1 (a few days before
the visit), and the data cut 345 days after day 0.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from trials.demo_data.ipd import AeScript

SEED = 20240917
DATA_CUT_DAY = 345
SITE = "EAST"
LEVEL_DOSE_MG_PER_M2 = 27
BSA_CAP_M2 = "2.2"  # the design's cap (reference_trials: bsa_cap_m2)
IMAGING_DAYS_BEFORE_VISIT = 3


@dataclass(frozen=True)
class Lesion:
    code: str
    organ: str
    baseline_mm: float


@dataclass
class CfzScript:
    key: str
    start_day: int  # first infusion (cycle 1 day 1), days from day 0
    height_cm: int
    weight_kg: int
    lesions: list[Lesion]
    #: At each imaging assessment (cycle 3, 5, 7 ... day 1): each target's longest diameter
    #: as a fraction of its baseline, or the exact diameters in mm when given as a dict.
    assessments: list[float | dict[str, float]]
    new_lesion_at: int | None = None  # index of the assessment that shows a new lesion
    progresses: bool = False  # the last assessment is a progression: off treatment after it
    intended_bor: str = ""  # what the design expects the RECIST engine to compute
    follow_up_days: int = 0  # last contact, days after the first dose (set by cfz_scripts)
    dies: bool = False
    aes: list[AeScript] = field(default_factory=list)

    # The fields the shared follow-up code reads (``runner._follow_up``).
    site: str = SITE
    withdraw_day: int | None = None


# Imaging assessments: every 8 weeks from cycle 3 day 1, a few days before the visit.
def assessment_day(index: int) -> int:
    """Days after the first dose of imaging assessment ``index`` (0-based)."""
    return 56 * (index + 1) - IMAGING_DAYS_BEFORE_VISIT


def _background_aes(rng: random.Random) -> list[AeScript]:
    """Carfilzomib's usual events: anaemia, thrombocytopenia, fatigue, dyspnoea, hypertension,
    infusion reactions on the first days; grade ≥ 3 only after the 21-day DLT window."""
    out = []
    if rng.random() < 0.6:
        out.append(AeScript("Anemia", rng.choice([1, 2, 3]), rng.randint(29, 60), 21))
    if rng.random() < 0.5:
        out.append(
            AeScript("Platelet count decreased", rng.choice([1, 2, 3]), rng.randint(29, 60), 10)
        )
    if rng.random() < 0.5:
        out.append(AeScript("Fatigue", rng.choice([1, 2]), rng.randint(3, 20), 14))
    if rng.random() < 0.4:
        out.append(AeScript("Dyspnea", rng.choice([1, 2]), rng.randint(2, 20), 5, "probable"))
    if rng.random() < 0.3:
        out.append(AeScript("Hypertension", 2, rng.randint(30, 50), 20, "possible"))
    if rng.random() < 0.3:
        out.append(AeScript("Infusion related reaction", 1, 1, 1, "definite"))
    return out


def cfz_scripts() -> list[CfzScript]:
    rng = random.Random(SEED)  # noqa: S311 - reproducible synthetic data, not security
    starts = [0]
    for _ in range(9):
        starts.append(starts[-1] + rng.randint(16, 28))

    def body() -> tuple[int, int]:
        return rng.randint(152, 186), rng.randint(52, 92)

    dlt = [
        AeScript("Hypertension", 3, 9, 6, "probable", dlt=True),
        AeScript("Dyspnea", 1, 2, 3, "probable"),
    ]
    rows: list[CfzScript] = [
        # SD at cycle 3, then 25 → 20 → 24 mm: +20 % but +4 mm, PD under RECIST 1.0 only.
        CfzScript(
            "C01",
            starts[0],
            *body(),
            [Lesion("T1", "soft tissue (paravertebral)", 25)],
            [{"T1": 20}, {"T1": 24}],
            progresses=True,
            intended_bor="SD",
            dies=True,
        ),
        CfzScript(
            "C02",
            starts[1],
            *body(),
            [Lesion("T1", "rib", 34), Lesion("T2", "lymph node (axillary)", 22)],
            [1.3],
            progresses=True,
            intended_bor="PD",
            dies=True,
        ),
        # PR confirmed 8 weeks later, then progression from the nadir; the one DLT.
        CfzScript(
            "C03",
            starts[2],
            *body(),
            [Lesion("T1", "liver", 41), Lesion("T2", "soft tissue (chest wall)", 28)],
            [0.6, 0.52, 0.7],
            progresses=True,
            intended_bor="PR",
            aes=dlt,
        ),
        CfzScript(
            "C04",
            starts[3],
            *body(),
            [Lesion("T1", "pleura", 30)],
            [0.9, 1.1],
            progresses=True,
            intended_bor="SD",
        ),
        # −34 % at cycle 3 but only −24 % at cycle 5: the PR is not confirmed → SD.
        CfzScript(
            "C05",
            starts[4],
            *body(),
            [Lesion("T1", "soft tissue (thigh)", 38), Lesion("T2", "lymph node (inguinal)", 24)],
            [0.66, 0.76, 0.86],
            progresses=True,
            intended_bor="SD",
        ),
        # Targets stable, but a new lesion at the first assessment → PD.
        CfzScript(
            "C06",
            starts[5],
            190,
            118,  # BSA 2.50 m²: the dose is capped at 2.2 m² (59.4 mg)
            [Lesion("T1", "kidney", 27)],
            [0.95],
            new_lesion_at=0,
            progresses=True,
            intended_bor="PD",
        ),
        # PR, then every target gone (CR), confirmed 8 weeks later; on treatment at the cut.
        CfzScript(
            "C07",
            starts[6],
            *body(),
            [Lesion("T1", "soft tissue (paravertebral)", 33), Lesion("T2", "spleen", 21)],
            [0.45, 0.0, 0.0],
            intended_bor="CR",
        ),
        CfzScript(
            "C08",
            starts[7],
            *body(),
            [Lesion("T1", "lymph node (cervical)", 26), Lesion("T2", "rib", 31)],
            [0.62, 0.58],
            intended_bor="PR",
        ),
        CfzScript(
            "C09",
            starts[8],
            *body(),
            [Lesion("T1", "skull", 29)],
            [1.35],
            progresses=True,
            intended_bor="PD",
        ),
        CfzScript(
            "C10",
            starts[9],
            *body(),
            [Lesion("T1", "soft tissue (pelvis)", 45), Lesion("T2", "liver", 23)],
            [0.64, 0.6],
            intended_bor="PR",
        ),
    ]
    for row in rows:
        if not row.aes:
            row.aes = _background_aes(rng)
        lag = rng.randint(3, 12)
        row.follow_up_days = DATA_CUT_DAY - row.start_day - lag
        if row.dies:
            # Died of progressive disease some months after going off treatment.
            off = assessment_day(len(row.assessments) - 1)
            row.follow_up_days = min(row.follow_up_days, off + rng.randint(90, 150))
    return rows


def intended_best_responses() -> dict[str, int]:
    out: dict[str, int] = {}
    for s in cfz_scripts():
        out[s.intended_bor] = out.get(s.intended_bor, 0) + 1
    return out
