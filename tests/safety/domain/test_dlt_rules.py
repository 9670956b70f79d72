"""Trial A's DLT definition: each rule at its edges, and the paper's DLTs (trials.md)."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest

from safety.domain.ctcae import UnknownCtcaeTermError
from safety.domain.dlt_rules import (
    TRIAL_A_DLT_DEFINITION,
    TRIAL_A_DLT_DEFINITION_DATA,
    AdverseEventFacts,
    Attribution,
    GradeEpisode,
    dlt_definition_from_data,
    dlt_definition_to_data,
    evaluate_ae_for_dlt,
)

FIRST_DOSE = date(2024, 3, 4)
WINDOW = TRIAL_A_DLT_DEFINITION.window_for(FIRST_DOSE)
POSSIBLE = {"ixazomib": "possible"}

SOC = {
    "Neutrophil count decreased": "Investigations",
    "Platelet count decreased": "Investigations",
    "Lymphocyte count decreased": "Investigations",
    "Creatinine increased": "Investigations",
    "Febrile neutropenia": "Blood and lymphatic system disorders",
    "Anemia": "Blood and lymphatic system disorders",
    "Fatigue": "General disorders and administration site conditions",
    "Lung infection": "Infections and infestations",
    "Nausea": "Gastrointestinal disorders",
    "Vomiting": "Gastrointestinal disorders",
    "Diarrhea": "Gastrointestinal disorders",
}


def day(n: int) -> date:
    """Study day n (day 1 = first dose)."""
    return FIRST_DOSE + timedelta(days=n - 1)


def ae(term, *episodes, attribution=POSSIBLE, **flags):
    return AdverseEventFacts(
        term=term,
        soc=SOC[term],
        episodes=tuple(
            GradeEpisode(g, day(onset), None if end is None else day(end))
            for g, onset, end in episodes
        ),
        attribution=attribution,
        **flags,
    )


def evaluate(event, as_of=None):
    return evaluate_ae_for_dlt(event, TRIAL_A_DLT_DEFINITION, WINDOW, as_of=as_of)


def test_trial_a_definition_is_built_from_data():
    definition = dlt_definition_from_data(TRIAL_A_DLT_DEFINITION_DATA)

    assert definition == TRIAL_A_DLT_DEFINITION
    assert definition.window_days == 21
    assert definition.min_attribution is Attribution.POSSIBLE
    assert [r.id for r in definition.rules] == [
        "heme_neut_g4_gt7d",
        "heme_febrile_neutropenia_g3",
        "heme_plt_g4",
        "heme_plt_g3_bleeding",
        "nonheme_g3",
        "cycle2_delay_gt14d",
    ]
    assert definition.rule("heme_neut_g4_gt7d").min_duration_days == 8


def test_definition_round_trips_through_plain_data():
    data = dlt_definition_to_data(TRIAL_A_DLT_DEFINITION)

    assert dlt_definition_from_data(data) == TRIAL_A_DLT_DEFINITION
    assert data["rules"][0] == {
        "id": "heme_neut_g4_gt7d",
        "description": "Grade 4 neutropenia lasting > 7 days",
        "terms": ["Neutrophil count decreased"],
        "min_grade": 4,
        "min_duration_days": 8,
    }


# --- grade 4 neutropenia lasting > 7 days -------------------------------------------------


@pytest.mark.parametrize(
    ("resolved_day", "expected"),
    [(11, False), (12, False), (13, True), (14, True)],  # 6, 7, 8, 9 days at grade 4
)
def test_neutropenia_grade_4_must_last_more_than_7_days(resolved_day, expected):
    result = evaluate(ae("Neutrophil count decreased", (4, 5, resolved_day)))

    assert result.potential is expected
    assert ("heme_neut_g4_gt7d" in result.rule_ids) is expected


def test_neutropenia_of_7_days_says_it_was_too_short():
    result = evaluate(ae("Neutrophil count decreased", (4, 5, 12)))

    assert result.reasons == (
        "heme_neut_g4_gt7d: grade >= 4 lasted 7 day(s), fewer than the 8 required",
    )


def test_contiguous_grade_4_episodes_are_one_stretch():
    result = evaluate(ae("Neutrophil count decreased", (4, 5, 9), (4, 9, 13)))

    assert result.rule_ids == ("heme_neut_g4_gt7d",)


def test_separate_grade_4_episodes_are_not_added_up():
    result = evaluate(ae("Neutrophil count decreased", (4, 5, 9), (3, 9, 10), (4, 10, 14)))

    assert result.potential is False


def test_grade_3_neutropenia_is_never_a_dlt_however_long():
    result = evaluate(ae("Neutrophil count decreased", (3, 2, 30)))

    assert (result.potential, result.rule_ids) == (False, ())


@pytest.mark.parametrize(("as_of_day", "expected"), [(12, False), (13, True)])
def test_ongoing_neutropenia_is_measured_to_as_of(as_of_day, expected):
    result = evaluate(ae("Neutrophil count decreased", (4, 5, None)), as_of=day(as_of_day))

    assert result.potential is expected


def test_ongoing_neutropenia_without_as_of_is_missing_information():
    result = evaluate(ae("Neutrophil count decreased", (4, 5, None)))

    assert result.potential is False
    assert result.missing == (
        "heme_neut_g4_gt7d: grade >= 4 ongoing; a DLT if it lasts 8 days or more",
    )


# --- attribution -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attribution", "expected"),
    [
        ({"ixazomib": "unrelated"}, False),
        ({"ixazomib": "unlikely", "pomalidomide": "unlikely"}, False),
        ({"ixazomib": "unlikely", "pomalidomide": "possible"}, True),
        ({"dexamethasone": "probable"}, True),
        ({"ixazomib": Attribution.DEFINITE}, True),
    ],
)
def test_attribution_must_be_at_least_possible_to_one_agent(attribution, expected):
    result = evaluate(ae("Platelet count decreased", (4, 3, 6), attribution=attribution))

    assert result.potential is expected
    assert result.rule_ids == ("heme_plt_g4",)


def test_unlikely_attribution_is_explained():
    result = evaluate(
        ae("Platelet count decreased", (4, 3, 6), attribution={"ixazomib": "unlikely"})
    )

    assert result.reasons[-1] == (
        "attribution unlikely for every agent, below the required possible: not a DLT"
    )


def test_missing_attribution_is_reported_as_missing():
    result = evaluate(ae("Platelet count decreased", (4, 3, 6), attribution={}))

    assert result.potential is False
    assert result.missing == ("attribution not assessed; needs at least possible",)


def test_attribution_order():
    assert (
        Attribution.UNRELATED
        < Attribution.UNLIKELY
        < Attribution.POSSIBLE
        < Attribution.PROBABLE
        < Attribution.DEFINITE
    )
    assert Attribution.parse(" Possible ") is Attribution.POSSIBLE
    with pytest.raises(ValueError, match="unknown attribution 'maybe'"):
        Attribution.parse("maybe")


# --- the window --------------------------------------------------------------------------


@pytest.mark.parametrize(("onset_day", "expected"), [(1, True), (21, True), (22, False)])
def test_toxicity_must_start_in_the_21_day_window(onset_day, expected):
    result = evaluate(ae("Fatigue", (3, onset_day, onset_day + 5)))

    assert result.potential is expected


def test_onset_on_day_22_is_explained():
    result = evaluate(ae("Fatigue", (3, 22, 25)))

    assert result.reasons == (
        "nonheme_g3: grade >= 3 began on study day 22, outside the 21-day DLT window",
    )


def test_toxicity_before_the_first_dose_is_not_a_dlt():
    result = evaluate(ae("Fatigue", (3, 0, 3)))

    assert result.potential is False


def test_it_is_the_date_the_grade_is_reached_that_must_be_in_the_window():
    # grade 2 from day 15, grade 3 only from day 23
    result = evaluate(ae("Fatigue", (2, 15, 23), (3, 23, 30)))

    assert result.potential is False


# --- febrile neutropenia, thrombocytopenia -----------------------------------------------


def test_febrile_neutropenia_grade_3_is_a_dlt():
    result = evaluate(ae("Febrile neutropenia", (3, 10, 12), with_fever=True))

    assert (result.potential, result.rule_ids) == (True, ("heme_febrile_neutropenia_g3",))


@pytest.mark.parametrize(("bleeding", "expected"), [(False, ()), (True, ("heme_plt_g3_bleeding",))])
def test_grade_3_thrombocytopenia_needs_bleeding(bleeding, expected):
    result = evaluate(ae("Platelet count decreased", (3, 8, 12), with_bleeding=bleeding))

    assert result.rule_ids == expected
    assert result.potential is bool(expected)


def test_grade_3_thrombocytopenia_without_bleeding_is_explained():
    result = evaluate(ae("Platelet count decreased", (3, 8, 12)))

    assert result.reasons == ("heme_plt_g3_bleeding: grade >= 3 but not with bleeding",)


def test_grade_4_thrombocytopenia_with_bleeding_matches_both_rules():
    result = evaluate(ae("Platelet count decreased", (4, 8, 9), with_bleeding=True))

    assert result.rule_ids == ("heme_plt_g4", "heme_plt_g3_bleeding")


# --- non-haematological grade >= 3 -------------------------------------------------------


@pytest.mark.parametrize(
    ("term", "grade", "expected"),
    [
        ("Fatigue", 3, True),
        ("Fatigue", 2, False),
        ("Lung infection", 3, True),
        ("Creatinine increased", 3, True),  # an Investigations term that is not haematological
        ("Anemia", 3, False),  # Blood and lymphatic system disorders
        ("Lymphocyte count decreased", 4, False),  # haematological Investigations term
    ],
)
def test_non_haematological_grade_3(term, grade, expected):
    result = evaluate(ae(term, (grade, 4, 9)))

    assert ("nonheme_g3" in result.rule_ids) is expected
    assert result.potential is expected


@pytest.mark.parametrize(
    ("term", "hours", "expected"),
    [
        ("Nausea", 48, False),
        ("Nausea", 72, False),
        ("Nausea", 73, True),
        ("Nausea", 96, True),
        ("Vomiting", 48, False),
        ("Diarrhea", 96, True),
        ("Diarrhea", None, True),  # not controlled
    ],
)
def test_nausea_vomiting_diarrhoea_excepted_when_controlled_within_72_hours(term, hours, expected):
    result = evaluate(ae(term, (3, 4, 9), controlled_within_hours=hours))

    assert result.potential is expected


def test_excepted_nausea_is_explained():
    result = evaluate(ae("Nausea", (3, 4, 6), controlled_within_hours=48))

    assert result.reasons == ("nonheme_g3: Nausea controlled within 48 h (<= 72 h) is excepted",)


def test_the_exception_applies_only_to_its_terms():
    result = evaluate(ae("Fatigue", (3, 4, 6), controlled_within_hours=24))

    assert result.potential is True


# --- cycle 2 delay -----------------------------------------------------------------------


@pytest.mark.parametrize(("delay", "expected"), [(None, False), (14, False), (15, True)])
def test_toxicity_delaying_cycle_2_by_more_than_14_days(delay, expected):
    result = evaluate(ae("Fatigue", (2, 10, 40), cycle2_delay_days=delay))

    assert result.rule_ids == (("cycle2_delay_gt14d",) if expected else ())
    assert result.potential is expected


def test_cycle_2_delay_from_a_toxicity_after_the_window_is_not_a_dlt():
    result = evaluate(ae("Fatigue", (2, 22, 40), cycle2_delay_days=20))

    assert result.potential is False


# --- the paper's DLTs (trial A, trials.md) -----------------------------------------------

DL1_PATIENT = [
    (ae("Fatigue", (2, 6, 9), (3, 9, 15)), "nonheme_g3"),
    (ae("Lung infection", (3, 12, 20)), "nonheme_g3"),
    (ae("Neutrophil count decreased", (3, 8, 11), (4, 11, 20), (3, 20, 24)), "heme_neut_g4_gt7d"),
    (ae("Platelet count decreased", (3, 8, 10), (4, 10, 14)), "heme_plt_g4"),
]
DL2_PATIENT = [
    (ae("Febrile neutropenia", (4, 10, 13), with_fever=True), "heme_febrile_neutropenia_g3"),
    (ae("Neutrophil count decreased", (4, 9, 18)), "heme_neut_g4_gt7d"),
    (ae("Platelet count decreased", (4, 11, 15)), "heme_plt_g4"),
]


@pytest.mark.parametrize(("event", "rule_id"), DL1_PATIENT + DL2_PATIENT)
def test_trial_a_paper_dlts_are_flagged(event, rule_id):
    result = evaluate(event)

    assert result.potential is True
    assert rule_id in result.rule_ids
    assert result.missing == ()


def test_a_non_dlt_says_so():
    result = evaluate(ae("Fatigue", (1, 3, 10)))

    assert result == dataclasses.replace(
        result, potential=False, rule_ids=(), reasons=("no DLT rule matches",), missing=()
    )


# --- facts and definitions validate themselves -------------------------------------------


def test_adverse_event_needs_an_episode_and_valid_grades():
    with pytest.raises(ValueError, match="at least one grade episode"):
        AdverseEventFacts(term="Fatigue", soc="General", episodes=())
    with pytest.raises(ValueError, match="1..5"):
        GradeEpisode(6, day(1))
    with pytest.raises(ValueError, match="before onset"):
        GradeEpisode(3, day(5), day(4))


def test_adverse_event_facts_are_frozen_and_attribution_read_only():
    event = ae("Fatigue", (3, 4, 9))

    with pytest.raises(dataclasses.FrozenInstanceError):
        event.term = "Nausea"
    with pytest.raises(TypeError):
        event.attribution["ixazomib"] = Attribution.DEFINITE
    assert event.attribution == {"ixazomib": Attribution.POSSIBLE}
    assert event.max_grade == 3


def _with_rule(**changes):
    data = dict(TRIAL_A_DLT_DEFINITION_DATA)
    data["rules"] = [dict(data["rules"][0], **changes)]
    return data


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (_with_rule(terms=["Neutropenia"]), UnknownCtcaeTermError, "'Neutropenia'"),
        (_with_rule(excluded_socs=["Blood"]), ValueError, "unknown CTCAE SOC 'Blood'"),
        (_with_rule(required_flags=["with_rash"]), ValueError, "unknown flag"),
        (_with_rule(min_grade=6), ValueError, "min_grade must be 1..5"),
        (_with_rule(max_grade=4), ValueError, "unknown field"),
        (_with_rule(exception_terms=["Nausea"]), ValueError, "go together"),
        (
            dict(TRIAL_A_DLT_DEFINITION_DATA, rules=[{"id": "a", "min_grade": 3}] * 2),
            ValueError,
            "duplicate DLT rule ids",
        ),
        (
            dict(TRIAL_A_DLT_DEFINITION_DATA, windw_days=21),
            ValueError,
            "unknown DLT definition field",
        ),
        (
            dict(TRIAL_A_DLT_DEFINITION_DATA, min_attribution="maybe"),
            ValueError,
            "unknown attribution",
        ),
    ],
)
def test_definition_data_is_validated(data, error, message):
    with pytest.raises(error, match=message):
        dlt_definition_from_data(data)


def test_terms_in_data_are_stored_in_ctcae_spelling():
    definition = dlt_definition_from_data(_with_rule(terms=["neutrophil COUNT decreased"]))

    assert definition.rules[0].terms == frozenset({"Neutrophil count decreased"})
