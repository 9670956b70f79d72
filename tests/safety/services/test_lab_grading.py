"""Lab rows graded by CTCAE v5.0 (canonical value, unit, the row's LLN/ULN) when the trials app
saves them; grade >= 3 is suggested as an adverse event that a coordinator confirms or
dismisses with a reason."""

import pytest
from django.core.exceptions import ValidationError

from safety import services
from safety.models import AdverseEvent, LabGradeSuggestion, PotentialDlt
from tests.factories import days_ago
from trials import services as trial_services
from trials.audit import history_for
from trials.models import Visit

pytestmark = pytest.mark.django_db


def lab(patient, user, analyte, value, unit, *, visit="C1D1", **limits):
    return trial_services.lab_result_record(
        visit=Visit.objects.get(patient=patient, code=visit),
        analyte=analyte,
        value=value,
        unit=unit,
        acting_user=user,
        **limits,
    )


def grade(patient, user, *labs):
    return services.safety_grade_lab_results(
        patient=patient, lab_result_ids=[x.pk for x in labs], acting_user=user
    )


def suggestion_for(row):
    return LabGradeSuggestion.objects.get(lab_result=row)


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "limits", "term", "expected"),
    [
        ("ANC", "0.4", "10^9/L", {}, "Neutrophil count decreased", 4),
        ("ANC", "500", "/mm3", {}, "Neutrophil count decreased", 3),  # 0.5 is grade 3 (half-open)
        ("ANC", "1.0", "10^9/L", {}, None, None),  # grade 2: no suggestion
        ("PLT", "24", "10^9/L", {}, "Platelet count decreased", 4),
        ("HGB", "79", "g/L", {}, "Anemia", 3),
        ("CREAT", "4.0", "mg/dL", {"lln": "0.5", "uln": "1.0"}, "Creatinine increased", 3),
        ("CA", "13.6", "mg/dL", {}, "Hypercalcemia", 4),
        ("WBC", "1.5", "10^9/L", {}, "White blood cell decreased", 3),
    ],
)
def test_results_graded_3_or_more_are_suggested_when_saved(
    ipd, in_window, analyte, value, unit, limits, term, expected
):
    # when the trials app saves the result (it calls the safety hook in its transaction)
    row = lab(in_window, ipd.coordinator_a, analyte, value, unit, **limits)

    # then
    found = [
        (s.ctcae_term.term, s.grade, s.status, bool(s.rule_text))
        for s in LabGradeSuggestion.objects.filter(lab_result=row)
    ]
    assert found == ([(term, expected, "pending", True)] if expected else [])


def test_grading_is_idempotent_and_follows_corrections(ipd, in_window):
    row = lab(in_window, ipd.coordinator_a, "PLT", "20", "10^9/L")
    assert grade(in_window, ipd.coordinator_a, row) == []  # already graded when saved
    assert LabGradeSuggestion.objects.count() == 1

    row = trial_services.lab_result_record(
        visit=row.visit,
        analyte="PLT",
        value="60",
        unit="10^9/L",
        acting_user=ipd.coordinator_a,
        reason="typing error",
        expected_version=row.version,
    )

    assert LabGradeSuggestion.objects.get().status == "withdrawn"


def test_confirming_creates_a_prefilled_event_that_dlt_rules_then_judge(ipd, in_window):
    row = lab(in_window, ipd.coordinator_a, "PLT", "20", "10^9/L")
    suggestion = suggestion_for(row)

    ae = services.lab_suggestion_confirm(
        suggestion=suggestion,
        acting_user=ipd.coordinator_a,
        expected_version=suggestion.version,
        attributions=[services.AttributionInput("POM", "possible", "held")],
    )

    suggestion.refresh_from_db()
    assert (ae.term, ae.max_grade, ae.onset_date) == ("Platelet count decreased", 4, days_ago(15))
    assert (suggestion.status, suggestion.adverse_event, suggestion.decided_by) == (
        "confirmed",
        ae,
        ipd.coordinator_a,
    )
    assert PotentialDlt.objects.get(adverse_event=ae).rule_ids == ["heme_plt_g4"]


def test_confirming_into_an_existing_event_adds_a_grade_change(ipd, in_window):
    existing = services.adverse_event_create(
        patient=in_window,
        term="Platelet count decreased",
        onset_date=days_ago(15),
        grade=2,
        acting_user=ipd.coordinator_a,
    )
    row = lab(in_window, ipd.coordinator_a, "PLT", "40", "10^9/L")
    suggestion = suggestion_for(row)
    suggestion.collected_on = days_ago(14)
    suggestion.save()

    services.lab_suggestion_confirm(
        suggestion=suggestion,
        acting_user=ipd.coordinator_a,
        existing_event=existing,
    )

    existing.refresh_from_db()
    assert existing.max_grade == 3
    assert AdverseEvent.objects.count() == 1


def test_dismissing_needs_a_reason_that_the_audit_keeps(ipd, in_window):
    row = lab(in_window, ipd.coordinator_a, "ANC", "0.3", "10^9/L")
    suggestion = suggestion_for(row)

    with pytest.raises(ValidationError):
        services.lab_suggestion_dismiss(
            suggestion=suggestion, reason="", acting_user=ipd.coordinator_a
        )
    services.lab_suggestion_dismiss(
        suggestion=suggestion, reason="clotted sample, repeat normal", acting_user=ipd.coordinator_a
    )

    suggestion.refresh_from_db()
    assert suggestion.status == "dismissed"
    assert history_for(suggestion)[-1].reason == "clotted sample, repeat normal"
    with pytest.raises(ValidationError):
        services.lab_suggestion_dismiss(
            suggestion=suggestion, reason="again", acting_user=ipd.coordinator_a
        )
