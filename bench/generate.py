"""Generate a platform-scale benchmark dataset in the current database.

    DATABASE_NAME=trialdesk_bench python -m bench.generate --scale large|small|tiny

Scales (see ``SCALES``):

* ``large``: 50 trials, 100 sites, 20,000 patients, 600,000 visits, 2,000,000 lab results,
  200,000 adverse events, 100,000 response assessments. One trial holds 10,000 patients; one of
  its sites exactly 500 (the coordinator's patient list); one patient of that site has 30
  visits, 50 adverse events and 200 lab results. The other trials vary in size.
* ``small``: the same shape at about 1/20 of the volume, but with the same target objects (the
  500-patient site and the 30/50/200 patient), so that "queries per page" can be compared
  between the two datasets: a page whose count differs is one whose count grows with the data.
* ``tiny``: a few seconds' worth, for the tests.

The generator refuses a database that holds patients of any trial it did not create (trial codes
``BENCH…``); it wipes its own data first (the clinical tables are truncated), so it can be run
again. The large tables are written with ``COPY`` from buffers built with numpy and pandas.

Audit: the load runs with ``session_replication_role = replica`` inside one transaction, so
neither the django-pghistory audit triggers nor the CTCAE grade triggers nor the foreign-key
triggers fire. That is acceptable only because this is generated data in a throw-away database:
there is no "who changed what" to record for rows no person entered, and the generator builds
every foreign key, check constraint and CTCAE grade itself (``tests/bench`` checks them). The
setting is ``SET LOCAL``: it ends with the transaction, and the schema is never changed.

Dose escalation (``_dose_plan``, ``_escalation``): every enrolled patient holds the slot the
enrolment service would have given: each trial's first patients are its 3+3 phase I part (three
per level, six at the top level, at most six per level), and a trial with more patients
declared the top level its MTD and RP2D (a signed RP2D decision, stage "RP2D declared", trial
status phase II or closed to accrual) and enrols the rest in phase II at it. The investigator's
dose-level grid therefore shows the real grid. The target patient (one of the large trial's
phase II patients) has the same dates, visits and labs at every scale.

Not generated: dose administrations, DLT windows (phase I patients show as "in the DLT
window"), the escalation decisions before the RP2D, eligibility answers, last contacts, RECIST
data. The IMWG engine's treatment start therefore falls back to the C1D1 visit date, as it does
for a patient whose doses are not recorded yet.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger("bench.generate")

BENCH_PREFIX = "BENCH"
BENCH_EMAIL_DOMAIN = "bench.trialdesk.invalid"
BENCH_PASSWORD = "bench-trialdesk-2025"  # noqa: S105 - generated benchmark users only
BENCH_USERS = {
    "coordinator": f"coordinator@{BENCH_EMAIL_DOMAIN}",
    "investigator": f"investigator@{BENCH_EMAIL_DOMAIN}",
    "statistician": f"statistician@{BENCH_EMAIL_DOMAIN}",
}

#: The clinical apps whose tables are truncated before a load (the CTCAE dictionary, users and
#: heartbeats are kept).
CLINICAL_APPS = ("trials", "dosing", "safety", "response", "survival")
KEPT_MODELS = {"user", "userevent", "ctcaeterm", "ctcaetermevent", "workerheartbeat"}

CYCLE_DAYS = 28
CYCLE_1_DAYS = (1, 8, 15, 22)
LATER_DAYS = (1, 15)

#: Lab panels, in the order labs are dropped when a visit records fewer of them.
RESPONSE_PANEL = (
    "SPEP_M",
    "FLC_KAPPA",
    "FLC_LAMBDA",
    "SIFE",
    "ANC",
    "PLT",
    "HGB",
    "WBC",
    "CREAT",
    "CA",
    "UPEP_M",
    "UIFE",
    "LYMPH",
)
ROUTINE_PANEL = ("ANC", "PLT", "HGB", "WBC", "CREAT", "CA", "LYMPH")
TARGET_SEED = 10
TARGET_NEXT_VISIT_DAYS = 3  # the target patient's planned visit is due in 3 days
#: Dose escalation (3+3, as the services run it): cohorts of three at each level in turn, the
#: top level expanded to six; a trial with more patients than that declared the top level its
#: MTD and RP2D, and enrols the rest in phase II at it.
COHORT = 3
RESPONSE_MIN_LABS = 4  # M-protein, both light chains and immunofixation at every assessment

PATIENT_STATUSES = ("screen_failed", "on_treatment", "off_treatment", "follow_up", "off_study")
PATIENT_STATUS_P = (0.07, 0.45, 0.18, 0.22, 0.08)
STATUS_PATHS = {
    "screen_failed": [("screening", "screen_failed")],
    "on_treatment": [("screening", "enrolled"), ("enrolled", "on_treatment")],
    "off_treatment": [
        ("screening", "enrolled"),
        ("enrolled", "on_treatment"),
        ("on_treatment", "off_treatment"),
    ],
    "follow_up": [
        ("screening", "enrolled"),
        ("enrolled", "on_treatment"),
        ("on_treatment", "off_treatment"),
        ("off_treatment", "follow_up"),
    ],
    "off_study": [
        ("screening", "enrolled"),
        ("enrolled", "on_treatment"),
        ("on_treatment", "off_treatment"),
        ("off_treatment", "follow_up"),
        ("follow_up", "off_study"),
    ],
}
TRIAL_STATUSES = ("phase_i", "phase_ii", "open", "closed_to_accrual")
RESPONSE_CATEGORIES = ("sCR", "CR", "VGPR", "PR", "MR", "SD", "PD", "NE")
RESPONSE_CATEGORY_P = (0.03, 0.07, 0.15, 0.25, 0.1, 0.25, 0.1, 0.05)


@dataclass(frozen=True)
class Scale:
    trials: int
    sites: int
    patients: int
    visits: int
    labs: int
    adverse_events: int
    assessments: int
    large_trial_patients: int
    large_trial_sites: int
    big_site_patients: int = 500
    target_visits: int = 30
    target_adverse_events: int = 50
    target_labs: int = 200


SCALES: dict[str, Scale] = {
    "large": Scale(
        trials=50,
        sites=100,
        patients=20_000,
        visits=600_000,
        labs=2_000_000,
        adverse_events=200_000,
        assessments=100_000,
        large_trial_patients=10_000,
        large_trial_sites=40,
    ),
    # About 1/20 of large, but the same target objects: the 500-patient site and the
    # 30-visit / 50-AE / 200-lab patient (so page query counts are compared like for like).
    "small": Scale(
        trials=10,
        sites=20,
        patients=1_200,
        visits=30_000,
        labs=100_000,
        adverse_events=10_000,
        assessments=5_000,
        large_trial_patients=700,
        large_trial_sites=8,
    ),
    "tiny": Scale(
        trials=2,
        sites=3,
        patients=60,
        visits=800,
        labs=2_500,
        adverse_events=200,
        assessments=100,
        large_trial_patients=40,
        large_trial_sites=2,
        big_site_patients=20,
    ),
}


class BenchDatabaseError(RuntimeError):
    """The database holds data the generator must not touch."""


# --- Helpers -----------------------------------------------------------------------------------


def _spread(total: int, weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Integers proportional to ``weights`` that sum to exactly ``total`` (largest remainder,
    ties broken at random)."""
    if total <= 0 or len(weights) == 0:
        return np.zeros(len(weights), dtype=np.int64)
    share = weights / weights.sum() * total
    base = np.floor(share).astype(np.int64)
    rest = int(total - base.sum())
    if rest:
        order = np.lexsort((rng.random(len(weights)), -(share - base)))
        base[order[:rest]] += 1
    return base


