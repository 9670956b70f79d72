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
            Patient(
                trial=trial,
                site=ipd.site_a,
                screening_number=f"P{i:05d}",
                study_id=f"IPD-01-{i:05d}",
                enrolment_date=dt.date(2022, 1, 1),
                dose_level=levels[i % 2],
                status="on_treatment",
            )
            for i in range(N)
        ]
    )
    Consent.objects.bulk_create(
        [Consent(patient=p, version="1", consent_date=dt.date(2022, 1, 1)) for p in patients]
    )
    visits = []
    for p in patients:
        for k in range(4):
            visits.append(
                Visit(
                    patient=p,
                    code=f"C{k}",
                    kind="treatment",
                    status="done",
                    visit_date=dt.date(2022, 1, 3) + dt.timedelta(days=28 * k),
                )
            )
    visits = Visit.objects.bulk_create(visits)
    DoseAdministration.objects.bulk_create(
        [
            DoseAdministration(
                visit=v,
                agent=agent,
                dose_level_id=v.patient.dose_level_id,
                status="given",
                dose_mg=Decimal(3),
                allowed_mg=Decimal(3),
                level_dose=Decimal(3),
                level_unit="mg",
            )
            for v in visits
        ]
    )
    contacts = []
    for i, p in enumerate(patients):
        if i % 3 == 0:
            contacts.append(
                LastContact(
                    patient=p,
                    contact_date=dt.date(2023, 1, 1) + dt.timedelta(days=i % 300),
                    vital_status="dead",
                    death_date=dt.date(2023, 1, 1) + dt.timedelta(days=i % 300),
                )
            )
        else:
            contacts.append(
                LastContact(
                    patient=p,
                    contact_date=dt.date(2023, 6, 1) + dt.timedelta(days=i % 200),
                    vital_status="alive",
                )
            )
    LastContact.objects.bulk_create(contacts)
    with connection.cursor() as c:
        c.execute("SET session_replication_role = DEFAULT")
    print("setup", time.perf_counter() - t0)
    if False:
        pass
    cut = dt.date(2024, 12, 31)
    from survival.domain.analysis import analyse
    import numpy as np
    from survival.domain.km import fit_km_by_group

    def baseline():
        with connection.cursor() as cur:
            cur.execute("""
                select p.id, p.dose_level_id, min(v.visit_date), max(lc.contact_date) filter (where lc.vital_status='alive'), min(lc.death_date)
                from trials_patient p join trials_visit v on v.patient_id=p.id join trials_doseadministration d on d.visit_id=v.id
                left join trials_lastcontact lc on lc.patient_id=p.id
                where p.trial_id=%s group by p.id""", [trial.pk])
            rows = cur.fetchall()
        first = np.array([r[2].toordinal() for r in rows])
        dead = np.array([r[4] is not None for r in rows])
        end = np.array([(r[4] or r[3]).toordinal() for r in rows])
        days = (end - first).astype(float)
        groups = np.array([r[1] for r in rows], dtype=object)
        ev = dead.astype(int)
        for _ in range(4):
            fit_km(days, ev)
            fit_km_by_group(days, ev, groups)
        median_follow_up(days, ev)

    for rep in range(3):
        a = time.perf_counter()
        inputs = selectors.trial_inputs(trial, data_cut=cut)
        b = time.perf_counter()
        analysis = analyse(inputs)
        c = time.perf_counter()
        frames = analysis.frames()
        d = time.perf_counter()
        services.write_export(frames, analysis.context(), tmp_path / f"csv{rep}", fmt="csv")
        e = time.perf_counter()
        baseline()
        f = time.perf_counter()
        print(f"rep{rep} inputs {b-a:.3f} analyse {c-b:.3f} frames {d-c:.3f} csv {e-d:.3f} TOTAL {e-a:.3f} baseline {f-e:.3f} ratio {(e-a)/(f-e):.2f}")
    from django.test.utils import CaptureQueriesContext
    for rep in range(2):
        with CaptureQueriesContext(connection) as q:
            selectors.trial_inputs(trial, data_cut=cut)
        for x in q.captured_queries:
            print(x["time"], x["sql"][:110].replace("\n", " "))
    with connection.cursor() as cur:
        cur.execute("EXPLAIN " + q.captured_queries[5]["sql"])
        print("\n".join(r[0] for r in cur.fetchall()))
    import cProfile, pstats
    prof = cProfile.Profile(); prof.enable()
    services.write_export(frames, analysis.context(), tmp_path / "csvp", fmt="csv")
    prof.disable(); pstats.Stats(prof).sort_stats("tottime").print_stats(12)
    prof = cProfile.Profile(); prof.enable()
    analyse(inputs)
    prof.disable(); pstats.Stats(prof).sort_stats("tottime").print_stats(15)
    for fmt in ():
        a = time.perf_counter()
        services.write_export(frames, analysis.context(), tmp_path / fmt, fmt=fmt)
        print(fmt, f"{time.perf_counter()-a:.2f}")
