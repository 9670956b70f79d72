"""The statistician's export against a hand-written baseline, on whatever database is configured.

    DATABASE_NAME=trialdesk_bench python -m bench.export --trial CODE

``measure_export(code)`` times the real export — ``survival.services.export_run_now``, the
service the ``export_endpoints`` command calls, writing CSV to a temporary folder — and a
baseline that does the least an honest script could: ONE SQL query fetching every patient's
input dates (first dose, last contact or death, the last dated record showing the patient
alive, the response engine's progression and first response dates, the last adequate
assessment without progression), the four endpoints computed with pandas, and the same
lifelines ``KaplanMeierFitter`` fits as the export (TTP, PFS, DOR, OS overall and by dose
level, and the reverse Kaplan–Meier of median follow-up). The baseline writes no files and
keeps no record ids, so the gap is the price of the traceable, typed, logged export.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

#: One row per enrolled patient at the cut: dates as days since 1970-01-01.
BASELINE_SQL = """
WITH pt AS (
    SELECT p.id, COALESCE(dl.label, 'DL' || dl.number) AS level
    FROM {patient} p LEFT JOIN {dose_level} dl ON dl.id = p.dose_level_id
    WHERE p.trial_id = %(trial)s AND p.study_id IS NOT NULL AND p.enrolment_date <= %(cut)s
),
dose AS (
    SELECT v.patient_id, MIN(v.visit_date) AS first_dose, MAX(v.visit_date) AS last_dose
    FROM {dose} d JOIN {visit} v ON v.id = d.visit_id JOIN pt ON pt.id = v.patient_id
    WHERE d.status = ANY(%(received)s) AND v.visit_date <= %(cut)s
    GROUP BY v.patient_id
),
seen AS (
    SELECT v.patient_id, MAX(v.visit_date) AS day
    FROM {visit} v JOIN pt ON pt.id = v.patient_id
    WHERE v.status = 'done' AND v.visit_date <= %(cut)s GROUP BY v.patient_id
),
lab AS (
    SELECT l.patient_id, MAX(l.collected_on) AS day
    FROM {lab} l JOIN pt ON pt.id = l.patient_id
    WHERE l.collected_on <= %(cut)s GROUP BY l.patient_id
),
contact AS (
    SELECT c.patient_id,
           MAX(c.contact_date) FILTER (WHERE c.vital_status = 'alive' AND c.contact_date <= %(cut)s)
               AS alive,
           MIN(c.death_date) FILTER (WHERE c.vital_status = 'dead' AND c.death_date <= %(cut)s)
               AS death
    FROM {contact} c JOIN pt ON pt.id = c.patient_id GROUP BY c.patient_id
),
assessed AS (
    SELECT t.patient_id, MAX(t.assessment_date) AS any_day,
           MAX(t.assessment_date) FILTER (
               WHERE t.timepoint NOT IN ('PD', 'NE')
                 AND NOT (t.flags ?| %(missing)s)
           ) AS progression_free
    FROM {timepoint} t JOIN pt ON pt.id = t.patient_id
    WHERE t.assessment_date <= %(cut)s GROUP BY t.patient_id
)
SELECT pt.level,
       dose.first_dose - DATE '1970-01-01',
       contact.death - DATE '1970-01-01',
       GREATEST(dose.first_dose, dose.last_dose, seen.day, lab.day, contact.alive,
                assessed.any_day) - DATE '1970-01-01',
       CASE WHEN r.progression_date <= %(cut)s THEN r.progression_date END - DATE '1970-01-01',
       CASE WHEN r.first_response_date <= %(cut)s THEN r.first_response_date END
           - DATE '1970-01-01',
       assessed.progression_free - DATE '1970-01-01'
