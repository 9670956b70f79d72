"""Trial A (IPD): the patient scripts that make the product reproduce the published results.

Nothing here is a result: each script is what happened to one synthetic patient (dates, doses,
serum and urine M-protein values, adverse events, last contact). The escalation decisions, DLT
counts, IMWG best responses, Simon verdict and follow-up are computed by the product from them.

Timeline, in days from the first patient's first dose (day 0): the phase I cohorts are enrolled
one after the other, each cohort's 21-day DLT windows close before the engine is run and its
recommendation signed; phase II starts once the RP2D is signed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

SEED = 20240611

#: IMWG response patterns: serum M-protein at each assessment (cycle 2 day 1, cycle 3 day 1,
#: ...) as a fraction of the baseline value. Urine M-protein stays below 100 mg/24 h.
#: VGPR: two consecutive values ≥ 90 % below baseline; PR: ≥ 50 %; MR: 25–49 %; SD: < 25 %;
#: PD: ≥ 25 % and ≥ 0.5 g/dL above the nadir, confirmed by the next assessment.
RESPONSE_PATTERNS: dict[str, list[float]] = {
    "VGPR": [0.45, 0.2, 0.08, 0.07, 0.06, 0.06],
    "PR": [0.6, 0.42, 0.36, 0.38, 0.4],
    "MR": [0.72, 0.66, 0.7],
    "SD": [0.92, 0.86, 0.9],
    "PD": [1.32, 1.48],
}
#: The values that follow a response when the patient later progresses (fractions of the
#: baseline, two assessments so that the progression is confirmed).
PROGRESSION_TAIL = {
    "VGPR": [0.6, 0.75],
    "PR": [0.72, 0.85],
    "MR": [1.05, 1.15],
    "SD": [1.25, 1.35],
}


@dataclass(frozen=True)
class AeScript:
    term: str
    grade: int
    onset_day: int  # days after the first dose
    days: int  # duration; resolved after it
    attribution: str = "possible"
    dlt: bool = False  # expected to be confirmed as a DLT by the investigator


@dataclass
class PatientScript:
    key: str
    site: str  # NORTH or SOUTH
    stage: str  # "DL1", "DL1-exp", "DL2", "DL2-exp", "phase2"
    start_day: int  # first dose (cycle 1 day 1), days from day 0
    response: str  # VGPR, PR, MR, SD, PD, NE (withdrawn before any assessment)
    progresses: bool  # a response (or SD) followed by confirmed progression
    follow_up_days: int  # last contact (alive) or death, days after the first dose
    dies: bool = False
    aes: list[AeScript] = field(default_factory=list)
    withdraw_day: int | None = None


def _background_aes(rng: random.Random, weeks_on: int) -> list[AeScript]:
    """The AE spectrum of the paper: anaemia, neutropenia, thrombocytopenia and infections
    most common at grade ≥ 2; grade ≥ 3 events start after the 21-day DLT window."""
    late = max(30, min(7 * weeks_on - 10, 120))
    out = []
    if rng.random() < 0.7:
        out.append(AeScript("Anemia", rng.choice([2, 2, 3]), rng.randint(30, late), 21))
    if rng.random() < 0.6:
        out.append(
            AeScript("Neutrophil count decreased", rng.choice([2, 3, 3]), rng.randint(28, late), 10)
        )
    if rng.random() < 0.5:
        out.append(
            AeScript("Platelet count decreased", rng.choice([2, 3]), rng.randint(28, late), 10)
        )
    if rng.random() < 0.45:
        term = rng.choice(["Upper respiratory infection", "Lung infection"])
        out.append(AeScript(term, rng.choice([2, 3]), rng.randint(30, late), 12))
    if rng.random() < 0.5:
        out.append(AeScript("Fatigue", rng.choice([1, 2]), rng.randint(3, 20), 20))
    if rng.random() < 0.08:
        out.append(AeScript("Peripheral sensory neuropathy", rng.choice([1, 2]), 60, 40))
    if rng.random() < 0.2:
        out.append(AeScript("Diarrhea", 1, rng.randint(3, 20), 4, "unlikely"))
    return out


# Days of the phase II starts (every 18 days from day 160).
PHASE_II_START = 160
PHASE_II_GAP = 18
DATA_CUT_DAY = 581  # the data cut, days from day 0 (= the "today" the command is run with)


def ipd_scripts() -> list[PatientScript]:
    rng = random.Random(SEED)  # noqa: S311 - reproducible synthetic data, not security
    scripts: list[PatientScript] = []

    def add(key, site, stage, start, response, progresses, fu, *, dies=False, aes=None, **kw):
        weeks = max(fu // 7, 8)
        scripts.append(
            PatientScript(
                key=key,
                site=site,
                stage=stage,
                start_day=start,
                response=response,
                progresses=progresses,
                follow_up_days=fu,
                dies=dies,
                aes=(aes if aes is not None else _background_aes(rng, weeks)),
                **kw,
            )
        )

    dlt_dl1 = [
        AeScript("Fatigue", 3, 9, 12, "probable", dlt=True),
        AeScript("Lung infection", 3, 12, 14, "possible", dlt=True),
        AeScript("Neutrophil count decreased", 4, 10, 10, "probable", dlt=True),
        AeScript("Platelet count decreased", 4, 11, 8, "probable", dlt=True),
        AeScript("Anemia", 2, 14, 21, "possible"),
    ]
    dlt_dl2 = [
        AeScript("Febrile neutropenia", 4, 13, 6, "probable", dlt=True),
        AeScript("Neutrophil count decreased", 4, 11, 11, "probable", dlt=True),
        AeScript("Platelet count decreased", 4, 12, 9, "probable", dlt=True),
        AeScript("Anemia", 3, 40, 21, "possible"),
    ]
    # Phase I, DL1: three patients, one withdrawn (not evaluable, replaced), one with DLTs.
    add("A01", "NORTH", "DL1", 0, "SD", True, 470, dies=True, aes=dlt_dl1)
    add("A02", "SOUTH", "DL1", 7, "NE", False, 500, aes=[], withdraw_day=4)
    add("A03", "NORTH", "DL1", 14, "PR", True, 540)
    add("A04", "SOUTH", "DL1-replacement", 30, "PD", False, 420, dies=True)
    add("A05", "NORTH", "DL1-exp", 56, "PR", True, 500)
    add("A06", "SOUTH", "DL1-exp", 60, "SD", True, 505)
    add("A07", "NORTH", "DL1-exp", 64, "PD", False, 400, dies=True)
    # Phase I, DL2: the first three (one with DLTs), then three more.
    add("A08", "SOUTH", "DL2", 90, "PR", True, 470, aes=dlt_dl2)
    add("A09", "NORTH", "DL2", 94, "VGPR", True, 465)
    add("A10", "SOUTH", "DL2", 98, "SD", True, 460)
    add("A11", "NORTH", "DL2-exp", 124, "PR", True, 440)
    add("A12", "SOUTH", "DL2-exp", 128, "MR", True, 430)
    add("A13", "NORTH", "DL2-exp", 132, "PD", False, 370, dies=True)
    # Phase II: 19 patients at the RP2D. Their follow-up is the time from the first dose to
    # the last contact a few days before the data cut; patients 2 and 3 (0-based) sit on the
    # reverse-KM median (362 days = 11.9 months).
    phase2 = [
        ("VGPR", True),
        ("PR", True),
        ("SD", True),
        ("PD", False),
        ("VGPR", True),
        ("PR", True),
        ("MR", True),
        ("PD", False),
        ("PR", False),
        ("VGPR", False),
        ("SD", False),
        ("PD", False),
        ("PR", False),
        ("SD", False),
        ("VGPR", False),
        ("PD", False),
        ("PR", False),
        ("MR", False),
        ("PD", False),
    ]
    lags = {2: 23, 3: 5}
    for i, (response, progresses) in enumerate(phase2):
        start = PHASE_II_START + PHASE_II_GAP * i
        lag = lags.get(i, rng.randint(3, 14))
        fu = DATA_CUT_DAY - start - lag
        site = "NORTH" if i % 2 == 0 else "SOUTH"
        add(f"B{i + 1:02d}", site, "phase2", start, response, progresses, fu)
    return scripts
