import datetime as dt
import time
from decimal import Decimal

import pytest
from django.db import connection

from dosing.models import DoseLevel
from survival import selectors, services
from survival.domain.km import fit_km, median_follow_up
from trials.models import Consent, DoseAdministration, LastContact, Patient, TrialAgent, Visit

pytestmark = pytest.mark.django_db
N = 10_000


def test_perf(ipd, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    trial = ipd.trial
    levels = list(DoseLevel.objects.filter(trial=trial, number__in=[1, 2]))
    agent = TrialAgent.objects.filter(trial=trial).first()
    t0 = time.perf_counter()
    with connection.cursor() as c:
        c.execute("SET session_replication_role = replica")
    patients = Patient.objects.bulk_create(
        [
            Patient(trial=trial, site=ipd.site_a, screening_number=f"P{i:05d}", study_id=f"IPD-01-{i:05d}",
                    enrolment_date=dt.date(2022, 1, 1), dose_level=levels[i % 2], status="on_treatment")
            for i in range(N)
        ]
    )
    Consent.objects.bulk_create([Consent(patient=p, version="1", consent_date=dt.date(2022, 1, 1)) for p in patients])
    visits = []
    for p in patients:
        for k in range(4):
            visits.append(Visit(patient=p, code=f"C{k}", kind="treatment", status="done", visit_date=dt.date(2022, 1, 3) + dt.timedelta(days=28 * k)))
    visits = Visit.objects.bulk_create(visits)
    DoseAdministration.objects.bulk_create([
        DoseAdministration(visit=v, agent=agent, dose_level_id=v.patient.dose_level_id, status="given", dose_mg=Decimal(3), allowed_mg=Decimal(3), level_dose=Decimal(3), level_unit="mg")
        for v in visits
    ])
    contacts = []
    for i, p in enumerate(patients):
        if i % 3 == 0:
            contacts.append(LastContact(patient=p, contact_date=dt.date(2023, 1, 1) + dt.timedelta(days=i % 300), vital_status="dead", death_date=dt.date(2023, 1, 1) + dt.timedelta(days=i % 300)))
        else:
            contacts.append(LastContact(patient=p, contact_date=dt.date(2023, 6, 1) + dt.timedelta(days=i % 200), vital_status="alive"))
    LastContact.objects.bulk_create(contacts)
    with connection.cursor() as c:
        c.execute("SET session_replication_role = DEFAULT")
    print("setup", time.perf_counter() - t0)
    if False:
        pass
    cut = dt.date(2024, 12, 31)

    import gc
    from survival.domain.endpoints import derive_all_endpoints
    from survival.domain.km import fit_endpoints
    gc.collect(); gc.freeze()
    for rep in range(3):
        a = time.perf_counter(); inputs = selectors.trial_inputs(trial, data_cut=cut); b = time.perf_counter()
        eps = derive_all_endpoints([p.endpoint_input() for p in inputs.patients], data_cut=cut); c = time.perf_counter()
        fit_endpoints(eps); fit_endpoints(eps, groups=inputs.dose_groups, group_order=inputs.dose_group_order); d = time.perf_counter()
        from survival.domain.analysis import analyse
        an = analyse(inputs); e = time.perf_counter()
        fr = an.frames(); f = time.perf_counter()
        services.write_export(fr, an.context(), tmp_path / f"r{rep}", fmt="csv"); g = time.perf_counter()
        print(f"rep{rep} inputs {b-a:.3f} derive {c-b:.3f} fits {d-c:.3f} analyse {e-d:.3f} frames {f-e:.3f} csv {g-f:.3f}")
    t0 = time.perf_counter()
    inputs = selectors.trial_inputs(trial, data_cut=cut)
    t1 = time.perf_counter()
    from survival.domain.analysis import analyse
    analysis = analyse(inputs)
    t2 = time.perf_counter()
    frames = analysis.frames()
    t3 = time.perf_counter()
    services.write_export(frames, analysis.context(), tmp_path / "csv", fmt="csv")
    t4 = time.perf_counter()
    print(f"inputs {t1-t0:.2f} analyse {t2-t1:.2f} frames {t3-t2:.2f} csv {t4-t3:.2f} total {t4-t0:.2f}")
    for fmt in ("parquet", "xpt", "xlsx"):
        a = time.perf_counter()
        services.write_export(frames, analysis.context(), tmp_path / fmt, fmt=fmt)
        print(fmt, f"{time.perf_counter()-a:.2f}")

    # baseline: one SQL query + the same fits
    b0 = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute("""
            select p.id, min(v.visit_date), max(lc.contact_date) filter (where lc.vital_status='alive'), min(lc.death_date)
            from trials_patient p join trials_visit v on v.patient_id=p.id join trials_doseadministration d on d.visit_id=v.id
            left join trials_lastcontact lc on lc.patient_id=p.id
            where p.trial_id=%s group by p.id""", [trial.pk])
        rows = cur.fetchall()
    import numpy as np
    first = np.array([r[1].toordinal() for r in rows]); 
    dead = np.array([r[3] is not None for r in rows])
    end = np.array([(r[3] or r[2]).toordinal() for r in rows])
    days = end - first
    groups = np.array([r[0] % 2 for r in rows])
    for _ in range(3):  # TTP, PFS, OS overall + by group
        fit_km(days, dead.astype(int))
        for g in (0, 1):
            fit_km(days[groups == g], dead[groups == g].astype(int))
    median_follow_up(days, dead.astype(int))
    b1 = time.perf_counter()
    print(f"baseline {b1-b0:.2f}")
