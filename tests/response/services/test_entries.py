"""Investigator entries beside the computed call: typed discrepancies raised as queries, the
query workflow, and the signature that a change voids."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from response import services
from response.models import ResponseQuery, ResponseSignature
from tests.response.factories import cycles, record_labs, serum_course, set_design, treated_patient

pytestmark = pytest.mark.django_db

START = date(2025, 1, 6)
C2, C3, C4 = cycles(START, 3)


@pytest.fixture
def imwg(two_site_trial):
    set_design(two_site_trial.trial, criteria="IMWG2016", nadir_policy="lowest_observed")
    return two_site_trial


@pytest.fixture
def pr_patient(imwg):
    """Serum-only measurable: MR, PR, PR (BOR PR on C3D1)."""
    patient = treated_patient(imwg.trial, imwg.site_a, start=START)
    serum_course(patient, START, [1.6, 1.4, 1.3])
    services.response_evaluate_patient(patient_id=patient.pk)
    return patient


def enter(t, patient, *, when=None, category, **kw):
    scope = "assessment" if when else "best_overall_response"
    return services.investigator_response_record(
        patient=patient,
        scope=scope,
        assessment_date=when,
        category=category,
        acting_user=t.investigator,
        **kw,
    )


def active(patient):
    return list(
        ResponseQuery.objects.filter(patient=patient, status__in=["open", "answered"])
        .order_by("assessment_date", "flag")
        .values_list("flag", "assessment_date", "entered", "computed")
    )


@pytest.mark.parametrize(
    ("when", "category", "flag", "computed"),
    [(C4, "CR", "OVERCALL", "PR"), (C3, "SD", "UNDERCALL", "PR")],
)
def test_a_different_entry_raises_a_typed_query(imwg, pr_patient, when, category, flag, computed):
    enter(imwg, pr_patient, when=when, category=category)

    assert active(pr_patient) == [(flag, when, category, computed)]


def test_an_agreeing_entry_raises_nothing(imwg, pr_patient):
    enter(imwg, pr_patient, when=C3, category="PR")
    enter(imwg, pr_patient, category="PR")

    assert active(pr_patient) == []


def test_pd_missed(imwg):
    patient = treated_patient(imwg.trial, imwg.site_a, start=START)
    serum_course(patient, START, [1.6, 2.4, 2.6])
    services.response_evaluate_patient(patient_id=patient.pk)

    enter(imwg, patient, when=C3, category="SD")

    assert ("PD_MISSED", C3, "SD", "PD") in active(patient)


def test_an_unconfirmed_best_response_entered_as_confirmed(imwg):
    patient = treated_patient(imwg.trial, imwg.site_a, start=START)
    serum_course(patient, START, [2.6, 1.4])
    services.response_evaluate_patient(patient_id=patient.pk)

    enter(imwg, patient, category="PR")

    assert active(patient) == [("UNCONFIRMED_AS_CONFIRMED", None, "PR", "SD")]


def test_missing_data_is_raised_without_an_entry(imwg):
    patient = treated_patient(imwg.trial, imwg.site_a, start=START)
    record_labs(patient, START, serum_m_g_dl=3.0, urine_m_mg_24h=400)
    record_labs(patient, C2, serum_m_g_dl=1.2)  # the 24-h urine was not collected

    services.response_evaluate_patient(patient_id=patient.pk)

    (query,) = ResponseQuery.objects.filter(patient=patient, assessment_date=C2)
    assert (query.flag, query.computed, query.status) == ("NE_MISSING_DATA", "NE", "open")
    assert "URINE_MISSING" in query.detail


def test_a_corrected_entry_withdraws_the_query(imwg, pr_patient):
    entry = enter(imwg, pr_patient, when=C4, category="CR")

    enter(
        imwg,
        pr_patient,
        when=C4,
        category="PR",
        reason="misread the IFE",
        expected_version=entry.version,
    )

    query = ResponseQuery.objects.get(patient=pr_patient)
    assert query.status == "withdrawn"
    assert query.closed_at is not None
    assert active(pr_patient) == []


def test_a_correction_needs_a_reason_and_the_current_version(imwg, pr_patient):
    entry = enter(imwg, pr_patient, when=C4, category="CR")

    with pytest.raises(ValidationError) as no_reason:
        enter(imwg, pr_patient, when=C4, category="PR", expected_version=entry.version)
    with pytest.raises(services.ConflictError):
        enter(
            imwg,
            pr_patient,
            when=C4,
            category="PR",
            reason="typo",
            expected_version=entry.version + 1,
        )

    assert "reason" in no_reason.value.message_dict


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"when": date(2025, 2, 4), "category": "PR"}, "assessment_date"),
        ({"when": C2, "category": "NON_CR_NON_PD"}, "category"),
        ({"when": C2, "category": "PR", "pd_basis": "serum"}, "pd_basis"),
    ],
)
def test_bad_entries_are_refused_with_field_messages(imwg, pr_patient, kwargs, field):
    with pytest.raises(ValidationError) as caught:
        enter(imwg, pr_patient, **kwargs)

    assert field in caught.value.message_dict


def test_only_investigators_enter_responses(imwg, pr_patient):
    with pytest.raises(PermissionDenied):
        services.investigator_response_record(
            patient=pr_patient,
            scope="best_overall_response",
            category="PR",
            acting_user=imwg.coordinator_a,
        )


# --- The query workflow --------------------------------------------------------------------


@pytest.fixture
def query(imwg, pr_patient):
    enter(imwg, pr_patient, when=C4, category="CR")
    return ResponseQuery.objects.get(patient=pr_patient)


def test_the_site_answers_and_the_investigator_closes(imwg, query):
    answered = services.query_transition(
        query=query,
        to_status="answered",
        text="IFE still positive; entry to be corrected",
        acting_user=imwg.coordinator_a,
        expected_version=query.version,
    )
    closed = services.query_transition(
        query=answered,
        to_status="closed",
        text="accepted",
        acting_user=imwg.investigator,
    )

    assert (closed.status, closed.answered_by, closed.closed_by) == (
        "closed",
        imwg.coordinator_a,
        imwg.investigator,
    )


def test_a_closed_query_is_not_raised_again(imwg, pr_patient, query):
    services.query_transition(
        query=query,
        to_status="closed",
        text="entry stands: imaging CR",
        acting_user=imwg.investigator,
    )

    record_labs(pr_patient, C4 + timedelta(days=28), serum_m_g_dl=1.2)
    services.response_evaluate_patient(patient_id=pr_patient.pk)

    assert ResponseQuery.objects.filter(patient=pr_patient, flag="OVERCALL").count() == 1


def test_the_investigator_reopens_an_answer_that_does_not_resolve_it(imwg, query):
    services.query_transition(
        query=query, to_status="answered", text="checked", acting_user=imwg.coordinator_a
    )

    reopened = services.query_transition(
        query=query,
        to_status="open",
        text="please attach the IFE report",
        acting_user=imwg.investigator,
    )

    assert reopened.status == "open"


@pytest.mark.parametrize(
    ("who", "to_status"),
    [
        ("coordinator_b", "answered"),  # another site's coordinator
        ("statistician", "answered"),
        ("coordinator_a", "closed"),  # coordinators answer, investigators close
    ],
)
def test_who_may_act_on_a_query(imwg, query, who, to_status):
    with pytest.raises(PermissionDenied):
        services.query_transition(
            query=query, to_status=to_status, text="done", acting_user=getattr(imwg, who)
        )


def test_steps_outside_the_table_are_refused(imwg, query):
    closed = services.query_transition(
        query=query, to_status="closed", text="fine", acting_user=imwg.investigator
    )

    with pytest.raises(ValidationError) as caught:
        services.query_transition(
            query=closed, to_status="answered", text="late", acting_user=imwg.coordinator_a
        )

    assert "final" in caught.value.message_dict["to_status"][0]


# --- Signature -------------------------------------------------------------------------------


def test_signing_stores_what_was_signed_and_its_hash(imwg, pr_patient):
    enter(imwg, pr_patient, category="PR")

    signature = services.response_sign(patient=pr_patient, acting_user=imwg.investigator)

    assert signature.content["best_overall_response"] == "PR"
    assert signature.content["entries"] == [["best_overall_response", "", "PR", "", ""]]
    assert len(signature.content_hash) == 64
    assert signature.voided_at is None


def test_changed_labs_void_the_signature(imwg, pr_patient):
    enter(imwg, pr_patient, category="PR")
    signature = services.response_sign(patient=pr_patient, acting_user=imwg.investigator)

    record_labs(pr_patient, C4, serum_m_g_dl=0.25)
    services.response_evaluate_patient(patient_id=pr_patient.pk)

    signature.refresh_from_db()
    assert signature.voided_at is not None
    assert "computed response changed" in signature.void_reason


def test_a_changed_entry_voids_the_signature(imwg, pr_patient):
    entry = enter(imwg, pr_patient, category="PR")
    signature = services.response_sign(patient=pr_patient, acting_user=imwg.investigator)

    enter(
        imwg,
        pr_patient,
        category="PR",
        note="reviewed again",
        reason="added a note",
        expected_version=entry.version,
    )

    signature.refresh_from_db()
    assert "entries changed" in signature.void_reason
    assert ResponseSignature.objects.filter(patient=pr_patient, voided_at__isnull=True).count() == 0


def test_signing_needs_a_best_response_entry_and_no_open_query(imwg, pr_patient):
    with pytest.raises(ValidationError) as no_entry:
        services.response_sign(patient=pr_patient, acting_user=imwg.investigator)
    enter(imwg, pr_patient, category="CR")
    with pytest.raises(ValidationError) as open_query:
        services.response_sign(patient=pr_patient, acting_user=imwg.investigator)

    assert "best overall response" in no_entry.value.messages[0]
    assert "still open" in open_query.value.messages[0]


def test_only_investigators_sign(imwg, pr_patient):
    enter(imwg, pr_patient, category="PR")

    with pytest.raises(PermissionDenied):
        services.response_sign(patient=pr_patient, acting_user=imwg.statistician)