def _spread_capped(
    total: int, low: np.ndarray, high: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Integers in ``[low, high]`` summing to ``total`` (clipped when infeasible), drawn
    roughly evenly: everyone gets the same fill fraction, the remainder goes at random."""
    k = low.astype(np.int64).copy()
    room = (high - low).astype(np.int64)
    need = int(total - k.sum())
    if need <= 0 or room.sum() == 0:
        return k
    need = min(need, int(room.sum()))
    frac = need / room.sum()
    add = np.floor(room * frac).astype(np.int64)
    k += add
    rest = need - int(add.sum())
    if rest:
        free = np.flatnonzero(k < high)
        pick = rng.choice(free, size=rest, replace=False)
        k[pick] += 1
    return k


def _copy(cursor: Any, table: str, frame: pd.DataFrame) -> None:
    """COPY ``frame`` into ``table`` (text format: tab-separated, ``\\N`` for NULL)."""
    buffer = io.StringIO()
    frame.to_csv(
        buffer,
        sep="\t",
        header=False,
        index=False,
        na_rep="\\N",
        lineterminator="\n",
        quoting=csv.QUOTE_NONE,
        quotechar="\x01",  # COPY's text format has no quoting; values never hold tabs
    )
    buffer.seek(0)
    columns = ", ".join(f'"{c}"' for c in frame.columns)
    cursor.copy_expert(f'COPY "{table}" ({columns}) FROM STDIN', buffer)


def _clean(text: str) -> str:
    """A value safe for COPY's text format."""
    return text.replace("\\", "/").replace("\t", " ").replace("\n", " ").replace("\r", " ")


def _dates(day_numbers: np.ndarray) -> np.ndarray:
    return day_numbers.astype("datetime64[D]")


def _table(model: Any) -> str:
    return model._meta.db_table


# --- Safety checks and wiping --------------------------------------------------------------------


def _clinical_models() -> list[Any]:
    from django.apps import apps

    models = []
    for label in CLINICAL_APPS:
        for model in apps.get_app_config(label).get_models(include_auto_created=True):
            if model._meta.model_name in KEPT_MODELS or not model._meta.managed:
                continue
            models.append(model)
    return models


def check_database() -> None:
    """Refuse production and any database with patients the generator did not create."""
    from django.conf import settings

    from trials.models import Patient

    if getattr(settings, "PRODUCTION", False):
        raise BenchDatabaseError(
            "The benchmark generator never runs with TRIALDESK_ENV=production."
        )
    foreign = Patient.objects.exclude(trial__code__startswith=BENCH_PREFIX)
    if foreign.exists():
        raise BenchDatabaseError(
            f"{settings.DATABASES['default']['NAME']} holds {foreign.count()} patients that are "
            "not benchmark data: use an empty database (DATABASE_NAME=…)."
        )


def wipe(cursor: Any) -> None:
    """Truncate the clinical tables (and their audit tables), restarting their ids."""
    tables = ", ".join(f'"{_table(m)}"' for m in _clinical_models())
    cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


# --- The generator ---------------------------------------------------------------------------------


def generate(scale: str = "large", seed: int = 7) -> dict:
    """Fill the current database with the ``scale`` dataset; return the targets and counts."""
    import django
    from django.db import connection, transaction
    from django.utils import timezone

    if not django.apps.apps.ready:  # pragma: no cover - the CLI sets Django up
        django.setup()
    spec = SCALES[scale]
    check_database()
    rng = np.random.default_rng(seed)
    started = time.monotonic()
    timings: dict[str, float] = {}
    with transaction.atomic(), connection.cursor() as wrapper:
        cursor = wrapper.cursor  # the psycopg2 cursor, for copy_expert
        cursor.execute("SET LOCAL session_replication_role = replica")
        wipe(cursor)
        dropped = _drop_secondary_indexes(cursor)
        ctx = _Context(spec=spec, rng=rng, cursor=cursor, today=timezone.localdate())
        for step in (
            _setup_tables,
            _patients,
            _visits,
            _labs,
            _adverse_events,
            _assessments,
            _users,
            _escalation,
        ):
            t0 = time.monotonic()
            step(ctx)
            timings[step.__name__.lstrip("_")] = round(time.monotonic() - t0, 2)
        t0 = time.monotonic()
        _restore_indexes(cursor, dropped)
        timings["indexes"] = round(time.monotonic() - t0, 2)
        _reset_sequences(cursor)
        cursor.execute("SET LOCAL session_replication_role = origin")
    t0 = time.monotonic()
    with connection.cursor() as wrapper:
        for model in _clinical_models():
            wrapper.execute(f'ANALYZE "{_table(model)}"')
    timings["analyze"] = round(time.monotonic() - t0, 2)
    result = {
        "scale": scale,
        "seed": seed,
        "seconds": round(time.monotonic() - started, 2),
        "timings": timings,
        "targets": ctx.targets,
        "counts": counts(),
    }
    _write_targets(scale, result)
    return result


def counts() -> dict[str, int]:
    """Row counts actually present (``SELECT count(*)``)."""
    from django.db import connection

    from response.models import ResponseTimepoint
    from safety.models import AdverseEvent
    from trials.models import LabResult, Patient, Site, Trial, Visit

    out = {}
    with connection.cursor() as cursor:
        for name, model in (
            ("trials", Trial),
            ("sites", Site),
            ("patients", Patient),
            ("visits", Visit),
            ("lab_results", LabResult),
            ("adverse_events", AdverseEvent),
            ("response_assessments", ResponseTimepoint),
        ):
            cursor.execute(f'SELECT count(*) FROM "{_table(model)}"')  # noqa: S608
            out[name] = cursor.fetchone()[0]
    return out


def targets_path(scale: str) -> Path:
    from django.conf import settings

    return Path(settings.VAR_DIR) / "bench" / f"targets-{scale}.json"


def load_targets(scale: str) -> dict:
    return json.loads(targets_path(scale).read_text())


def _write_targets(scale: str, result: dict) -> None:
    path = targets_path(scale)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")


@dataclass
class _Context:
    spec: Scale
    rng: np.random.Generator
    cursor: Any
    today: date
    targets: dict | None = None
    # Filled as the steps run.
    trial_ids: np.ndarray | None = None
    trial_codes: list[str] | None = None
    site_ids: np.ndarray | None = None
    levels: dict | None = None  # trial id -> {level number: dose level id}, levels 1, 2, …
    escalation: list | None = None  # per trial: the escalation state enrolment reached
    agents: dict | None = None  # trial id -> [agent ids]
    patients: pd.DataFrame | None = None
    visits: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        self.targets = {}


def _setup_tables(ctx: _Context) -> None:
    """Sites, trials, trial sites, protocol versions, agents, dose levels and criteria (small:
    written with the ORM's bulk_create in the same session)."""
    from dosing.models import DoseLevel, DoseLevelDose
    from trials.models import (
        EligibilityCriterion,
        ProtocolVersion,
        Site,
        Trial,
        TrialAgent,
    )
    from trials.reference_trials import TRIAL_A

    spec, rng = ctx.spec, ctx.rng
    countries = ["GB", "FR", "DE", "NL", "ES", "IT", "US", "CA", "AU", "SE"]
    sites = Site.objects.bulk_create(
        Site(
            code=f"{BENCH_PREFIX}-{i + 1:03d}",
            name=f"Benchmark hospital {i + 1}",
            country=countries[i % len(countries)],
        )
        for i in range(spec.sites)
    )
    trials = Trial.objects.bulk_create(
        Trial(
            code=f"{BENCH_PREFIX}{i + 1:02d}",
            title=f"Benchmark trial {i + 1}: generated data"
            + (" (the large trial)" if i == 0 else ""),
            phase="I/II",
            status="phase_ii" if i == 0 else TRIAL_STATUSES[int(rng.integers(len(TRIAL_STATUSES)))],
            registry_id=f"NCT9{i + 1:07d}",
        )
        for i in range(spec.trials)
    )
    ctx.trial_ids = np.array([t.pk for t in trials])
    ctx.trial_codes = [t.code for t in trials]
    ctx.site_ids = np.array([s.pk for s in sites])
    effective = ctx.today - timedelta(days=6 * 365)
    versions = ProtocolVersion.objects.bulk_create(
        ProtocolVersion(
            trial=t,
            number=1,
            label="Protocol v1",
            effective_date=effective,
            reason="initial protocol",
            design=TRIAL_A["design"],
        )
        for t in trials
    )
    agents = TrialAgent.objects.bulk_create(
        TrialAgent(trial=t, position=position, **item)
        for t in trials
        for position, item in enumerate(TRIAL_A["agents"])
    )
    agent_by = {(a.trial_id, a.code): a for a in agents}
    ctx.agents = {}
    for a in agents:
        ctx.agents.setdefault(a.trial_id, []).append(a.pk)
    levels = DoseLevel.objects.bulk_create(
        DoseLevel(
            trial=t,
            number=spec_level["number"],
            label=spec_level["label"],
            is_starting=spec_level.get("is_starting", False),
            notes=spec_level.get("notes", ""),
            introduced_in=v,
        )
        for t, v in zip(trials, versions, strict=True)
        for spec_level in TRIAL_A["dose_levels"]
    )
    DoseLevelDose.objects.bulk_create(
        DoseLevelDose(
            dose_level=level,
            agent=agent_by[(level.trial_id, code)],
            dose=dose,
            unit=agent_by[(level.trial_id, code)].unit,
        )
        for level, spec_level in zip(
            levels, [s for _ in trials for s in TRIAL_A["dose_levels"]], strict=True
        )
        for code, dose in spec_level["doses"].items()
    )
    ctx.levels = {}
    for level in levels:
        if level.number > 0:
            ctx.levels.setdefault(level.trial_id, {})[level.number] = level.pk
    EligibilityCriterion.objects.bulk_create(
        EligibilityCriterion(trial=t, kind=kind, code=code, text=text, position=position)
        for t in trials
        for position, (kind, code, text) in enumerate(TRIAL_A["criteria"])
    )


def _patients(ctx: _Context) -> None:
    """Trial sites and patients (with consents and status history), by COPY."""
    from trials.models import Consent, Patient, PatientStatusChange, TrialSite

    spec, rng, cursor = ctx.spec, ctx.rng, ctx.cursor
    n_trials = spec.trials
    # Patients per trial: the large trial, the others varied (lognormal), at least 5 each.
    others = spec.patients - spec.large_trial_patients
    weights = rng.lognormal(0.0, 0.9, size=n_trials - 1)
    per_trial = np.concatenate(
        [[spec.large_trial_patients], 5 + _spread(others - 5 * (n_trials - 1), weights, rng)]
    )
    # Sites per trial: site 0 (the big site) and the large trial's sites come first.
    rows = []  # (trial index, site index, patients)
    for t in range(n_trials):
        if t == 0:
            chosen = np.arange(spec.large_trial_sites)
            rest = per_trial[0] - spec.big_site_patients
            w = rng.lognormal(0.0, 0.6, size=len(chosen) - 1)
            counts_ = np.concatenate([[spec.big_site_patients], _spread(rest, w, rng)])
        else:
            k = int(min(spec.sites - 1, max(1, rng.integers(2, 9))))
            chosen = 1 + rng.choice(spec.sites - 1, size=k, replace=False)
            counts_ = _spread(int(per_trial[t]), rng.lognormal(0.0, 0.5, size=k), rng)
        for s, n in zip(chosen, counts_, strict=True):
            rows.append((t, int(s), int(n)))
    ts = pd.DataFrame(rows, columns=["t", "s", "n"])
    ts["number"] = ts.groupby("t").cumcount() + 1

    # One row per patient.
    p = pd.DataFrame(
        {
            "t": np.repeat(ts["t"].to_numpy(), ts["n"].to_numpy()),
            "s": np.repeat(ts["s"].to_numpy(), ts["n"].to_numpy()),
            "site_number": np.repeat(ts["number"].to_numpy(), ts["n"].to_numpy()),
        }
    )
    n = len(p)
    p["id"] = np.arange(1, n + 1)
    p["screening"] = p.groupby(["t", "s"]).cumcount() + 1
    status = rng.choice(len(PATIENT_STATUSES), size=n, p=PATIENT_STATUS_P)
    status[0] = PATIENT_STATUSES.index("on_treatment")  # the target patient
    p["status"] = np.array(PATIENT_STATUSES)[status]
    enrolled = p["status"] != "screen_failed"
    p["study_no"] = enrolled.groupby([p["t"], p["s"]]).cumsum().where(enrolled, 0)

    # Visits per patient: 1 for screen failures, else varied (at least 2) summing to the total.
    n_visits = np.ones(n, dtype=np.int64)
    free = enrolled.to_numpy().copy()
    free[0] = False
    n_visits[0] = spec.target_visits
    budget = spec.visits - int(n_visits[~free].sum()) - 2 * int(free.sum())
    w = rng.lognormal(0.0, 0.6, size=int(free.sum()))
    n_visits[free] = 2 + np.minimum(_spread(budget, w, rng), 160)
    short = spec.visits - int(n_visits.sum())  # from the cap, rarely: give it to the others
    if short > 0:
        idx = np.flatnonzero(free)
        n_visits[idx] += _spread(short, np.ones(len(idx)), rng)
    p["n_visits"] = n_visits

    # Dates: C1D1 ("start") such that the visits lie in the past, except the last visit of a
    # patient on treatment, which is due in a few days.
    t_last = np.maximum(n_visits - 2, 0)  # treatment index of the last visit
    last_offset = _treatment_offsets(t_last)
    today = np.datetime64(ctx.today, "D").astype(np.int64)
    on_treatment = (p["status"] == "on_treatment").to_numpy()
    gap = np.where(on_treatment, -rng.integers(1, 6, size=n), rng.integers(30, 400, size=n))
    gap[0] = -TARGET_NEXT_VISIT_DAYS  # the target patient: the same dates at every scale
    start = today - last_offset - gap
    start = np.where(n_visits == 1, today - rng.integers(20, 1500, size=n), start)
    p["start"] = start
    p["screen_day"] = start - 14

    trial_ids, site_ids = ctx.trial_ids, ctx.site_ids
    trial_codes = np.array(ctx.trial_codes)
    p["trial_id"] = trial_ids[p["t"]]
    p["site_id"] = site_ids[p["s"]]
    _dose_plan(ctx, p)
    p["weight_kg"] = np.round(rng.normal(75, 12, n), 1)
    p.loc[0, "weight_kg"] = 75.0
    ctx.patients = p

    # Trial sites, with counters consistent with the patients (the next enrolment continues).
    counters = p.groupby(["t", "s"]).agg(screens=("screening", "max"), studies=("study_no", "max"))
    ts = ts.join(counters, on=["t", "s"])
    frame = pd.DataFrame(
        {
            "id": np.arange(1, len(ts) + 1),
            "trial_id": trial_ids[ts["t"]],
            "site_id": site_ids[ts["s"]],
            "number": ts["number"].map("{:02d}".format),
            "active": "t",
            "next_screening_number": ts["screens"].fillna(0).astype(int) + 1,
            "next_study_number": ts["studies"].fillna(0).astype(int) + 1,
        }
    )
    _copy(cursor, _table(TrialSite), frame)

    site_number = pd.Series(p["site_number"]).map("{:02d}".format)
    study_id = (
        pd.Series(trial_codes[p["t"]])
        + "-"
        + site_number
        + "-"
        + pd.Series(p["study_no"]).map("{:03d}".format)
    ).where(enrolled, None)
    stamp = f"{ctx.today.isoformat()} 08:00:00+00"
    sex = np.array(["F", "M"])[rng.integers(0, 2, size=n)]
    frame = pd.DataFrame(
        {
            "id": p["id"],
            "trial_id": p["trial_id"],
            "site_id": p["site_id"],
            "screening_number": p["screening"].map("{:03d}".format),
            "study_id": study_id,
            "given_name": "Bench",
            "family_name": "P" + p["id"].astype(str),
            "date_of_birth": _dates(p["screen_day"].to_numpy() - rng.integers(40, 85, n) * 365),
            "sex": sex,
            "status": p["status"],
            "enrolment_date": pd.Series(_dates(start - 3)).where(enrolled, None),
            "dose_level_id": p["dose_level_id"],
            "height_cm": np.round(rng.normal(170, 9, n), 1),
            "weight_kg": p["weight_kg"],
            "created_at": stamp,
            "updated_at": stamp,
            "version": 1,
        }
    )
    _copy(cursor, _table(Patient), frame)

    _copy(
        cursor,
        _table(Consent),
        pd.DataFrame(
            {
                "id": p["id"],
                "patient_id": p["id"],
                "version": "1.0",
                "consent_date": _dates(p["screen_day"].to_numpy()),
                "created_at": stamp,
            }
        ),
    )

    # Status history: the path to the current status, one step per row.
    steps = [STATUS_PATHS[s] for s in p["status"]]
    lengths = np.array([len(s) for s in steps])
    flat = [step for path in steps for step in path]
    owner = np.repeat(p["id"].to_numpy(), lengths)
    step_no = np.concatenate([np.arange(k) for k in lengths])
    base = np.repeat(p["start"].to_numpy(), lengths)
    effective = np.where(step_no == 0, base - 3, base + 30 * step_no)
    _copy(
        cursor,
        _table(PatientStatusChange),
        pd.DataFrame(
            {
                "id": np.arange(1, len(flat) + 1),
                "patient_id": owner,
                "from_status": [a for a, _ in flat],
                "to_status": [b for _, b in flat],
                "effective_date": _dates(np.minimum(effective, today)),
                "reason_code": "",
                "reason": "",
                "details": "{}",
                "created_at": stamp,
            }
        ),
    )
    big_site = ts.iloc[0]
    ctx.targets.update(
        {
            "large_trial_code": ctx.trial_codes[0],
            "large_trial_id": int(trial_ids[0]),
            "site_id": int(site_ids[int(big_site["s"])]),
            "site_code": f"{BENCH_PREFIX}-{int(big_site['s']) + 1:03d}",
            "site_trial_code": ctx.trial_codes[0],
            "site_patients": int(big_site["n"]),
            "patient_id": 1,
        }
    )


def _dose_plan(ctx: _Context, p: pd.DataFrame) -> None:
    """Each enrolled patient's dose level and slot, as enrolment through
    ``dosing.services.assign_dose_level_for_enrolment`` would have given them.

    In enrolment order (enrolment date, then id), a trial's first patients are its phase I
    part: a cohort of three at each level in turn (seats 1–3), the top level expanded to six
    (seats 1–6), the escalation step counting the signed decisions that opened each cohort.
    A trial with more patients went on: MTD = RP2D = the top level (two more signed decisions,
    the MTD and the RP2D), and the rest of its patients hold phase II slots at the RP2D, as
    trial A's phase II patients do. The target patient is always one of those.
    ``ctx.escalation`` keeps each trial's resulting ``TrialEscalation`` (``_escalation``).
    """
    n = len(p)
    number = np.zeros(n, dtype=np.int64)
    kind = np.full(n, "", dtype=object)
    seat = np.zeros(n, dtype=np.int64)
    step = np.zeros(n, dtype=np.int64)
    start = p["start"].to_numpy()
    trial_of = p["trial_id"].to_numpy()
    enrolled = (p["status"] != "screen_failed").to_numpy()
    ctx.escalation = []
    for tid in ctx.trial_ids:
        numbers = np.array(sorted(ctx.levels[int(tid)]))
        top = len(numbers)
        members = np.flatnonzero((trial_of == tid) & enrolled)
        members = members[np.lexsort((members, start[members]))]
        candidates = members[members != 0]
        capacity = COHORT * (top + 1)
        rp2d = len(members) > capacity
        phase_one = candidates[:capacity]
        cohort = np.arange(len(phase_one)) // COHORT
        index = np.minimum(cohort, top - 1)
        number[phase_one] = numbers[index]
        kind[phase_one] = "escalation"
        seat[phase_one] = np.arange(len(phase_one)) - index * COHORT + 1
        step[phase_one] = cohort
        last = int(cohort[-1]) if len(phase_one) else 0
        if rp2d:
            phase_two = np.setdiff1d(members, phase_one)
            number[phase_two] = numbers[-1]
            kind[phase_two] = "phase_ii"
            step[phase_two] = top + 2  # after the signed MTD and RP2D decisions
            ctx.escalation.append(
                {
                    "trial_id": int(tid),
                    "stage": "rp2d_declared",
                    "open_level_number": None,
                    "cohort_target": 0,
                    "step": top + 2,
                    "mtd_level_number": int(numbers[-1]),
                    "rp2d_level_number": int(numbers[-1]),
                    "levels": [int(x) for x in numbers],
                }
            )
        else:
            ctx.escalation.append(
                {
                    "trial_id": int(tid),
                    "stage": "escalating",
                    "open_level_number": int(numbers[min(last, top - 1)]),
                    "cohort_target": 2 * COHORT if last >= top else COHORT,
                    "step": last,
                    "mtd_level_number": None,
                    "rp2d_level_number": None,
                    "levels": [int(x) for x in numbers],
                }
            )
    p["level_number"] = number
    p["slot_kind"] = kind
    p["seat"] = seat
    p["slot_step"] = step
    p["dose_level_id"] = pd.array(
        [ctx.levels[t].get(k) if k else None for t, k in zip(trial_of, number, strict=True)],
        dtype="Int64",
    )


def _treatment_offsets(t: np.ndarray) -> np.ndarray:
    """Days from C1D1 of treatment visit number ``t`` (0 = C1D1)."""
    cycle, day = _cycle_day(t)
    return (cycle - 1) * CYCLE_DAYS + day - 1


def _cycle_day(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    later = np.maximum(t - len(CYCLE_1_DAYS), 0)
    cycle = np.where(t < len(CYCLE_1_DAYS), 1, 2 + later // len(LATER_DAYS))
    day = np.where(
        t < len(CYCLE_1_DAYS),
        np.array(CYCLE_1_DAYS)[np.minimum(t, len(CYCLE_1_DAYS) - 1)],
        np.array(LATER_DAYS)[later % len(LATER_DAYS)],
    )
    return cycle, day


def _visits(ctx: _Context) -> None:
    """Screening and treatment visits: all done, except the next one of a patient on
    treatment, which is planned."""
    from trials.models import Visit

    rng, p = ctx.rng, ctx.patients
    n_visits = p["n_visits"].to_numpy()
    owner = np.repeat(np.arange(len(p)), n_visits)
    first = np.repeat(np.cumsum(n_visits) - n_visits, n_visits)
    j = np.arange(len(owner)) - first  # visit index within the patient (0 = screening)
    t = np.maximum(j - 1, 0)
    cycle, day = _cycle_day(t)
    screening = j == 0
    start = p["start"].to_numpy()[owner]
    planned = np.where(screening, p["screen_day"].to_numpy()[owner], start + _treatment_offsets(t))
    last = j == n_visits[owner] - 1
    is_planned = last & (p["status"].to_numpy()[owner] == "on_treatment") & ~screening
    jitter = rng.integers(-1, 2, size=len(owner))
    target = owner == 0
    # Its own generator, as its labs: the target patient's visits are the same at every scale.
    target_rng = np.random.default_rng(TARGET_SEED + 1)
    jitter[target] = target_rng.integers(-1, 2, size=int(target.sum()))
    jitter = np.where(screening | (j == 1), 0, jitter)
    visit_date = planned + jitter
    response = ~screening & (day == 1) & (cycle >= 2)
    window = np.where(screening, 28, np.where(day == 1, 3, 2))
    codes = np.where(
        screening,
        "SCR",
        np.char.add(np.char.add("C", cycle.astype(str)), np.char.add("D", day.astype(str))),
    )
    stamp = f"{ctx.today.isoformat()} 08:00:00+00"
    n = len(owner)
    noise = rng.normal(0, 1.5, len(owner))
    noise[target] = target_rng.normal(0, 1.5, int(target.sum()))
    weight = np.round(p["weight_kg"].to_numpy()[owner] + noise, 1)
    frame = pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "patient_id": p["id"].to_numpy()[owner],
            "code": codes,
            "kind": np.where(screening, "screening", "treatment"),
            "cycle": pd.array(np.where(screening, 0, cycle), dtype="Int64"),
            "day": pd.array(np.where(screening, 0, day), dtype="Int64"),
            "planned_date": _dates(planned),
            "window_start": _dates(np.where(screening, planned, planned - window)),
            "window_end": _dates(planned + window),
            "response_assessment": np.where(response, "t", "f"),
            "status": np.where(is_planned, "planned", "done"),
            "visit_date": pd.Series(_dates(visit_date)).where(~is_planned, None),
            "height_cm": None,
            "weight_kg": weight,
            "bsa_m2": None,
            "missed_reason": "",
            "notes": "",
            "version": 1,
            "created_at": stamp,
            "updated_at": stamp,
        }
    )
    frame.loc[screening, ["cycle", "day"]] = pd.NA
    frame.loc[is_planned, "weight_kg"] = None
    _copy(ctx.cursor, _table(Visit), frame)
    ctx.visits = pd.DataFrame(
        {
            "id": frame["id"].to_numpy(),
            "owner": owner,
            "j": j,
            "cycle": np.where(screening, 0, cycle),
            "day": np.where(screening, 0, day),
            "done": ~is_planned,
            "date": visit_date,
            "response": response,
            "baseline": screening | (j == 1),
        }
    )
    target = ctx.visits[(ctx.visits["owner"] == 0)]
    save = target[target["done"]].iloc[-1]
    ctx.targets["visit_id"] = int(save["id"])
    ctx.targets["patient_visits"] = len(target)


def _labs(ctx: _Context) -> None:
    """Lab results of done visits: the myeloma panel at screening, C1D1 and each response
    assessment (M-protein falling, then for some patients rising again), blood counts and
    chemistry otherwise."""
    from trials.domain.labs import ANALYTES
    from trials.models import LabResult

    spec, rng, v, p = ctx.spec, ctx.rng, ctx.visits, ctx.patients
    done = v[v["done"]].reset_index(drop=True)
    panel_is_response = (done["response"] | done["baseline"]).to_numpy()
    cap = np.where(panel_is_response, len(RESPONSE_PANEL), len(ROUTINE_PANEL))
    low = np.where(panel_is_response, RESPONSE_MIN_LABS, 1)
    target = (done["owner"] == 0).to_numpy()
    k = np.zeros(len(done), dtype=np.int64)
    # Its own generator: the target patient's labs are the same at every scale, so the visit
    # saved by ``bench.queries`` carries the same panel on the small and the large dataset.
    k[target] = _spread_capped(
        spec.target_labs, low[target], cap[target], np.random.default_rng(TARGET_SEED)
    )
    rest = spec.labs - int(k[target].sum())
    k[~target] = _spread_capped(rest, low[~target], cap[~target], rng)

    rows = np.repeat(np.arange(len(done)), k)
    rank = np.arange(len(rows)) - np.repeat(np.cumsum(k) - k, k)
    resp_panel = np.array(RESPONSE_PANEL)
    routine_panel = np.array(ROUTINE_PANEL)
    is_resp = panel_is_response[rows]
    analyte = np.where(
        is_resp,
        resp_panel[np.minimum(rank, len(RESPONSE_PANEL) - 1)],
        routine_panel[np.minimum(rank, len(ROUTINE_PANEL) - 1)],
    )
    owner = done["owner"].to_numpy()[rows]
    visit_id = done["id"].to_numpy()[rows]
    collected = done["date"].to_numpy()[rows]
    days = (collected - p["start"].to_numpy()[owner]).clip(min=0)
    value, category = _lab_values(analyte, owner, days, len(p), rng)
    # The target patient's values from its own generator: the same labs at every scale.
    mine = owner == 0
    value[mine], category[mine] = _lab_values(
        analyte[mine], owner[mine], days[mine], 1, np.random.default_rng(TARGET_SEED + 2)
    )
    categorical = np.isin(analyte, ["SIFE", "UIFE"])
    value = np.round(value, 2)
    text = pd.Series(value).map("{:.2f}".format).to_numpy(dtype=object)
    text[categorical] = category[categorical]
    units = {code: a.canonical_unit for code, a in ANALYTES.items()}
    lln = {code: a.lln for code, a in ANALYTES.items()}
    uln = {code: a.uln for code, a in ANALYTES.items()}
    unit = pd.Series(analyte).map(units).to_numpy()
    stamp = f"{ctx.today.isoformat()} 08:00:00+00"
    frame = pd.DataFrame(
        {
            "id": np.arange(1, len(rows) + 1),
            "patient_id": p["id"].to_numpy()[owner],
            "visit_id": visit_id,
            "analyte": analyte,
            "collected_on": _dates(collected),
            "value_as_entered": text,
            "unit_as_entered": unit,
            "value": pd.Series(value).where(~categorical, None),
            "unit": unit,
            "category": category,
            "lln": pd.Series(analyte).map(lln),
            "uln": pd.Series(analyte).map(uln),
            "limits_source": "catalogue",
            "version": 1,
            "created_at": stamp,
            "updated_at": stamp,
        }
    )
    _copy(ctx.cursor, _table(LabResult), frame)
    ctx.targets["patient_labs"] = int(k[target].sum())


def _lab_values(
    analyte: np.ndarray, owner: np.ndarray, days: np.ndarray, n_pat: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Values (and immunofixation categories) of labs of patients ``0..n_pat-1`` (``owner``),
    collected ``days`` after C1D1."""
    # Disease course per patient: baseline M-protein, depth of response, some relapse later.
    m0 = rng.lognormal(np.log(2.5), 0.5, n_pat)
    depth = rng.beta(2.0, 2.0, n_pat)  # fraction of M-protein left at the nadir
    relapse_at = np.where(rng.random(n_pat) < 0.3, rng.integers(120, 700, n_pat), 10**6)
    fall = depth[owner] + (1 - depth[owner]) * np.exp(-days / 60.0)
    rise = np.where(days > relapse_at[owner], 1 + (days - relapse_at[owner]) / 90.0, 1.0)
    burden = fall * rise * rng.lognormal(0.0, 0.05, len(owner))
    value = np.empty(len(owner))
    normal = {
        "ANC": (3.5, 1.4),
        "PLT": (210, 70),
        "HGB": (11.5, 1.6),
        "WBC": (6.0, 2.0),
        "LYMPH": (1.6, 0.6),
        "CREAT": (0.95, 0.25),
        "CA": (9.4, 0.5),
        "BMPC": (20, 10),
    }
    for code, (mean, sd) in normal.items():
        sel = analyte == code
        value[sel] = np.abs(rng.normal(mean, sd, int(sel.sum())))
    for code, scale_ in (("SPEP_M", 1.0), ("UPEP_M", 180.0), ("FLC_KAPPA", 120.0)):
        sel = analyte == code
        value[sel] = m0[owner[sel]] * scale_ * burden[sel]
    sel = analyte == "FLC_LAMBDA"
    value[sel] = np.abs(rng.normal(12.0, 3.0, int(sel.sum())))
    categorical = np.isin(analyte, ["SIFE", "UIFE"])
    category = np.where(categorical, np.where(burden < 0.08, "negative", "positive"), "")
    return value, category


def _adverse_events(ctx: _Context) -> None:
    """Adverse events of enrolled patients, each with one grade episode and one attribution,
    graded only with grades the CTCAE term allows (never 5: no fatal outcomes)."""
    from safety.models import AdverseEvent, AdverseEventAttribution, AdverseEventGrade, CtcaeTerm

    spec, rng, p = ctx.spec, ctx.rng, ctx.patients
    terms = [
        t
        for t in CtcaeTerm.objects.filter(version="5.0").order_by("pk")
        if any(g in t.allowed_grades for g in (1, 2, 3, 4))
    ]
    if not terms:
        raise BenchDatabaseError("The CTCAE dictionary is not installed (run migrate).")
    enrolled = np.flatnonzero((p["status"] != "screen_failed").to_numpy())
    per = np.zeros(len(p), dtype=np.int64)
    per[0] = spec.target_adverse_events
    others = enrolled[enrolled != 0]
    per[others] = _spread(
        spec.adverse_events - spec.target_adverse_events,
        rng.lognormal(0.0, 0.8, len(others)) * p["n_visits"].to_numpy()[others],
        rng,
    )
    owner = np.repeat(np.arange(len(p)), per)
    n = len(owner)
    term_idx = rng.integers(0, len(terms), n)
    allowed = np.zeros((len(terms), 4), dtype=bool)
    for i, t in enumerate(terms):
        for g in (1, 2, 3, 4):
            allowed[i, g - 1] = g in t.allowed_grades
    wanted = rng.choice(4, size=n, p=(0.5, 0.3, 0.15, 0.05))
    ok = allowed[term_idx]
    # The wanted grade if allowed, else the lowest allowed one.
    grade = np.where(ok[np.arange(n), wanted], wanted, ok.argmax(axis=1)) + 1
    span = np.maximum(p["n_visits"].to_numpy()[owner] * 14, 7)
    start = p["start"].to_numpy()[owner]
    today = np.datetime64(ctx.today, "D").astype(np.int64)
    onset = np.minimum(start + rng.integers(0, 1 << 30, n) % span, today - 1)
    outcome = rng.choice(
        np.array(["recovered", "not_recovered", "recovering"]), size=n, p=(0.6, 0.25, 0.15)
    )
    ended = outcome == "recovered"
    resolution = np.minimum(onset + rng.integers(1, 60, n), today)
    stamp = f"{ctx.today.isoformat()} 08:00:00+00"
    term_cols = (
        pd.DataFrame(
            {
                "ctcae_term_id": [t.pk for t in terms],
                "ctcae_version": [t.version for t in terms],
                "meddra_code": [t.meddra_code for t in terms],
                "term": [_clean(t.term) for t in terms],
                "soc": [_clean(t.soc) for t in terms],
            }
        )
        .iloc[term_idx]
        .reset_index(drop=True)
    )
    resolution_dates = pd.Series(_dates(resolution)).where(ended, None)
    frame = pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "patient_id": p["id"].to_numpy()[owner],
            **{c: term_cols[c] for c in term_cols.columns},
            "verbatim": "",
            "onset_date": _dates(onset),
            "resolution_date": resolution_dates,
            "max_grade": grade,
            "serious_death": "f",
            "serious_life_threatening": np.where(grade == 4, "t", "f"),
            "serious_hospitalisation": np.where(grade >= 3, "t", "f"),
            "serious_disability": "f",
            "serious_congenital_anomaly": "f",
            "serious_important_medical_event": "f",
            "awareness_at": None,
            "outcome": outcome,
            "expectedness": "not_assessed",
            "with_fever": "f",
            "with_bleeding": "f",
            "with_transfusion": "f",
            "controlled_within_hours": None,
            "cycle2_delay_days": None,
            "version": 1,
            "created_at": stamp,
            "updated_at": stamp,
        }
    )
    frame.loc[grade >= 3, "awareness_at"] = stamp
    _copy(ctx.cursor, _table(AdverseEvent), frame)
    _copy(
        ctx.cursor,
        _table(AdverseEventGrade),
        pd.DataFrame(
            {
                "id": frame["id"],
                "adverse_event_id": frame["id"],
                "grade": grade,
                "onset_date": frame["onset_date"],
                "resolved_on": resolution_dates,
            }
        ),
    )
    trial_agent = {tid: ids[0] for tid, ids in ctx.agents.items()}
    _copy(
        ctx.cursor,
        _table(AdverseEventAttribution),
        pd.DataFrame(
            {
                "id": frame["id"],
                "adverse_event_id": frame["id"],
                "agent_id": pd.Series(p["trial_id"].to_numpy()[owner]).map(trial_agent),
                "attribution": rng.choice(
                    np.array(["unrelated", "unlikely", "possible", "probable", "definite"]), n
                ),
                "action_taken": "none",
            }
        ),
    )
    ctx.targets["patient_adverse_events"] = int(per[0])


def _assessments(ctx: _Context) -> None:
    """Stored IMWG calls (response timepoints) at response-assessment visits, and a best
    overall response per patient that has any."""
    from response.domain.imwg_rules import RULESET_VERSION
    from response.models import PatientResponse, ResponseTimepoint

    spec, rng, v, p = ctx.spec, ctx.rng, ctx.visits, ctx.patients
    candidates = np.flatnonzero((v["done"] & v["response"]).to_numpy())
    target = candidates[v["owner"].to_numpy()[candidates] == 0]
    rest = candidates[v["owner"].to_numpy()[candidates] != 0]
    n = min(spec.assessments, len(candidates))
    pick = np.sort(
        np.concatenate([target, rng.choice(rest, size=max(n - len(target), 0), replace=False)])
    )
    chosen = v.iloc[pick]
    category = rng.choice(np.array(RESPONSE_CATEGORIES), size=len(chosen), p=RESPONSE_CATEGORY_P)
    stamp = f"{ctx.today.isoformat()} 08:00:00+00"
    patient_id = p["id"].to_numpy()[chosen["owner"].to_numpy()]
    hashes = np.char.mod("%064x", rng.integers(0, 1 << 62, len(chosen)))
    _copy(
        ctx.cursor,
        _table(ResponseTimepoint),
        pd.DataFrame(
            {
                "id": np.arange(1, len(chosen) + 1),
                "patient_id": patient_id,
                "criteria": "IMWG2016",
                "assessment_date": _dates(chosen["date"].to_numpy()),
                "timepoint": category,
                "confirmed": category,
                "status": category,
                "confirmation_rule": "",
                "after_new_therapy": "f",
                "flags": "[]",
                "trace": "{}",
                "pct_change_from_baseline": np.round(rng.uniform(-100, 40, len(chosen)), 1),
                "ruleset_version": RULESET_VERSION,
                "input_hash": hashes,
                "computed_at": stamp,
            }
        ),
    )
    per_patient = (
        pd.DataFrame({"patient_id": patient_id, "date": chosen["date"].to_numpy()})
        .groupby("patient_id")["date"]
        .agg(["min", "max"])
        .reset_index()
    )
    m = len(per_patient)
    bor = rng.choice(np.array(RESPONSE_CATEGORIES), size=m, p=RESPONSE_CATEGORY_P)
    starts = p.set_index("id")["start"]
    _copy(
        ctx.cursor,
        _table(PatientResponse),
        pd.DataFrame(
            {
                "id": np.arange(1, m + 1),
                "patient_id": per_patient["patient_id"],
                "criteria": "IMWG2016",
                "best_overall_response": bor,
                "best_response_date": _dates(per_patient["min"].to_numpy()),
                "first_response_date": None,
                "progression_date": None,
                "current_status": bor,
                "baseline_date": _dates(starts.loc[per_patient["patient_id"]].to_numpy()),
                "last_assessment_date": _dates(per_patient["max"].to_numpy()),
                "evaluable": "t",
                "measurable": '["serum"]',
                "flags": "[]",
                "trace": "{}",
                "engine_input": "{}",
                "best_pct_change": np.round(rng.uniform(-100, 0, m), 1),
                "waterfall_parameter": "serum",
                "ruleset_version": RULESET_VERSION,
                "input_hash": np.char.mod("%064x", rng.integers(0, 1 << 62, m)),
                "evaluated_at": stamp,
                "version": 1,
            }
        ),
    )


def _users(ctx: _Context) -> None:
    """The bench users (one password hash, computed once) and their memberships."""
    from django.contrib.auth.hashers import make_password

    from trials.models import Membership, Role, User

    password_hash = make_password(BENCH_PASSWORD)
    users = {}
    for role, email in BENCH_USERS.items():
        user, _ = User.objects.update_or_create(
            email=email,
            defaults={
                "full_name": f"Bench {role}",
                "password": password_hash,
                "is_active": True,
            },
        )
        users[role] = user
    trial_id = ctx.targets["large_trial_id"]
    coordinator = Membership.objects.create(
        user=users["coordinator"], trial_id=trial_id, role=Role.COORDINATOR
    )
    coordinator.sites.set([ctx.targets["site_id"]])
    for role in ("investigator", "statistician"):
        Membership.objects.create(user=users[role], trial_id=trial_id, role=role, all_sites=True)
    ctx.targets["users"] = {role: {"id": u.pk, "email": u.email} for role, u in users.items()}
    ctx.targets["password"] = BENCH_PASSWORD


def _escalation(ctx: _Context) -> None:
    """The escalation state enrolment left (``_dose_plan``): a ``TrialEscalation`` row and the
    trial status per trial, a slot per enrolled patient, and for a trial in phase II the signed
    RP2D decision (signed by the bench investigator), as after ``_apply`` of a signed RP2D."""
    from django.utils import timezone

    from dosing.domain.escalation import RULE_VERSION
    from dosing.models import (
        DecisionKind,
        DecisionSignature,
        DecisionStatus,
        EscalationDecision,
        SignatureKind,
        SlotAssignment,
        TrialEscalation,
    )
    from dosing.services import RP2D_ACTION, RP2D_RULE, RP2D_RULE_ID, _canonical_hash
    from trials.models import Trial, TrialStatus
    from trials.reference_trials import TRIAL_A

    p = ctx.patients
    held = np.flatnonzero((p["slot_kind"] != "").to_numpy())
    level_ids = p["dose_level_id"].iloc[held].to_numpy(dtype=np.int64)
    assigned = pd.Series(_dates(p["start"].to_numpy()[held] - 3)).dt.strftime("%Y-%m-%d")
    seat = pd.Series(p["seat"].to_numpy()[held])
    _copy(
        ctx.cursor,
        _table(SlotAssignment),
        pd.DataFrame(
            {
                "id": np.arange(1, len(held) + 1),
                "trial_id": p["trial_id"].to_numpy()[held],
                "patient_id": p["id"].to_numpy()[held],
                "dose_level_id": level_ids,
                "level_number": p["level_number"].to_numpy()[held],
                "kind": p["slot_kind"].to_numpy()[held],
                "seat": pd.array(seat.where(seat > 0, None), dtype="Int64"),
                "step": p["slot_step"].to_numpy()[held],
                "status": "held",
                "freed_reason": "",
                "assigned_at": assigned + " 08:00:00+00",
                "assigned_by_id": None,
                "freed_at": None,
            }
        ),
    )
    investigator_id = ctx.targets["users"]["investigator"]["id"]
    drawn = dict(Trial.objects.values_list("pk", "status"))
    now = timezone.now()
    rule_set = TRIAL_A["design"]["escalation"]["rule_set"]
    decisions = []
    rows = []
    for esc in ctx.escalation:
        tid = esc["trial_id"]
        if esc["stage"] == "rp2d_declared":
            status = (
                TrialStatus.CLOSED_TO_ACCRUAL
                if drawn[tid] == TrialStatus.CLOSED_TO_ACCRUAL
                else TrialStatus.PHASE_II
            )
            level = esc["rp2d_level_number"]
            snap = {"mtd_level": level, "levels": esc["levels"], "level_counts": []}
            decisions.append(
                EscalationDecision(
                    trial_id=tid,
                    number=esc["step"],  # the decisions before it are not generated
                    kind=DecisionKind.RP2D,
                    step=esc["step"] - 1,
                    input_snapshot=snap,
                    input_hash=_canonical_hash(snap),
                    rule_set=rule_set,
                    rule_id=RP2D_RULE_ID,
                    rule_text=RP2D_RULE,
                    rule_version=RULE_VERSION,
                    output={
                        "action": RP2D_ACTION,
                        "mtd_level": level,
                        "recommended_level": level,
                        "explanation": f"MTD = level {level}; the proposed RP2D is the MTD.",
                    },
                    action=RP2D_ACTION,
                    current_level_number=level,
                    recommended_level_number=level,
                    status=DecisionStatus.SIGNED,
                    decided_at=now,
                    decided_by_id=investigator_id,
                )
            )
        else:
            status = TrialStatus.PHASE_I
        Trial.objects.filter(pk=tid).update(status=status)
        rows.append(
            TrialEscalation(
                trial_id=tid,
                **{k: v for k, v in esc.items() if k not in ("trial_id", "levels")},
            )
        )
    decisions = EscalationDecision.objects.bulk_create(decisions)
    DecisionSignature.objects.bulk_create(
        DecisionSignature(
            decision=d,
            signer_id=investigator_id,
            signed_at=now,
            meaning="I approve the recommended phase II dose (generated benchmark data).",
            kind=SignatureKind.APPROVAL,
            snapshot_hash=d.input_hash,
        )
        for d in decisions
    )
    TrialEscalation.objects.bulk_create(rows)
    ctx.targets["escalation"] = {
        "phase_ii_trials": len(decisions),
        "slots": len(held),
    }


def _bulk_tables() -> list[str]:
    from response.models import ResponseTimepoint
    from safety.models import AdverseEvent, AdverseEventAttribution, AdverseEventGrade
    from trials.models import LabResult, PatientStatusChange, Visit

    return [
        _table(m)
        for m in (
            Visit,
            LabResult,
            AdverseEvent,
            AdverseEventGrade,
            AdverseEventAttribution,
            ResponseTimepoint,
            PatientStatusChange,
        )
    ]


def _drop_secondary_indexes(cursor: Any) -> list[str]:
    """Drop the big tables' plain indexes (not those of a primary key or unique constraint)
    and return their definitions: one sorted build after COPY is several times faster than
    maintaining them row by row. ``_restore_indexes`` re-creates them, same names and
    definitions, in the same transaction, so the schema is never seen changed (a failure
    rolls the drop back with everything else)."""
    cursor.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid = ANY(%s::regclass[])
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        ORDER BY 1
        """,
        [_bulk_tables()],
    )
    rows = cursor.fetchall()
    for name, _ in rows:
        cursor.execute(f"DROP INDEX {name}")
    return [definition for _, definition in rows]


def _restore_indexes(cursor: Any, definitions: list[str]) -> None:
    cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
    for definition in definitions:
        cursor.execute(definition)


def _reset_sequences(cursor: Any) -> None:
    from django.core.management.color import no_style
    from django.db import connection

    for sql in connection.ops.sequence_reset_sql(no_style(), _clinical_models()):
        cursor.execute(sql)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="large")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    result = generate(scale=args.scale, seed=args.seed)
    print(json.dumps({k: result[k] for k in ("seconds", "timings", "counts")}, indent=2))
    print(f"targets: {targets_path(args.scale)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
