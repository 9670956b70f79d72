"""Load the two demo trials (idempotent: a trial that already has patients is left alone)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta

from safety.services.dlt import dlt_window_evaluate
from trials.demo import DEMO_PROTOCOL_DAYS_BEFORE_TODAY, ensure_demo_users
from trials.demo_data import cfz, runner
from trials.demo_data.ipd import DATA_CUT_DAY, SEED, ipd_scripts
from trials.models import Membership, Patient, Role, Trial, User


def ipd_day0(today: date) -> date:
    """Day 0 of trial A (the first patient's first dose), so that the data cut is ``today``."""
    return today - timedelta(days=DATA_CUT_DAY)


def cfz_day0(today: date) -> date:
    """Day 0 of trial B (its first patient's first infusion), so that the data cut is ``today``."""
    return today - timedelta(days=cfz.DATA_CUT_DAY)


def _users(trial: Trial) -> tuple[dict[str, User], User]:
    coordinators = {}
    for m in Membership.objects.filter(trial=trial, role=Role.COORDINATOR).prefetch_related(
        "sites"
    ):
        for site in m.sites.all():
            coordinators[site.code] = m.user
    investigator = Membership.objects.get(trial=trial, role=Role.INVESTIGATOR).user
    return coordinators, investigator


def load_demo(*, today: date, progress: Callable[[str], None]) -> dict[str, int]:
    """Create what is missing; returns the number of patients created per trial."""
    day0 = ipd_day0(today)
    ensure_demo_users(
        protocol_effective_date=today - timedelta(days=DEMO_PROTOCOL_DAYS_BEFORE_TODAY)
    )
    created = {}
    with runner.quiet_enqueue():
        created["IPD"] = _load_ipd(today, day0, progress)
        created["CFZ"] = _load_cfz(today, progress)
    return created


def _load_ipd(today: date, day0: date, progress) -> int:
    trial = Trial.objects.get(code="IPD")
    if Patient.objects.filter(trial=trial, enrolment_date__isnull=False).exists():
        progress("IPD: already loaded, nothing to do")
        return 0
    coordinators, investigator = _users(trial)
    rng = random.Random(SEED)  # noqa: S311 - reproducible synthetic data, not security
    ctx = runner.DemoContext(trial, day0, coordinators, investigator, rng, seed=SEED)
    scripts = ipd_scripts()
    patients = {}
    cohorts = [
        ["A01", "A02", "A03"],
        ["A04"],
        ["A05", "A06", "A07"],
        ["A08", "A09", "A10"],
        ["A11", "A12", "A13"],
    ]
    by_key = {s.key: s for s in scripts}
    n = 0
    # Two screen failures, so that the screening log is not only successes.
    for site, day in (("NORTH", 40), ("SOUTH", 200)):
        n += 1
        runner.screen_and_enrol(
            ctx,
            site_code=site,
            start=ctx.on(day),
            n=n,
            height=None,
            weight=None,
            eligible=False,
        )
    for i, keys in enumerate(cohorts):
        for key in keys:
            n += 1
            patients[key] = runner.run_ipd_cycle_1(ctx, by_key[key], n)
            runner.ipd_adverse_events(ctx, patients[key], by_key[key], dlt_only=True)
        progress(f"IPD: phase I cohort {i + 1} treated ({', '.join(keys)})")
        if keys == ["A01", "A02", "A03"]:
            continue  # A02 withdrew: the replacement completes the cohort first
        group = [patients[k] for k in patients]
        close = ctx.on(max(by_key[k].start_day for k in keys) + 22)
        runner.close_windows_and_decide(ctx, group, close, progress)
    phase_two = [s for s in scripts if s.stage == "phase2"]
    for s in phase_two:
        n += 1
        patients[s.key] = runner.enrol_ipd_patient(ctx, s, n)
    runner.in_parallel(lambda s: runner.treat_ipd_cycle_1(ctx, patients[s.key], s), phase_two)
    progress("IPD: 19 phase II patients enrolled at the RP2D")
    # After cycle 1 the patients' histories are independent: played side by side.
    runner.in_parallel(
        lambda s: runner.run_ipd_treatment(ctx.for_patient(s.key), patients[s.key], s, today),
        scripts,
    )
    progress("IPD: treatment, response labs, adverse events and follow-up recorded")
    runner.evaluate_responses(trial)
    progress("IPD: IMWG responses and the Simon monitor evaluated")
    return len(patients) + 2


def _load_cfz(today: date, progress) -> int:
    """Trial B: a screen failure and ten patients (see ``cfz``), all through the services."""
    trial = Trial.objects.get(code="CFZ")
    if Patient.objects.filter(trial=trial, enrolment_date__isnull=False).exists():
        progress("CFZ: already loaded, nothing to do")
        return 0
    coordinators, investigator = _users(trial)
    rng = random.Random(cfz.SEED)  # noqa: S311 - reproducible synthetic data, not security
    ctx = runner.DemoContext(trial, cfz_day0(today), coordinators, investigator, rng, seed=cfz.SEED)
    # One screen failure (heart failure, exclusion EX2) before the first enrolment.
    runner.screen_and_enrol(
        ctx, site_code=cfz.SITE, start=ctx.on(-20), n=1, height=None, weight=None, eligible=False
    )
    scripts = cfz.cfz_scripts()
    patients = [
        runner.enrol_cfz_patient(ctx, script, n) for n, script in enumerate(scripts, start=2)
    ]
    runner.in_parallel(
        lambda item: runner.run_cfz_treatment(ctx.for_patient(item[1].key), *item, today),
        list(zip(patients, scripts, strict=True)),
    )
    progress(f"CFZ: {len(scripts)} patients treated, imaged (RECIST 1.0) and followed up")
    for patient in patients:
        dlt_window_evaluate(patient=patient, acting_user=investigator, today=today)
    runner.evaluate_responses(trial)
    progress("CFZ: DLT windows and RECIST 1.0 responses evaluated")
    return len(scripts) + 1
