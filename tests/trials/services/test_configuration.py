"""Trial configuration: reference trials, protocol amendments, status workflow, dose levels."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from dosing import selectors as dosing_selectors
from dosing import services as dosing_services
from tests.factories import TrialFactory
from trials import selectors, services
from trials.audit import history_for
from trials.models import EligibilityCriterion, ProtocolVersion
from trials.reference_trials import configure_reference_trial

pytestmark = pytest.mark.django_db


def test_trial_a_is_configured_from_data(ipd):
    trial = ipd.trial

    design = selectors.trial_design(trial)
    levels = list(dosing_selectors.dose_levels(trial))
    agents = [a.code for a in selectors.trial_agents(trial)]

    assert design.dlt_window_days == 21
    assert design.escalation.rule_set == "3+3"
    assert agents == ["IXA", "POM", "DEX"]
    assert [(lv.number, lv.is_starting) for lv in levels] == [(-1, False), (1, True), (2, False)]
    dl2 = {d.agent.code: d.dose for d in levels[2].doses.all()}
    assert dl2 == {"IXA": Decimal(4), "POM": Decimal(4), "DEX": Decimal(40)}
    codes = list(EligibilityCriterion.objects.filter(trial=trial).values_list("code", flat=True))
    assert "IN2" in codes and "EX1" in codes
    assert trial.status == "phase_i"


def test_configuration_is_idempotent(ipd):
    configure_reference_trial("IPD", acting_user=ipd.trial_admin)

    assert ProtocolVersion.objects.filter(trial=ipd.trial).count() == 1
    assert dosing_selectors.dose_levels(ipd.trial).count() == 3


def test_trial_b_doses_in_mg_per_m2(cfz):
    trial, _, _ = cfz

    (level,) = dosing_selectors.dose_levels(trial)
    (dose,) = level.doses.all()

    assert (dose.agent.code, dose.dose, dose.unit) == ("CFZ", Decimal(27), "mg/m2")
    assert selectors.trial_design(trial).response.criteria == "RECIST1.0"


def test_amendment_is_versioned_dated_audited_with_reason(ipd):
    t = ipd

    version = services.trial_design_amend(
        trial=t.trial,
        changes={"dlt_window_days": 28, "escalation": {"allow_deescalate": True}},
        reason="Amendment 1: longer DLT window",
        effective_date=date(2024, 6, 1),
        acting_user=t.trial_admin,
    )

    assert version.number == 2
    assert version.changes == {
        "dlt_window_days": [21, 28],
        "escalation.allow_deescalate": [False, True],
    }
    assert selectors.trial_design(t.trial).dlt_window_days == 28
    assert selectors.trial_design(t.trial, on=date(2024, 5, 31)).dlt_window_days == 21
    event = history_for(version)[-1]
    assert event.reason == "Amendment 1: longer DLT window"
    assert event.user_id == t.trial_admin.pk


@pytest.mark.parametrize(
    ("changes", "reason", "effective", "field"),
    [
        ({"dlt_window_days": 28}, "", date(2024, 6, 1), "reason"),
        ({"dlt_window_dayz": 28}, "typo test", date(2024, 6, 1), "design.dlt_window_dayz"),
        ({"response": {"criteria": "WHO"}}, "bad", date(2024, 6, 1), "design.response.criteria"),
        ({"dlt_window_days": 21}, "no change", date(2024, 6, 1), "changes"),
        ({"dlt_window_days": 28}, "backdated", date(2023, 1, 1), "effective_date"),
    ],
)
def test_bad_amendments_are_refused_and_nothing_is_stored(ipd, changes, reason, effective, field):
    with pytest.raises(ValidationError) as caught:
        services.trial_design_amend(
            trial=ipd.trial,
            changes=changes,
            reason=reason,
            effective_date=effective,
            acting_user=ipd.trial_admin,
        )

    assert field in caught.value.message_dict
    assert ProtocolVersion.objects.filter(trial=ipd.trial).count() == 1


def test_trial_status_goes_through_the_transition_service(ipd):
    t = ipd

    services.trial_transition(
        trial=t.trial, to_status="phase_ii", acting_user=t.trial_admin, reason="RP2D found"
    )
    with pytest.raises(ValidationError) as caught:
        services.trial_transition(
            trial=t.trial, to_status="phase_i", acting_user=t.trial_admin, reason="go back"
        )

    t.trial.refresh_from_db()
    assert t.trial.status == "phase_ii"
    assert "cannot go from" in caught.value.message_dict["to_status"][0]
    assert history_for(t.trial)[-1].reason == "RP2D found"


def test_a_trial_without_protocol_cannot_open(db, two_site_trial):
    trial = TrialFactory(code="NEW")

    with pytest.raises(ValidationError) as caught:
        services.trial_transition(
            trial=trial, to_status="open", acting_user=two_site_trial.trial_admin, reason="approved"
        )

    assert "protocol" in caught.value.message_dict["to_status"][0]


def test_dose_level_validation(ipd):
    t = ipd
    ixa = selectors.trial_agents(t.trial)[0]

    with pytest.raises(ValidationError) as caught:
        dosing_services.dose_level_create(
            trial=t.trial,
            number=0,
            doses=[{"agent": ixa, "dose": "5", "unit": "mg/m2"}],
            acting_user=t.trial_admin,
        )
    with pytest.raises(ValidationError) as duplicate:
        dosing_services.dose_level_create(
            trial=t.trial, number=2, doses=[{"agent": "IXA", "dose": "5"}], acting_user=None
        )

    assert set(caught.value.message_dict) == {"number", "doses.0.unit"}
    assert "already has" in duplicate.value.message_dict["number"][0]


def test_an_amended_level_retires_the_old_one(ipd):
    t = ipd
    v2 = services.trial_design_amend(
        trial=t.trial,
        changes={"escalation": {"require_six_at_mtd": False}},
        reason="Amendment 1",
        effective_date=date(2024, 6, 1),
        acting_user=t.trial_admin,
    )
    old = dosing_selectors.current_dose_level(t.trial, 2)

    dosing_services.dose_level_retire(
        dose_level=old, protocol_version=v2, acting_user=t.trial_admin, reason="DL2 changed"
    )
    new = dosing_services.dose_level_create(
        trial=t.trial,
        number=2,
        doses=[
            {"agent": "IXA", "dose": "4"},
            {"agent": "POM", "dose": "4"},
            {"agent": "DEX", "dose": "20"},
        ],
        protocol_version=v2,
        acting_user=t.trial_admin,
    )

    assert dosing_selectors.current_dose_level(t.trial, 2) == new
    assert dosing_selectors.dose_levels(t.trial, include_retired=True).count() == 4


def test_site_reference_range(ipd):
    t = ipd

    ref = services.lab_reference_range_set(
        site=t.site_a,
        analyte="ANC",
        lln="1500",
        uln="7000",
        unit="/mm3",
        acting_user=t.trial_admin,
        reason="site lab ranges 2024",
    )

    assert (ref.lln, ref.uln) == (Decimal("1.5"), Decimal("7"))
    assert selectors.reference_limits(t.site_a, "ANC")[2] == "site"
    assert selectors.reference_limits(t.site_b, "ANC")[2] == "catalogue"


def test_the_command_configures_both_reference_trials(db):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("configure_reference_trials", stdout=out)
    call_command("configure_reference_trials", "IPD", stdout=out)

    assert "IPD: configured" in out.getvalue() and "CFZ: configured" in out.getvalue()
    assert ProtocolVersion.objects.filter(trial__code__in=["IPD", "CFZ"]).count() == 2
