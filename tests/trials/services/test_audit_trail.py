"""Every change of every kind is in the audit history with who and why."""

from datetime import date
from decimal import Decimal

import pytest
from pghistory.models import Events

from tests.factories import days_ago, enrolled_patient
from trials import services
from trials.models import Visit

pytestmark = pytest.mark.django_db

CLINICAL_MODELS = {
    "trials.Patient",
    "trials.Consent",
    "trials.EligibilityAnswer",
    "trials.PatientStatusChange",
    "trials.Visit",
    "trials.DoseAdministration",
    "trials.LabResult",
    "trials.LastContact",
    "trials.ProtocolVersion",
    "trials.Trial",
    "trials.TrialSite",
    "trials.LabReferenceRange",
}


def test_every_event_of_a_whole_journey_has_a_user_and_a_reason(ipd):
    t = ipd
    tracked = Events.objects.filter(pgh_obj_model__in=CLINICAL_MODELS)
    before = set(tracked.values_list("pgh_model", "pgh_id"))
    # given: a journey touching every kind of record
    services.trial_design_amend(
        trial=t.trial,
        changes={"sae_full_report_days": 4},
        reason="Amendment 1: faster SAE reports",
        effective_date=date(2024, 3, 1),
        acting_user=t.trial_admin,
    )
    services.lab_reference_range_set(
        site=t.site_a,
        analyte="PLT",
        lln="140",
        uln="400",
        unit="10^9/L",
        acting_user=t.trial_admin,
        reason="site lab ranges",
    )
    patient = enrolled_patient(t.trial, t.site_a, t.coordinator_a, planned_start_date=days_ago(20))
    c1d1 = Visit.objects.get(patient=patient, code="C1D1")
    services.visit_complete(
        visit=c1d1,
        visit_date=days_ago(20),
        acting_user=t.coordinator_a,
        expected_version=1,
        doses=[services.DoseInput("IXA", "given", Decimal(3))],
        labs=[services.LabInput("PLT", "120", "10^9/L")],
    )
    services.visit_complete(
        visit=c1d1,
        visit_date=days_ago(20),
        acting_user=t.coordinator_a,
        expected_version=2,
        doses=[services.DoseInput("IXA", "reduced", Decimal("2.3"), "neutropenia")],
        labs=[services.LabInput("PLT", "102", "10^9/L")],
        reason="values from the signed lab report",
    )
    services.visit_mark_missed(
        visit=Visit.objects.get(patient=patient, code="C1D8"),
        reason="hospitalised",
        acting_user=t.coordinator_a,
        expected_version=1,
    )
    services.patient_transition(
        patient=patient,
        to_status="off_treatment",
        effective_date=days_ago(3),
        reason_code="adverse_event",
        reason="grade 4 thrombocytopenia",
        acting_user=t.coordinator_a,
    )
    services.last_contact_record(
        patient=patient,
        contact_date=days_ago(1),
        vital_status="alive",
        acting_user=t.coordinator_a,
    )

    # when
    events = [e for e in tracked if (e.pgh_model, e.pgh_id) not in before]

    # then
    kinds = {e.pgh_model for e in events}
    assert {
        "trials.VisitEvent",
        "trials.DoseAdministrationEvent",
        "trials.LabResultEvent",
        "trials.PatientStatusChangeEvent",
        "trials.ConsentEvent",
        "trials.ProtocolVersionEvent",
        "trials.LastContactEvent",
        "trials.EligibilityAnswerEvent",
    } <= kinds
    without_reason = [
        (e.pgh_model, e.pgh_label)
        for e in events
        if not (e.pgh_context or {}).get("reason") or not (e.pgh_context or {}).get("user")
    ]
    assert without_reason == []
    reasons = {(e.pgh_model, (e.pgh_context or {}).get("reason")) for e in events}
    assert ("trials.LabResultEvent", "values from the signed lab report") in reasons
    assert ("trials.DoseAdministrationEvent", "values from the signed lab report") in reasons
    assert ("trials.VisitEvent", "hospitalised") in reasons
    assert ("trials.PatientEvent", "grade 4 thrombocytopenia") in reasons
