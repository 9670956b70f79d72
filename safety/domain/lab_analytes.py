"""Which CTCAE v5.0 term grades which lab analyte of the trials catalogue, and the names papers
use for the haematological terms in DLT and AE tables.

Analyte codes are those of ``trials.domain.labs.ANALYTES`` (values stored in their canonical
unit); the terms are NCI CTCAE v5.0 names graded by ``safety.domain.lab_grading``. Myeloma
markers (M-protein, free light chains, immunofixation) are response labs, not toxicities.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

#: (CTCAE version, analyte code) -> the term its value is graded under.
LAB_ANALYTE_TERMS: Mapping[tuple[str, str], str] = MappingProxyType(
    {
        ("5.0", "ANC"): "Neutrophil count decreased",
        ("5.0", "PLT"): "Platelet count decreased",
        ("5.0", "WBC"): "White blood cell decreased",
        ("5.0", "LYMPH"): "Lymphocyte count decreased",
        ("5.0", "HGB"): "Anemia",
        ("5.0", "CREAT"): "Creatinine increased",
        ("5.0", "CA"): "Hypercalcemia",
    }
)

#: Analytes whose pre-treatment value is the baseline of their grading (CTCAE v5.0
#: "Creatinine increased": ">1.5 - 3.0 x baseline").
BASELINE_ANALYTES: frozenset[str] = frozenset({"CREAT"})

#: Grade at or above which a lab value is suggested as an adverse event.
SUGGESTION_MIN_GRADE = 3

# How publications name the investigation terms (Neutrophil count decreased -> neutropenia).
_REPORTED_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "neutrophil count decreased": "neutropenia",
        "platelet count decreased": "thrombocytopenia",
        "white blood cell decreased": "leukopenia",
        "lymphocyte count decreased": "lymphopenia",
    }
)


def lab_term_for(analyte: str, ctcae_version: str) -> str | None:
    return LAB_ANALYTE_TERMS.get((ctcae_version, analyte))


def reported_name(term: str) -> str:
    """The term as a paper writes it in running text: 'neutropenia', 'lung infection'."""
    return _REPORTED_NAMES.get(term.casefold(), term[:1].lower() + term[1:])