FROM pt
LEFT JOIN dose ON dose.patient_id = pt.id
LEFT JOIN seen ON seen.patient_id = pt.id
LEFT JOIN lab ON lab.patient_id = pt.id
LEFT JOIN contact ON contact.patient_id = pt.id
LEFT JOIN assessed ON assessed.patient_id = pt.id
LEFT JOIN {response} r ON r.patient_id = pt.id
"""
COLUMNS = ["level", "first", "death", "alive", "progression", "response", "progression_free"]


def baseline_frame(trial: Any, data_cut: dt.date) -> Any:
    """The baseline's input rows: one SQL query into pandas."""
    import pandas as pd
    from django.db import connection

    from dosing.models import DoseLevel
    from response.models import PatientResponse, ResponseTimepoint
    from response.selectors import MISSING_MEASUREMENT_FLAGS
    from trials.domain.dosing import RECEIVED
    from trials.models import DoseAdministration, LabResult, LastContact, Patient, Visit

    tables = {
        "patient": Patient,
        "dose_level": DoseLevel,
        "dose": DoseAdministration,
        "visit": Visit,
        "lab": LabResult,
        "contact": LastContact,
        "timepoint": ResponseTimepoint,
        "response": PatientResponse,
    }
    sql = BASELINE_SQL.format(**{k: m._meta.db_table for k, m in tables.items()})
    params = {
        "trial": trial.pk,
        "cut": data_cut,
        "received": sorted(s.value for s in RECEIVED),
        "missing": sorted(MISSING_MEASUREMENT_FLAGS),
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return pd.DataFrame.from_records(rows, columns=COLUMNS)


def baseline_fits(frame: Any) -> dict[str, Any]:
    """TTP, PFS, DOR and OS from the baseline rows, fitted overall and by dose level, and the
    reverse Kaplan–Meier of OS (median follow-up) — the fits the export makes."""
    import numpy as np
    from lifelines import KaplanMeierFitter

    f = frame[frame["first"].notna()]
    start = f["first"].to_numpy(dtype=float)
    death = f["death"].to_numpy(dtype=float)
    alive = np.fmax(f["alive"].to_numpy(dtype=float), start)
    progression = f["progression"].to_numpy(dtype=float)
    response = f["response"].to_numpy(dtype=float)
    pf = f["progression_free"].to_numpy(dtype=float)
    pf = np.where(pf > start, pf, start)
    has_p, has_d = ~np.isnan(progression), ~np.isnan(death)
    pfs_end = np.where(has_p, progression, np.where(has_d, death, pf))
    endpoints = {
        "TTP": (np.where(has_p, progression, pf) - start, has_p),
        "PFS": (pfs_end - start, has_p | has_d),
        "OS": (np.where(has_d, death, alive) - start, has_d),
    }
    responder = ~np.isnan(response)
    endpoints["DOR"] = (
        (pfs_end - response)[responder],
        (has_p | has_d)[responder],
    )
    levels = f["level"].to_numpy(dtype=object)

    def median(months: Any, observed: Any) -> float | None:
        # As ``survival.domain.km.fit_km``: an empty group (a dose level without treated
        # patients, an endpoint without responders) is an empty fit, with no lifelines call.
        if months.size == 0:
            return None
        return KaplanMeierFitter().fit(months, event_observed=observed).median_survival_time_

    fits: dict[str, Any] = {}
    for name, (days, event) in endpoints.items():
        groups = levels[responder] if name == "DOR" else levels
        months = days / 30.4375
        fits[name] = median(months, event)
        for level in sorted({g for g in groups if g is not None}):
            mask = groups == level
            median(months[mask], event[mask])
    days, event = endpoints["OS"]
    fits["follow_up"] = median(days / 30.4375, ~event)
    return fits


def measure_export(
    trial_code: str, *, data_cut: dt.date | None = None, fmt: str = "csv"
) -> dict[str, Any]:
    """``{"patients": n, "seconds": s, "baseline_seconds": b}``: the wall time of the real
    export (CSV by default, into a temporary folder) and of the baseline, at ``data_cut``
    (default today)."""
    from django.utils import timezone

    from survival.services import export_run_now
    from trials.models import Trial

    trial = Trial.objects.get(code=trial_code)
    cut = data_cut or timezone.localdate()
    with tempfile.TemporaryDirectory() as out:
        began = time.perf_counter()
        job = export_run_now(trial=trial, out_dir=Path(out), fmt=fmt, data_cut=cut)
        seconds = time.perf_counter() - began
    began = time.perf_counter()
    frame = baseline_frame(trial, cut)
    baseline_fits(frame)
    baseline = time.perf_counter() - began
    return {
        "patients": int(job.row_counts.get("adsl", len(frame))),
        "seconds": seconds,
        "baseline_seconds": baseline,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trial", required=True)
    parser.add_argument("--data-cut", type=dt.date.fromisoformat, default=None)
    parser.add_argument("--format", default="csv")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    result = measure_export(args.trial, data_cut=args.data_cut, fmt=args.format)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
