"""The shipped CTCAE v5.0 dictionary against NCI's texts (recist-ctcae.md section 3.1)."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from safety.domain.ctcae import (
    CtcaeTerm,
    UnknownCtcaeTermError,
    UnknownCtcaeVersionError,
    get_term,
    load_dictionary,
    search_terms,
)

# term: (MedDRA code, SOC, grades 1..5 as NCI writes them; None = "-", not available)
SECTION_3_1 = {
    "Neutrophil count decreased": (
        10029366,
        "Investigations",
        (
            "<LLN - 1500/mm3; <LLN - 1.5 x 10e9 /L",
            "<1500 - 1000/mm3; <1.5 - 1.0 x 10e9 /L",
            "<1000 - 500/mm3; <1.0 - 0.5 x 10e9 /L",
            "<500/mm3; <0.5 x 10e9 /L",
            None,
        ),
    ),
    "Platelet count decreased": (
        10035528,
        "Investigations",
        (
            "<LLN - 75,000/mm3; <LLN - 75.0 x 10e9 /L",
            "<75,000 - 50,000/mm3; <75.0 - 50.0 x 10e9 /L",
            "<50,000 - 25,000/mm3; <50.0 - 25.0 x 10e9 /L",
            "<25,000/mm3; <25.0 x 10e9 /L",
            None,
        ),
    ),
    "Febrile neutropenia": (
        10016288,
        "Blood and lymphatic system disorders",
        (
            None,
            None,
            "ANC <1000/mm3 with a single temperature of >38.3 degrees C (101 degrees F) or a "
            "sustained temperature of >=38 degrees C (100.4 degrees F) for more than one hour",
            "Life-threatening consequences; urgent intervention indicated",
            "Death",
        ),
    ),
    "Anemia": (
        10002272,
        "Blood and lymphatic system disorders",
        (
            "Hemoglobin (Hgb) <LLN - 10.0 g/dL; <LLN - 6.2 mmol/L; <LLN - 100 g/L",
            "Hgb <10.0 - 8.0 g/dL; <6.2 - 4.9 mmol/L; <100 - 80g/L",
            "Hgb <8.0 g/dL; <4.9 mmol/L; <80 g/L; transfusion indicated",
            "Life-threatening consequences; urgent intervention indicated",
            "Death",
        ),
    ),
    "Fatigue": (
        10016256,
        "General disorders and administration site conditions",
        (
            "Fatigue relieved by rest",
            "Fatigue not relieved by rest; limiting instrumental ADL",
            "Fatigue not relieved by rest, limiting self care ADL",
            None,
            None,
        ),
    ),
    "Lung infection": (
        10061229,
        "Infections and infestations",
        (
            None,
            "Moderate symptoms; oral intervention indicated (e.g., antibiotic, antifungal, or "
            "antiviral)",
            "IV antibiotic, antifungal, or antiviral intervention indicated; invasive "
            "intervention indicated",
            "Life-threatening consequences; urgent intervention indicated",
            "Death",
        ),
    ),
    "Peripheral sensory neuropathy": (
        10034620,
        "Nervous system disorders",
        (
            "Asymptomatic",
            "Moderate symptoms; limiting instrumental ADL",
            "Severe symptoms; limiting self care ADL",
            "Life-threatening consequences; urgent intervention indicated",
            None,
        ),
    ),
}


def test_dictionary_holds_all_837_terms_with_nci_metadata():
    dictionary = load_dictionary("5.0")

    assert len(dictionary) == 837
    assert len({t.meddra_code for t in dictionary}) == 837
    assert dictionary.version == "5.0"
    assert dictionary.release_date == date(2017, 11, 27)
    assert "NCI" in dictionary.source
    assert dictionary.source_file == "CTCAE_v5.0_2017-11-27.xlsx"
    assert len(dictionary.socs) == 26


def test_default_version_is_5_0_and_cached():
    assert load_dictionary() is load_dictionary("5.0")


@pytest.mark.parametrize("term", sorted(SECTION_3_1))
def test_section_3_1_terms_have_nci_codes_socs_and_exact_grade_texts(term):
    code, soc, grades = SECTION_3_1[term]

    found = get_term(term)

    assert found.meddra_code == code
    assert found.soc == soc
    assert tuple(found.grades[g] for g in (1, 2, 3, 4, 5)) == grades
    assert found.allowed_grades == tuple(
        g for g, text in zip((1, 2, 3, 4, 5), grades, strict=True) if text
    )


@pytest.mark.parametrize(
    ("term", "not_allowed"),
    [
        ("Febrile neutropenia", (1, 2)),
        ("Fatigue", (4, 5)),
        ("Peripheral sensory neuropathy", (5,)),
        ("Neutrophil count decreased", (5,)),
        ("Lung infection", (1,)),
    ],
)
def test_grades_nci_marks_with_a_dash_are_not_allowed(term, not_allowed):
    found = get_term(term)

    for grade in not_allowed:
        assert found.is_allowed(grade) is False
        assert found.grade_text(grade) is None


def test_definitions_and_navigational_notes_are_kept():
    lung = get_term("Lung infection")
    fatigue = get_term("Fatigue")

    assert lung.definition == (
        "A disorder characterized by an infectious process involving the lungs, including pneumonia."
    )
    assert lung.navigational_note is not None
    assert lung.navigational_note.startswith("If infection is due to aspiration")
    assert fatigue.definition.startswith(
        "A disorder characterized by a state of generalized weakness"
    )
    assert fatigue.navigational_note is None


def test_other_specify_terms_have_no_definition():
    assert get_term("Vascular disorders - Other, specify").definition is None


def test_every_term_allows_at_least_one_grade_and_no_text_is_a_dash():
    for term in load_dictionary():
        assert term.allowed_grades
        assert all(text != "-" and text == text.strip() for text in term.grades.values() if text)


def test_term_lookup_is_case_insensitive_and_by_meddra_code():
    dictionary = load_dictionary()

    assert dictionary.get("  febrile NEUTROPENIA ").term == "Febrile neutropenia"
    assert dictionary.by_meddra_code(10016256).term == "Fatigue"
    assert "anemia" in dictionary


def test_unknown_term_error_names_the_term_and_suggests():
    with pytest.raises(UnknownCtcaeTermError) as excinfo:
        get_term("Neutropenia")

    assert "'Neutropenia'" in str(excinfo.value)
    assert "Febrile neutropenia" in excinfo.value.suggestions


def test_unknown_version_is_a_clear_error():
    with pytest.raises(UnknownCtcaeVersionError, match=r"unknown CTCAE version '4\.03'.*5\.0"):
        load_dictionary("4.03")


def test_terms_are_immutable():
    fatigue = get_term("Fatigue")

    with pytest.raises(dataclasses.FrozenInstanceError):
        fatigue.term = "Tiredness"
    with pytest.raises(TypeError):
        fatigue.grades[4] = "Life-threatening"


def test_grades_must_be_keyed_1_to_5():
    with pytest.raises(ValueError, match="1..5"):
        CtcaeTerm(1, "Investigations", "X", None, grades={1: "a"})


def test_search_ranks_prefix_matches_first():
    hits = [t.term for t in search_terms("neutro", limit=None)]

    assert hits[0] == "Neutrophil count decreased"
    assert "Febrile neutropenia" in hits
    assert hits.index("Neutrophil count decreased") < hits.index("Febrile neutropenia")


def test_search_ranks_exact_then_prefix_then_word_prefix():
    hits = [t.term for t in search_terms("pain", limit=None)]

    assert hits[:4] == ["Pain", "Pain in extremity", "Pain of skin", "Abdominal pain"]
    assert "Vaginal pain" in hits


def test_search_word_prefix_ranks_above_inner_substring():
    hits = [t.term for t in search_terms("isch", limit=None)]

    assert hits[0] == "Ischemia cerebrovascular"
    assert set(hits[1:4]) == {
        "Peripheral ischemia",
        "Transient ischemic attacks",
        "Visceral arterial ischemia",
    }
    assert hits[4:] == ["Vaginal discharge"]


def test_search_matches_soc_after_terms():
    hits = search_terms("infestations", limit=None)

    assert len(hits) == 88
    assert all(t.soc == "Infections and infestations" for t in hits)


def test_search_term_matches_rank_above_soc_matches():
    hits = search_terms("investigations", limit=None)

    assert hits[0].term == "Investigations - Other, specify"
    assert len(hits) == 42


def test_search_limit_and_blank_query():
    assert len(search_terms("a", limit=5)) == 5
    assert search_terms("   ") == ()
    assert search_terms("zzzz-no-such-term") == ()
