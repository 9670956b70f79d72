"""One trial with a record of every kind, built once for the role × URL matrix.

Trial A (IPD), two sites, one user per role; every record the URL patterns point at belongs to
a patient of site A, so a coordinator of site B must get a 404 for each of them. Built through
the services where they exist (the same rows production writes), directly where a test factory
of the app does the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from tests.factories import (
    MembershipFactory,
    SiteFactory,
    TrialFactory,
    TrialSiteFactory,
    UserFactory,
    days_ago,
)
from trials.models import Role, User

#: The direct identifiers of the site A patient: distinctive, so a page or an answer that
#: leaks one of them is found by a plain substring search.
GIVEN_NAME = "Philippa"
FAMILY_NAME = "Quenneville"
DATE_OF_BIRTH = date(1951, 7, 23)
#: How the date of birth may be written in a page or an answer.
DATE_OF_BIRTH_FORMS = ("1951-07-23", "23/07/1951", "23 Jul 1951", "July 23, 1951", "23.07.1951")


@dataclass
class World:
    users: dict[str, User]
    #: kwarg or object name → value for ``reverse``
    objects: dict[str, object] = field(default_factory=dict)
    patient_pk: int = 0
    study_id: str = ""


def build_world() -> World:
    from decimal import Decimal

    from django.utils import timezone

    from dosing import selectors as dosing_selectors
    from dosing.services import oc_simulation_start
    from response.models import InvestigatorResponse, RecistLesion, ResponseQuery
    from safety.models import CtcaeTerm, LabGradeSuggestion, PotentialDlt, SaeReport
    from safety.services import ctcae_dictionary_install, safety_grade_lab_results
    from survival.services import export_job_start
    from tests.dosing.factories import cohort, evaluate
    from tests.safety.factories import dosed_patient, neutropenia
    from trials import selectors as trial_selectors
    from trials import services
    from trials.models import Visit
    from trials.reference_trials import configure_reference_trial

    if not CtcaeTerm.objects.filter(version="5.0").exists():
        ctcae_dictionary_install(version="5.0", acting_user=None)

    trial = TrialFactory(code="IPD")
    site_a, site_b = SiteFactory(code="ALPHA"), SiteFactory(code="BETA")
    TrialSiteFactory(trial=trial, site=site_a, number="01")
    TrialSiteFactory(trial=trial, site=site_b, number="02")

    def member(email: str, role: str, sites=(), all_sites=False) -> User:
        user = UserFactory(email=email)
        MembershipFactory(user=user, trial=trial, role=role, sites=list(sites), all_sites=all_sites)
        return user

    users = {
        "coordinator": member("coord.a@example.org", Role.COORDINATOR, [site_a]),
        "coordinator_other_site": member("coord.b@example.org", Role.COORDINATOR, [site_b]),
        "investigator": member("inv@example.org", Role.INVESTIGATOR, all_sites=True),
        "statistician": member("stat@example.org", Role.STATISTICIAN, all_sites=True),
        "monitor": member("monitor.a@example.org", Role.MONITOR, [site_a]),
        "trial_admin": member("admin@example.org", Role.TRIAL_ADMIN, all_sites=True),
    }
    admin, coordinator = users["trial_admin"], users["coordinator"]
    configure_reference_trial("IPD", acting_user=admin, effective_date=date(2024, 1, 1))
    for status in ("open", "phase_i"):
        services.trial_transition(
            trial=trial, to_status=status, acting_user=admin, reason="approved"
        )
    trial.refresh_from_db()

    class T:  # the shape the app factories expect (``two_site_trial``'s attributes)
        pass

    t = T()
    t.trial, t.site_a, t.site_b = trial, site_a, site_b
    t.coordinator_a, t.coordinator_b = coordinator, users["coordinator_other_site"]

    # Two evaluable patients without a DLT at DL1, so the trial has an escalation decision.
    cohort(t, ["NO_DLT", "NO_DLT"])
    patient = dosed_patient(t, first_dose_days_ago=15)
    patient.given_name, patient.family_name = GIVEN_NAME, FAMILY_NAME
    patient.date_of_birth = DATE_OF_BIRTH
    patient.save(update_fields=["given_name", "family_name", "date_of_birth"])
    visit = Visit.objects.get(patient=patient, code="C1D1")

    lab = services.lab_result_record(
        visit=visit, analyte="PLT", value="20", unit="10^9/L", acting_user=coordinator
    )
    safety_grade_lab_results(patient=patient, lab_result_ids=[lab.pk], acting_user=coordinator)
    ae = neutropenia(
        patient, coordinator, onset=days_ago(12), seriousness=["serious_hospitalisation"]
    )
    potential = PotentialDlt.objects.get(adverse_event=ae)
    sae = SaeReport.objects.get(adverse_event=ae)
    suggestion = LabGradeSuggestion.objects.get(lab_result=lab)

    decision = evaluate(trial)
    job = oc_simulation_start(
        trial=trial,
        settings=dosing_selectors.escalation_settings(
            trial, levels=list(dosing_selectors.dose_levels(trial))
        ),
        true_dlt_rates=[0.05, 0.1, 0.2],
        n_sims=10,
        seed=1,
        acting_user=users["statistician"],
    )
    export = export_job_start(trial=trial, acting_user=users["statistician"])

    now = timezone.now()
    entry = InvestigatorResponse.objects.create(
        patient=patient,
        scope="best_overall_response",
        category="PR",
        entered_by=users["investigator"],
        entered_at=now,
    )
    query = ResponseQuery.objects.create(
        patient=patient,
        flag="OVERCALL",
        scope="best_overall_response",
        entered="PR",
        computed="SD",
        detail="entered PR, computed SD",
        key=f"test-{patient.pk}",
        raised_at=now,
    )
    lesion = RecistLesion.objects.create(
        patient=patient,
        code="T1",
        kind="target",
        organ="liver",
        baseline_date=days_ago(20),
        baseline_diameter_mm=Decimal("25.0"),
    )
    assert trial_selectors.patients_for_user(coordinator).filter(pk=patient.pk).exists()

    objects = {
        "code": trial.code,
        "fmt": "svg",
        "kind": "patient",
        "trial": trial.code,
        "site": site_a.pk,
        "patient": patient.pk,
        "visit": visit.pk,
        "lab": lab.pk,
        "ae": ae.pk,
        "suggestion": suggestion.pk,
        "potential_dlt": potential.pk,
        "sae": sae.pk,
        "decision": decision.pk,
        "simulation": job.pk,
        "export": export.pk,
        "entry_id": entry.pk,
        "query_id": query.pk,
        "lesion_id": lesion.pk,
    }
    return World(users=users, objects=objects, patient_pk=patient.pk, study_id=patient.study_id)
