"""The DLT definition through the services: flagging inside the window, adjudication with an
e-signature, voiding on change, window closing, and the escalation evaluation enqueued."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from safety import selectors, services
from safety.models import DltAdjudication, DltWindow, PotentialDlt, Signature
from safety.services import AttributionInput, ConflictError, GradeChange
from tests.factories import MembershipFactory, UserFactory, days_ago, enrolled_patient
from tests.safety.factories import (
    DEX_ONLY,
    FULL_C1_DOSES,
    POM_DEX,
    dosed_patient,
    neutropenia,
    record_visit,
)
from trials import services as trial_services
from trials.audit import history_for
from trials.models import Role

pytestmark = pytest.mark.django_db


def adjudicate(potential, user, decision="confirmed", reason="meets the protocol DLT definition"):
    return services.potential_dlt_adjudicate(
        potential_dlt=potential,
        decision=decision,
        reason=reason,
        signer=user,
        meaning="I confirm my DLT assessment",
        acting_user=user,
        expected_version=potential.version,
    )


def test_the_first_dose_opens_a_21_day_window(ipd, in_window):
    window = DltWindow.objects.get(patient=in_window)

    assert (window.opens_on, window.last_day, window.length_days) == (
        days_ago(15),
        days_ago(15) + timedelta(days=20),
        21,
    )
    assert window.status == "pending"
    assert window.dose_level.number == 1
    assert window.planned_doses == 8  # IXA days 1, 8; POM and DEX days 1, 8, 15
    assert window.doses_received == 3


def test_one_window_per_patient_is_a_database_rule(ipd, in_window):
    window = DltWindow.objects.get(patient=in_window)
    window.pk = None

    with pytest.raises(IntegrityError), transaction.atomic():
        window.save()


# --- Flagging, rule by rule (trial A's definition) ---------------------------------------------


# (case, term, grade changes as (days ago, grade), clinical facts, the rule that flags it)
TRIAL_A_CASES = [
    (
        "neutropenia g4 for 12 days",
        "Neutrophil count decreased",
        [(12, 4)],
        {},
        "heme_neut_g4_gt7d",
    ),
    ("neutropenia g4 for 5 days so far", "Neutrophil count decreased", [(5, 4)], {}, None),
    ("neutropenia g4 for 4 days", "Neutrophil count decreased", [(12, 4), (8, 3)], {}, None),
    ("neutropenia g3", "Neutrophil count decreased", [(12, 3)], {}, None),
    (
        "febrile neutropenia",
        "Febrile neutropenia",
        [(3, 3)],
        {"with_fever": True},
        "heme_febrile_neutropenia_g3",
    ),
    ("thrombocytopenia g4", "Platelet count decreased", [(4, 4)], {}, "heme_plt_g4"),
    (
        "thrombocytopenia g3 with bleeding",
        "Platelet count decreased",
        [(4, 3)],
        {"with_bleeding": True},
        "heme_plt_g3_bleeding",
    ),
    ("thrombocytopenia g3 without bleeding", "Platelet count decreased", [(4, 3)], {}, None),
    ("fatigue g3", "Fatigue", [(6, 3)], {}, "nonheme_g3"),
    ("lung infection g3", "Lung infection", [(6, 3)], {}, "nonheme_g3"),
    ("anaemia g3 (haematological)", "Anemia", [(6, 3)], {}, None),
    ("nausea g3 controlled in 48 h", "Nausea", [(6, 3)], {"controlled_within_hours": 48}, None),
    (
        "nausea g3 controlled in 96 h",
        "Nausea",
        [(6, 3)],
        {"controlled_within_hours": 96},
        "nonheme_g3",
    ),
    ("nausea g2", "Nausea", [(6, 2)], {}, None),
    ("fatigue g3 before the first dose", "Fatigue", [(17, 3)], {}, None),
]


def test_trial_a_rules_flag_potential_dlts_through_the_service(ipd, in_window):
    # given each case recorded as an event of the patient, attributed at least possible
    events = {}
    for case, term, grades, fields, _ in TRIAL_A_CASES:
        (onset_days, onset_grade), *later = grades
        events[case] = services.adverse_event_create(
            patient=in_window,
            term=term,
            onset_date=days_ago(onset_days),
            grade=onset_grade,
            grade_changes=[GradeChange(days_ago(d), g) for d, g in later],
            attributions=[AttributionInput("POM", "probable")],
            acting_user=ipd.coordinator_a,
            **fields,
        )

    # then exactly the expected ones are flagged, by the expected rule
    flagged = {
        p.adverse_event_id: p.rule_ids for p in PotentialDlt.objects.filter(status="pending")
    }
    assert {case: flagged.get(events[case].pk) for case, *_ in TRIAL_A_CASES} == {
        case: ([rule] if rule else None) for case, *_, rule in TRIAL_A_CASES
    }


def test_an_event_needs_at_least_possible_attribution(ipd, in_window):
    ae = neutropenia(
        in_window,
        ipd.coordinator_a,
        onset=days_ago(12),
        attributions=[AttributionInput("IXA", "unlikely"), AttributionInput("POM", "unrelated")],
    )
    assert not PotentialDlt.objects.filter(adverse_event=ae).exists()

    services.adverse_event_attribute(
        adverse_event=ae,
        agent="POM",
        attribution="possible",
        action_taken="held",
        acting_user=ipd.coordinator_a,
        reason="investigator's assessment",
        expected_version=ae.version,
    )

    assert PotentialDlt.objects.get(adverse_event=ae).status == "pending"


def test_an_ongoing_neutropenia_is_flagged_by_the_daily_sweep_once_it_lasts_8_days(ipd, in_window):
    ae = neutropenia(in_window, ipd.coordinator_a, onset=days_ago(3))
    assert not PotentialDlt.objects.filter(adverse_event=ae).exists()

    services.dlt_windows_sweep(today=days_ago(-5))  # 8 days after onset, still in the window

    assert PotentialDlt.objects.get(adverse_event=ae).rule_ids == ["heme_neut_g4_gt7d"]


def test_events_recorded_before_the_first_dose_is_entered_are_judged_when_it_opens(ipd):
    patient = enrolled_patient(
        ipd.trial,
        ipd.site_a,
        ipd.coordinator_a,
        consent_date=days_ago(25),
        enrolment_date=days_ago(22),
        planned_start_date=days_ago(20),
    )
    ae = services.adverse_event_create(
        patient=patient,
        term="Fatigue",
        onset_date=days_ago(10),
        grade=3,
        attributions=[AttributionInput("IXA", "possible")],
        acting_user=ipd.coordinator_a,
    )

    record_visit(patient, "C1D1", days_ago(20), ipd.coordinator_a, FULL_C1_DOSES)

    assert PotentialDlt.objects.get(adverse_event=ae).status == "pending"


# --- Adjudication ---------------------------------------------------------------------------


def test_an_investigator_confirms_a_dlt_with_a_signature_and_escalation_is_enqueued(
    ipd, in_window, escalations, django_capture_on_commit_callbacks
):
    ae = neutropenia(in_window, ipd.coordinator_a, onset=days_ago(12))
    potential = PotentialDlt.objects.get(adverse_event=ae)

    with django_capture_on_commit_callbacks(execute=True):
        adjudication = adjudicate(potential, ipd.investigator)

    assert escalations == [(ipd.trial.pk,)]
    potential.refresh_from_db()
    assert potential.status == "confirmed"
    signature = adjudication.signature
    assert (signature.signer, signature.meaning) == (
        ipd.investigator,
        "I confirm my DLT assessment",
    )
    assert len(signature.data_hash) == 64
    assert signature.payload["subject"]["term"] == "Neutrophil count decreased"
    assert signature.payload["decision"] == "confirmed"
    window = DltWindow.objects.get(patient=in_window)
    assert window.status == "dlt"
    assert history_for(potential)[-1].reason == "meets the protocol DLT definition"
    state = selectors.dlt_states_for_trial(ipd.trial)[in_window.pk]
    assert (state.status, state.confirmed_dlt_ae_ids) == ("DLT", (ae.pk,))


def test_a_rejected_dlt_leaves_the_window_pending_and_still_enqueues(
    ipd, in_window, escalations, django_capture_on_commit_callbacks
):
    ae = neutropenia(in_window, ipd.coordinator_a, onset=days_ago(12))
    potential = PotentialDlt.objects.get(adverse_event=ae)

    with django_capture_on_commit_callbacks(execute=True):
        adjudicate(potential, ipd.investigator, "rejected", "due to disease progression")

    assert escalations == [(ipd.trial.pk,)]
    assert DltWindow.objects.get(patient=in_window).status == "pending"
    assert selectors.dlt_states_for_trial(ipd.trial)[in_window.pk].status == "PENDING"


def test_only_an_investigator_of_the_site_adjudicates(ipd, in_window):
    potential = PotentialDlt.objects.get(
        adverse_event=neutropenia(in_window, ipd.coordinator_a, onset=days_ago(12))
    )
    elsewhere = UserFactory(email="inv.b@example.org")
    MembershipFactory(user=elsewhere, trial=ipd.trial, role=Role.INVESTIGATOR, sites=[ipd.site_b])

    for user in (ipd.coordinator_a, ipd.trial_admin, elsewhere):
        with pytest.raises(PermissionDenied):
            adjudicate(potential, user)
    assert not Signature.objects.exists()


def test_adjudication_needs_a_reason_a_meaning_and_the_current_version(ipd, in_window):
    potential = PotentialDlt.objects.get(
        adverse_event=neutropenia(in_window, ipd.coordinator_a, onset=days_ago(12))
    )

    with pytest.raises(ValidationError):
        adjudicate(potential, ipd.investigator, reason=" ")
    with pytest.raises(ValidationError):
        services.potential_dlt_adjudicate(
            potential_dlt=potential,
            decision="confirmed",
            reason="clear DLT",
            signer=ipd.investigator,
            meaning="",
            acting_user=ipd.investigator,
            expected_version=potential.version,
        )
    with pytest.raises(ConflictError):
        services.potential_dlt_adjudicate(
            potential_dlt=potential,
            decision="confirmed",
            reason="clear DLT",
            signer=ipd.investigator,
            meaning="I confirm",
            acting_user=ipd.investigator,
            expected_version=potential.version + 1,
        )
    assert not DltAdjudication.objects.exists()


def test_one_valid_adjudication_per_potential_dlt(ipd, in_window):
    potential = PotentialDlt.objects.get(
        adverse_event=neutropenia(in_window, ipd.coordinator_a, onset=days_ago(12))
    )
    first = adjudicate(potential, ipd.investigator)

    with pytest.raises(ValidationError):
        adjudicate(PotentialDlt.objects.get(pk=potential.pk), ipd.investigator)
    duplicate = DltAdjudication(
        potential_dlt=potential,
        decision="rejected",
        reason="again",
        adjudicated_by=ipd.investigator,
        adjudicated_at=first.adjudicated_at,
        signature=Signature.objects.create(
            signer=ipd.investigator,
            signed_at=first.adjudicated_at,
            meaning="x",
            method="password",
            subject_kind="potential_dlt",
            subject_id=potential.pk,
            payload={},
            data_hash="0" * 64,
        ),
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()


def test_correcting_a_confirmed_dlt_voids_its_signature_and_re_enqueues(
    ipd, in_window, escalations, django_capture_on_commit_callbacks
):
    ae = neutropenia(in_window, ipd.coordinator_a, onset=days_ago(12))
    potential = PotentialDlt.objects.get(adverse_event=ae)
    adjudication = adjudicate(potential, ipd.investigator)
    escalations.clear()

    with django_capture_on_commit_callbacks(execute=True):
        services.adverse_event_update(
            adverse_event=ae,
            acting_user=ipd.coordinator_a,
            reason="ANC re-read: grade 3",
            expected_version=ae.version,
            grades=[GradeChange(days_ago(12), 3)],
        )

    adjudication.refresh_from_db()
    adjudication.signature.refresh_from_db()
    potential.refresh_from_db()
    assert adjudication.voided_at is not None
    assert "no longer matches" in adjudication.signature.void_reason
    assert potential.status == "withdrawn"
    assert DltWindow.objects.get(patient=in_window).status == "pending"
    assert escalations == [(ipd.trial.pk,)]


def test_a_change_that_keeps_the_match_sends_the_dlt_back_to_the_queue(ipd, in_window):
    ae = neutropenia(in_window, ipd.coordinator_a, onset=days_ago(12))
    potential = PotentialDlt.objects.get(adverse_event=ae)
    adjudicate(potential, ipd.investigator)

    services.adverse_event_attribute(
        adverse_event=ae,
        agent="POM",
        attribution="probable",
        action_taken="held",
        acting_user=ipd.coordinator_a,
        reason="pomalidomide also implicated",
        expected_version=ae.version,
    )

    potential.refresh_from_db()
    assert potential.status == "pending"
    assert DltAdjudication.objects.get().voided_at is not None


def test_the_event_resolving_later_keeps_the_signature(ipd, in_window):
    ae = neutropenia(in_window, ipd.coordinator_a, onset=days_ago(12))
    adjudicate(PotentialDlt.objects.get(adverse_event=ae), ipd.investigator)

    services.adverse_event_update(
        adverse_event=ae,
        acting_user=ipd.coordinator_a,
        reason="recovered",
        expected_version=ae.version,
        resolution_date=days_ago(1),
        outcome="recovered",
    )

    assert DltAdjudication.objects.get().voided_at is None
    assert PotentialDlt.objects.get(adverse_event=ae).status == "confirmed"


# --- Windows closing ------------------------------------------------------------------------


def test_a_window_completed_with_enough_doses_is_evaluable_and_enqueues(
    ipd, escalations, django_capture_on_commit_callbacks
):
    # given doses entered while the window ran (its last day was 5 days ago)
    entered = days_ago(6)
    patient = dosed_patient(ipd, first_dose_days_ago=25, today=entered)
    record_visit(patient, "C1D8", days_ago(18), ipd.coordinator_a, FULL_C1_DOSES, today=entered)
    record_visit(patient, "C1D15", days_ago(11), ipd.coordinator_a, POM_DEX, today=entered)
    assert DltWindow.objects.get(patient=patient).status == "pending"

    # when the daily sweep runs
    with django_capture_on_commit_callbacks(execute=True):
        changed = services.dlt_windows_sweep()

    window = DltWindow.objects.get(patient=patient)
    assert changed == 1
    assert window.status == "completed_evaluable"
    assert "received 8 of 8 planned doses" in window.reason
    assert window.closed_at is not None
    assert escalations == [(ipd.trial.pk,)]
    assert selectors.dlt_states_for_trial(ipd.trial)[patient.pk].status == "NO_DLT"


def test_a_window_completed_with_too_few_doses_is_not_evaluable(ipd, escalations):
    patient = dosed_patient(ipd, first_dose_days_ago=25, today=days_ago(6))
    record_visit(patient, "C1D8", days_ago(18), ipd.coordinator_a, DEX_ONLY, today=days_ago(6))

    services.dlt_windows_sweep()

    window = DltWindow.objects.get(patient=patient)
    state = selectors.dlt_states_for_trial(ipd.trial)[patient.pk]
    assert window.status == "not_evaluable"
    assert "received only 4 of 8" in window.reason
    assert (state.status, state.reason) == ("NOT_EVALUABLE", window.reason)


def test_the_sweep_is_idempotent(ipd, escalations, django_capture_on_commit_callbacks):
    dosed_patient(ipd, first_dose_days_ago=25, today=days_ago(6))
    assert services.dlt_windows_sweep() == 1
    closed = DltWindow.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        assert services.dlt_windows_sweep() == 0

    assert DltWindow.objects.get().version == closed.version
    assert escalations == []


def test_off_treatment_for_progression_inside_the_window_is_not_evaluable(
    ipd, in_window, escalations, django_capture_on_commit_callbacks
):
    # when the trials app takes the patient off treatment (it calls the safety hook)
    with django_capture_on_commit_callbacks(execute=True):
        trial_services.patient_transition(
            patient=in_window,
            to_status="off_treatment",
            effective_date=days_ago(2),
            reason_code="progression",
            reason="PD on imaging",
            acting_user=ipd.coordinator_a,
        )

    assert DltWindow.objects.get(patient=in_window).status == "not_evaluable"
    assert escalations == [(ipd.trial.pk,)]


# --- The contract with the dose escalation engine -------------------------------------------


def test_dlt_states_cover_every_patient_with_a_dose_level(ipd, in_window):
    from dosing.domain.escalation import DLTStatus

    waiting = enrolled_patient(
        ipd.trial, ipd.site_b, ipd.coordinator_b, planned_start_date=days_ago(-3)
    )

    states = selectors.dlt_states_for_trial(ipd.trial, today=days_ago(0))

    assert set(states) == {in_window.pk, waiting.pk}
    assert {s.status for s in states.values()} <= {d.name for d in DLTStatus}
    dosed = states[in_window.pk]
    assert (dosed.window_opens_on, dosed.window_closes_on) == (days_ago(15), days_ago(-5))
    assert (dosed.days_elapsed, dosed.days_remaining) == (15, 6)
    assert dosed.dose_level_id == in_window.dose_level_id
    assert states[waiting.pk].status == "PENDING"
    assert states[waiting.pk].window_opens_on is None


def test_dlt_states_take_a_constant_number_of_queries(ipd, django_assert_num_queries):
    for days in (10, 12, 14):
        dosed_patient(ipd, first_dose_days_ago=days)

    with django_assert_num_queries(4):
        assert len(selectors.dlt_states_for_trial(ipd.trial)) == 3


# --- The DLT definition as trial data -------------------------------------------------------


def custom_definition(**changes):
    from safety.domain.dlt_rules import TRIAL_A_DLT_DEFINITION_DATA
    from safety.selectors import _plain

    data = _plain(TRIAL_A_DLT_DEFINITION_DATA)
    data["id"] = "ipd-amended"
    data["rules"][0]["min_duration_days"] = 6  # grade 4 neutropenia lasting > 5 days
    return {**data, **changes}


def test_a_trials_own_definition_applies_from_its_protocol_version(ipd, in_window):
    from trials.models import ProtocolVersion

    version = ProtocolVersion.objects.get(trial=ipd.trial, number=1)
    services.dlt_definition_set(
        trial=ipd.trial,
        protocol_version=version,
        data=custom_definition(),
        acting_user=ipd.trial_admin,
        reason="protocol section 7.3",
    )

    ae = neutropenia(in_window, ipd.coordinator_a, onset=days_ago(6))

    assert selectors.dlt_definition_for(ipd.trial).id == "ipd-amended"
    assert PotentialDlt.objects.get(adverse_event=ae).rule_ids == ["heme_neut_g4_gt7d"]


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"window_days": 28}, "differs from the protocol's DLT window"),
        ({"rules": [{"id": "x", "terms": ["Neutropenia"], "min_grade": 4}]}, "unknown CTCAE"),
        ({"min_attribution": "maybe"}, "unknown attribution"),
    ],
)
def test_a_bad_definition_is_refused(ipd, changes, fragment):
    from trials.models import ProtocolVersion

    with pytest.raises(ValidationError) as caught:
        services.dlt_definition_set(
            trial=ipd.trial,
            protocol_version=ProtocolVersion.objects.get(trial=ipd.trial, number=1),
            data=custom_definition(**changes),
            acting_user=ipd.trial_admin,
            reason="protocol section 7.3",
        )

    assert fragment in str(caught.value)


def test_a_corrected_first_dose_date_moves_the_window(ipd, in_window):
    from trials.models import Visit

    c1d1 = Visit.objects.get(patient=in_window, code="C1D1")
    trial_services.visit_record(
        visit=c1d1,
        visit_date=days_ago(14),
        acting_user=ipd.coordinator_a,
        expected_version=c1d1.version,
        doses=FULL_C1_DOSES,
        reason="date typed wrongly",
    )
    services.safety_on_doses_recorded(patient=in_window, acting_user=ipd.coordinator_a)

    window = DltWindow.objects.get(patient=in_window)
    assert (window.opens_on, window.last_day) == (days_ago(14), days_ago(-6))
