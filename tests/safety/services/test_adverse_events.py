"""Adverse events through the services: CTCAE terms and grades, episodes, seriousness,
attribution per agent, corrections with reasons, and the database backing the rules."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from safety import services
from safety.models import AdverseEvent, AdverseEventGrade, CtcaeTerm, SaeReport
from safety.services import AttributionInput, ConflictError, GradeChange
from tests.factories import days_ago
from tests.safety.factories import neutropenia
from trials.audit import history_for

pytestmark = pytest.mark.django_db


def test_the_dictionary_ships_every_ctcae_v5_term(ctcae):
    assert CtcaeTerm.objects.filter(version="5.0").count() == 837
    neut = CtcaeTerm.objects.get(version="5.0", term="Neutrophil count decreased")
    assert (neut.meddra_code, neut.soc) == (10029366, "Investigations")
    assert neut.allowed_grades == [1, 2, 3, 4]
    assert neut.grade_5 is None


def test_an_event_records_the_term_copy_grades_and_attribution(ipd, in_window):
    # when
    ae = services.adverse_event_create(
        patient=in_window,
        term="fatigue",
        onset_date=days_ago(10),
        grade=2,
        grade_changes=[GradeChange(days_ago(7), 3)],
        attributions=[
            AttributionInput("IXA", "possible", "held"),
            AttributionInput("POM", "unlikely"),
        ],
        acting_user=ipd.coordinator_a,
    )

    # then
    assert (ae.term, ae.ctcae_version, ae.meddra_code, ae.soc) == (
        "Fatigue",
        "5.0",
        10016256,
        "General disorders and administration site conditions",
    )
    assert ae.max_grade == 3
    episodes = list(ae.grade_episodes.order_by("onset_date"))
    assert [(e.grade, e.onset_date, e.resolved_on) for e in episodes] == [
        (2, days_ago(10), days_ago(7)),
        (3, days_ago(7), None),
    ]
    assert {(a.agent.code, a.attribution, a.action_taken) for a in ae.attributions.all()} == {
        ("IXA", "possible", "held"),
        ("POM", "unlikely", "none"),
    }
    assert history_for(ae)[0].reason == "adverse event recorded"


def test_a_grade_the_term_does_not_allow_is_refused(ipd, in_window):
    with pytest.raises(ValidationError) as caught:
        neutropenia(in_window, ipd.coordinator_a, onset=days_ago(3), grade=5)

    assert (
        "Grade 5 is not defined for Neutrophil count decreased"
        in caught.value.message_dict["grade"][0]
    )
    assert not AdverseEvent.objects.exists()


def test_the_database_refuses_a_disallowed_grade_whatever_the_code_path(ipd, in_window):
    ae = neutropenia(in_window, ipd.coordinator_a, onset=days_ago(3), grade=3)

    with pytest.raises(IntegrityError), transaction.atomic():
        AdverseEventGrade.objects.filter(adverse_event=ae).update(grade=5)
    with pytest.raises(IntegrityError), transaction.atomic():
        AdverseEvent.objects.filter(pk=ae.pk).update(term="Fatigue")


# (what is wrong, the input that is wrong, the field that says so, what it says)
BAD_EVENTS = [
    ("unknown term", {"term": "Not a term"}, "term", "is not a CTCAE v5.0 term"),
    ("resolved before onset", {"resolution_date": days_ago(6)}, "resolution_date", "before"),
    ("resolved, outcome open", {"resolution_date": days_ago(1)}, "outcome", "choose its outcome"),
    ("recovered, no date", {"outcome": "recovered"}, "resolution_date", "Give the date"),
    ("future onset", {"onset_date": days_ago(-2)}, "grade", "in the future"),
    ("before consent", {"onset_date": days_ago(40)}, "onset_date", "before the patient's consent"),
    ("grade 5 fatigue", {"grade": 5, "term": "Fatigue"}, "grade", "not defined for Fatigue"),
    ("death, not fatal", {"seriousness": ["serious_death"]}, "seriousness", "fatal outcome"),
    (
        "unknown agent",
        {"attributions": [AttributionInput("XYZ", "possible")]},
        "attributions.XYZ",
        "not an agent",
    ),
]


def test_bad_events_are_refused_with_field_messages(ipd, in_window):
    base = {
        "patient": in_window,
        "term": "Nausea",
        "onset_date": days_ago(5),
        "grade": 2,
        "acting_user": ipd.coordinator_a,
    }
    said = {}

    for case, fields, field, _ in BAD_EVENTS:
        with pytest.raises(ValidationError) as caught:
            services.adverse_event_create(**{**base, **fields})
        said[case] = " ".join(caught.value.message_dict.get(field, ["(no message on the field)"]))

    assert {case: fragment in said[case] for case, *_, fragment in BAD_EVENTS} == {
        case: True for case, *_ in BAD_EVENTS
    }, said
    assert not AdverseEvent.objects.exists()


def test_a_grade_change_moves_the_maximum_grade_and_needs_a_reason(ipd, in_window):
    ae = services.adverse_event_create(
        patient=in_window,
        term="Nausea",
        onset_date=days_ago(5),
        grade=1,
        acting_user=ipd.coordinator_a,
    )

    with pytest.raises(ValidationError):
        services.adverse_event_grade_change(
            adverse_event=ae,
            grade=3,
            on_date=days_ago(2),
            acting_user=ipd.coordinator_a,
            reason="",
            expected_version=ae.version,
        )
    ae = services.adverse_event_grade_change(
        adverse_event=ae,
        grade=3,
        on_date=days_ago(2),
        acting_user=ipd.coordinator_a,
        reason="worse at review",
        expected_version=ae.version,
    )

    ae.refresh_from_db()
    assert ae.max_grade == 3
    assert ae.version == 2
    assert history_for(ae)[-1].reason == "worse at review"
    episode_history = history_for(ae.grade_episodes.get(grade=3))
    assert episode_history[0].reason == "worse at review"


def test_a_stale_version_is_refused(ipd, in_window):
    ae = services.adverse_event_create(
        patient=in_window,
        term="Nausea",
        onset_date=days_ago(5),
        grade=1,
        acting_user=ipd.coordinator_a,
    )
    services.adverse_event_update(
        adverse_event=ae,
        acting_user=ipd.coordinator_a,
        reason="verbatim added",
        expected_version=1,
        verbatim="queasy after breakfast",
    )

    with pytest.raises(ConflictError):
        services.adverse_event_update(
            adverse_event=ae,
            acting_user=ipd.coordinator_a,
            reason="expected",
            expected_version=1,
            expectedness="expected",
        )


def test_changing_the_term_rewrites_the_episodes(ipd, in_window):
    ae = services.adverse_event_create(
        patient=in_window,
        term="Fatigue",
        onset_date=days_ago(5),
        grade=3,
        acting_user=ipd.coordinator_a,
    )

    ae = services.adverse_event_update(
        adverse_event=ae,
        acting_user=ipd.coordinator_a,
        reason="coded wrongly",
        expected_version=1,
        term="Lung infection",
        grades=[GradeChange(days_ago(5), 4)],
    )

    ae.refresh_from_db()
    assert (ae.term, ae.max_grade) == ("Lung infection", 4)
    assert list(ae.grade_episodes.values_list("grade", flat=True)) == [4]


def test_a_resolved_event_closes_its_last_episode(ipd, in_window):
    ae = services.adverse_event_create(
        patient=in_window,
        term="Nausea",
        onset_date=days_ago(5),
        grade=2,
        acting_user=ipd.coordinator_a,
    )

    services.adverse_event_update(
        adverse_event=ae,
        acting_user=ipd.coordinator_a,
        reason="resolved",
        expected_version=1,
        resolution_date=days_ago(1),
        outcome="recovered",
    )

    assert ae.grade_episodes.get().resolved_on == days_ago(1)


def test_a_serious_event_starts_the_sae_clock_and_withdrawing_seriousness_withdraws_it(
    ipd, in_window
):
    ae = services.adverse_event_create(
        patient=in_window,
        term="Lung infection",
        onset_date=days_ago(2),
        grade=3,
        seriousness=["serious_hospitalisation"],
        acting_user=ipd.coordinator_a,
    )
    report = SaeReport.objects.get(adverse_event=ae)
    assert report.status == "open"
    assert report.initial_due_at - report.awareness_at == timedelta(hours=24)
    assert report.full_due_at - report.awareness_at == timedelta(days=5)

    services.adverse_event_update(
        adverse_event=ae,
        acting_user=ipd.coordinator_a,
        reason="treated as outpatient",
        expected_version=ae.version,
        seriousness=[],
    )

    report.refresh_from_db()
    assert report.status == "withdrawn"
    assert "treated as outpatient" in report.status_reason


def test_a_fatal_event_is_grade_5_serious_and_ended(ipd, in_window):
    ae = services.adverse_event_create(
        patient=in_window,
        term="Lung infection",
        onset_date=days_ago(4),
        grade=3,
        grade_changes=[GradeChange(days_ago(1), 5)],
        outcome="fatal",
        resolution_date=days_ago(1),
        seriousness=["serious_death"],
        acting_user=ipd.coordinator_a,
    )

    assert (ae.max_grade, ae.outcome, ae.is_serious) == (5, "fatal", True)
