"""Lab results: converted once, limits resolved, bad input refused, corrections audited."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from tests.factories import days_ago, enrolled_patient
from trials import selectors, services
from trials.audit import history_for
from trials.models import LabResult, Visit
from trials.services import ConflictError, DoseInput, LabInput

pytestmark = pytest.mark.django_db


@pytest.fixture
def done_visit(ipd):
    patient = enrolled_patient(
        ipd.trial, ipd.site_a, ipd.coordinator_a, planned_start_date=days_ago(20)
    )
    c1d1 = Visit.objects.get(patient=patient, code="C1D1")
    return services.visit_record(
        visit=c1d1, visit_date=days_ago(20), acting_user=ipd.coordinator_a, expected_version=1
    )


def test_a_result_keeps_what_was_entered_and_the_canonical_value(ipd, done_visit):
    lab = services.lab_result_record(
        visit=done_visit, analyte="ANC", value="1200", unit="/mm3", acting_user=ipd.coordinator_a
    )

    assert (lab.value_as_entered, lab.unit_as_entered) == ("1200", "/mm3")
    assert (lab.value, lab.unit) == (Decimal("1.2"), "10^9/L")
    assert (lab.lln, lab.uln, lab.limits_source) == (Decimal("1.8"), Decimal("7.5"), "catalogue")
    assert lab.collected_on == days_ago(20)
    (row,) = selectors.lab_rows(done_visit.patient)
    assert (row.analyte, row.value, row.visit_code) == ("ANC", Decimal("1.2"), "C1D1")


def test_site_limits_then_result_limits_win(ipd, done_visit):
    t = ipd
    services.lab_reference_range_set(
        site=t.site_a,
        analyte="HGB",
        lln="11.5",
        uln="15.5",
        unit="g/dL",
        acting_user=t.trial_admin,
        reason="site ranges",
    )

    site = services.lab_result_record(
        visit=done_visit, analyte="HGB", value="98", unit="g/L", acting_user=t.coordinator_a
    )
    own = services.lab_result_record(
        visit=done_visit,
        analyte="PLT",
        value="90",
        unit="10^9/L",
        lln="140",
        uln="440",
        acting_user=t.coordinator_a,
    )

    assert (site.value, site.lln, site.limits_source) == (Decimal("9.8"), Decimal("11.5"), "site")
    assert (own.lln, own.uln, own.limits_source) == (Decimal(140), Decimal(440), "result")


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "field", "fragment"),
    [
        ("ANC", "-0.5", "10^9/L", "value", "cannot be negative"),
        ("ANC", "1.5", "mg/dL", "unit", "Accepted:"),
        ("PLT", "150000", "10^9/L", "value", "plausible range"),
        ("CREAT", "80", "", "unit", "Give the unit"),
        ("NOPE", "1", "", "analyte", "Unknown lab test"),
    ],
)
def test_bad_results_are_refused_and_nothing_is_stored(
    ipd, done_visit, analyte, value, unit, field, fragment
):
    with pytest.raises(ValidationError) as caught:
        services.lab_result_record(
            visit=done_visit, analyte=analyte, value=value, unit=unit, acting_user=ipd.coordinator_a
        )

    assert fragment in caught.value.message_dict[field][0]
    assert not LabResult.objects.exists()


def test_labs_need_a_recorded_visit(ipd, done_visit):
    planned = Visit.objects.get(patient=done_visit.patient, code="C1D8")

    with pytest.raises(ValidationError) as caught:
        services.lab_result_record(
            visit=planned, analyte="ANC", value="2", unit="10^9/L", acting_user=ipd.coordinator_a
        )

    assert "Record the date" in caught.value.message_dict["visit"][0]


def test_labs_collected_in_the_future_or_before_consent_are_refused(ipd, done_visit):
    with pytest.raises(ValidationError) as future:
        services.lab_result_record(
            visit=done_visit,
            analyte="ANC",
            value="2",
            unit="10^9/L",
            collected_on=days_ago(-2),
            acting_user=ipd.coordinator_a,
        )
    with pytest.raises(ValidationError) as early:
        services.lab_result_record(
            visit=done_visit,
            analyte="ANC",
            value="2",
            unit="10^9/L",
            collected_on=days_ago(40),
            acting_user=ipd.coordinator_a,
        )

    assert "future" in future.value.message_dict["collected_on"][0]
    assert "before the patient's consent" in early.value.message_dict["collected_on"][0]


def test_a_correction_needs_a_reason_and_the_current_version(ipd, done_visit):
    t = ipd
    lab = services.lab_result_record(
        visit=done_visit, analyte="ANC", value="1.2", unit="10^9/L", acting_user=t.coordinator_a
    )

    with pytest.raises(ValidationError):
        services.lab_result_record(
            visit=done_visit, analyte="ANC", value="2.1", unit="10^9/L", acting_user=t.coordinator_a
        )
    corrected = services.lab_result_record(
        visit=done_visit,
        analyte="ANC",
        value="2.1",
        unit="10^9/L",
        acting_user=t.coordinator_a,
        reason="digits transposed",
        expected_version=1,
    )
    with pytest.raises(ConflictError):
        services.lab_result_record(
            visit=done_visit,
            analyte="ANC",
            value="2.2",
            unit="10^9/L",
            acting_user=t.coordinator_a,
            reason="again",
            expected_version=1,
        )

    assert corrected.pk == lab.pk and corrected.version == 2
    last = history_for(corrected)[-1]
    assert last.reason == "digits transposed"
    assert last.changes["value"] == [1.2, 2.1]


def test_immunofixation(ipd, done_visit):
    lab = services.lab_result_record(
        visit=done_visit, analyte="SIFE", value="Positive", acting_user=ipd.coordinator_a
    )

    assert (lab.category, lab.value, lab.unit) == ("positive", None, "")


def test_visit_form_save_is_all_or_nothing_and_reports_every_problem(ipd):
    t = ipd
    patient = enrolled_patient(t.trial, t.site_a, t.coordinator_a, planned_start_date=days_ago(20))
    c1d1 = Visit.objects.get(patient=patient, code="C1D1")

    with pytest.raises(ValidationError) as caught:
        services.visit_complete(
            visit=c1d1,
            visit_date=days_ago(20),
            acting_user=t.coordinator_a,
            expected_version=1,
            doses=[DoseInput("IXA", "given", Decimal(9))],
            labs=[
                LabInput("ANC", "-1", "10^9/L"),
                LabInput("PLT", "120", "furlongs"),
                LabInput("HGB", "11", "g/dL"),
            ],
        )

    assert {"doses.IXA.dose", "labs.ANC.value", "labs.PLT.unit"} <= set(caught.value.message_dict)
    c1d1.refresh_from_db()
    assert c1d1.status == "planned"
    assert not LabResult.objects.exists()


def test_visit_form_save_records_visit_doses_and_labs(ipd):
    t = ipd
    patient = enrolled_patient(t.trial, t.site_a, t.coordinator_a, planned_start_date=days_ago(20))
    c1d1 = Visit.objects.get(patient=patient, code="C1D1")

    services.visit_complete(
        visit=c1d1,
        visit_date=days_ago(20),
        acting_user=t.coordinator_a,
        expected_version=1,
        doses=[
            DoseInput("IXA", "given", Decimal(3)),
            DoseInput("POM", "given", Decimal(4)),
            DoseInput("DEX", "given", Decimal(40)),
        ],
        labs=[
            LabInput("ANC", "2.3", "10^9/L"),
            LabInput("PLT", "180000", "/mm3"),
            LabInput("HGB", "", "g/dL"),
        ],
    )

    assert {r.analyte: r.value for r in LabResult.objects.all()} == {
        "ANC": Decimal("2.3"),
        "PLT": Decimal("180"),
    }
    patient.refresh_from_db()
    assert patient.status == "on_treatment"


def test_a_myeloma_lab_enqueues_the_response_evaluation_after_commit(
    ipd, done_visit, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(
        "config.enqueue.send_quietly", lambda task, *args, **kw: sent.append((task.name, args))
    )

    with django_capture_on_commit_callbacks(execute=True):
        services.lab_result_record(
            visit=done_visit,
            analyte="SPEP_M",
            value="2.5",
            unit="g/dL",
            acting_user=ipd.coordinator_a,
        )
        services.lab_result_record(
            visit=done_visit,
            analyte="ANC",
            value="1.2",
            unit="10^9/L",
            acting_user=ipd.coordinator_a,
        )

    assert sent == [("response.evaluate_patient", (done_visit.patient.pk,))]
