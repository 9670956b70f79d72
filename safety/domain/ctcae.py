"""The CTCAE term dictionary, loaded from the data file shipped with the app.

Implements NCI Common Terminology Criteria for Adverse Events v5.0 (27 November 2017,
MedDRA 20.1). The data file ``safety/data/ctcae_v5.0.json`` is converted once from the NCI
spreadsheet ``CTCAE_v5.0_2017-11-27.xlsx`` (sheet "CTCAE v5.0 Clean Copy", public domain)
by ``scripts/build_ctcae_data.py``; grade texts are NCI's exact strings. A grade NCI marks
"-" is not available for the term and is stored as ``None``.

Dictionaries are keyed by version so that a study keeps the version it was built on
(CTCAE v6.0 renames and regrades terms; historical AEs are never silently re-graded).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

DATA_DIR = Path(__file__).resolve().parent.parent / "data"

# Version -> file in DATA_DIR. Add a version by shipping its file and a row here.
DICTIONARY_FILES: Mapping[str, str] = MappingProxyType({"5.0": "ctcae_v5.0.json"})
DEFAULT_VERSION = "5.0"
GRADE_NUMBERS: tuple[int, ...] = (1, 2, 3, 4, 5)


class UnknownCtcaeVersionError(ValueError):
    """The requested CTCAE version has no shipped dictionary."""

    def __init__(self, version: str) -> None:
        self.version = version
        supported = ", ".join(sorted(DICTIONARY_FILES))
        super().__init__(f"unknown CTCAE version {version!r}; supported versions: {supported}")


class UnknownCtcaeTermError(LookupError):
    """The term is not in the CTCAE dictionary of the given version."""

    def __init__(self, term: str, version: str, suggestions: tuple[str, ...] = ()) -> None:
        self.term = term
        self.version = version
        self.suggestions = suggestions
        message = f"unknown CTCAE v{version} term {term!r}"
        if suggestions:
            message += "; did you mean: " + ", ".join(repr(s) for s in suggestions)
        super().__init__(message)

    def __str__(self) -> str:  # LookupError would repr() the message
        return str(self.args[0])


@dataclass(frozen=True, slots=True)
class CtcaeTerm:
    """One CTCAE term with the text of each grade (``None`` = grade not available)."""

    meddra_code: int
    soc: str
    term: str
    definition: str | None
    grades: Mapping[int, str | None] = field(hash=False)
    navigational_note: str | None = None
    v5_change: str | None = None

    def __post_init__(self) -> None:
        if set(self.grades) != set(GRADE_NUMBERS):
            raise ValueError(f"{self.term!r}: grades must be keyed 1..5, got {sorted(self.grades)}")
        object.__setattr__(self, "grades", MappingProxyType(dict(self.grades)))

    @property
    def allowed_grades(self) -> tuple[int, ...]:
        return tuple(g for g in GRADE_NUMBERS if self.grades[g] is not None)

    def is_allowed(self, grade: int) -> bool:
        return self.grades.get(grade) is not None

    def grade_text(self, grade: int) -> str | None:
        if grade not in self.grades:
            raise ValueError(f"CTCAE grade must be 1..5, got {grade!r}")
        return self.grades[grade]

    @property
    def max_grade(self) -> int:
        return max(self.allowed_grades)


@dataclass(frozen=True, slots=True)
class CtcaeDictionary:
    """All terms of one CTCAE version, with the version metadata of the source."""

    version: str
    release_date: date
    source: str
    source_file: str
    terms: tuple[CtcaeTerm, ...] = field(repr=False)
    _by_name: Mapping[str, CtcaeTerm] = field(init=False, repr=False, compare=False, hash=False)
    _by_code: Mapping[int, CtcaeTerm] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        by_name = {t.term.casefold(): t for t in self.terms}
        by_code = {t.meddra_code: t for t in self.terms}
        if len(by_name) != len(self.terms) or len(by_code) != len(self.terms):
            raise ValueError(f"CTCAE v{self.version}: duplicate term names or MedDRA codes")
        object.__setattr__(self, "_by_name", MappingProxyType(by_name))
        object.__setattr__(self, "_by_code", MappingProxyType(by_code))

    def __len__(self) -> int:
        return len(self.terms)

    def __iter__(self) -> Iterator[CtcaeTerm]:
        return iter(self.terms)

    def __contains__(self, term: object) -> bool:
        return isinstance(term, str) and term.strip().casefold() in self._by_name

    @property
    def socs(self) -> tuple[str, ...]:
        return tuple(sorted({t.soc for t in self.terms}))

    def get(self, term: str) -> CtcaeTerm:
        """The term by exact name (case-insensitive); raises UnknownCtcaeTermError."""
        found = self._by_name.get(term.strip().casefold())
        if found is None:
            suggestions = tuple(t.term for t in self.search(term, limit=3))
            raise UnknownCtcaeTermError(term, self.version, suggestions)
        return found

    def by_meddra_code(self, meddra_code: int) -> CtcaeTerm:
        found = self._by_code.get(meddra_code)
        if found is None:
            raise UnknownCtcaeTermError(str(meddra_code), self.version)
        return found

    def search(self, query: str, *, limit: int | None = 20) -> tuple[CtcaeTerm, ...]:
        """Case-insensitive substring search over term and SOC names.

        Ranked: exact term, then term prefix, then a word of the term starting with the
        query, then term substring, then SOC prefix, then SOC substring; alphabetical
        within a rank. A blank query finds nothing.
        """
        needle = " ".join(query.split()).casefold()
        if not needle:
            return ()
        ranked: list[tuple[int, str, CtcaeTerm]] = []
        for t in self.terms:
            rank = _search_rank(needle, t)
            if rank is not None:
                ranked.append((rank, t.term.casefold(), t))
        ranked.sort(key=lambda item: (item[0], item[1]))
        hits = tuple(t for _, _, t in ranked)
        return hits if limit is None else hits[:limit]


def _search_rank(needle: str, term: CtcaeTerm) -> int | None:
    name = term.term.casefold()
    soc = term.soc.casefold()
    if name == needle:
        return 0
    if name.startswith(needle):
        return 1
    if any(word.startswith(needle) for word in name.replace("-", " ").split()):
        return 2
    if needle in name:
        return 3
    if soc.startswith(needle):
        return 4
    if needle in soc:
        return 5
    return None


def _term_from_record(record: Mapping[str, Any]) -> CtcaeTerm:
    return CtcaeTerm(
        meddra_code=int(record["meddra_code"]),
        soc=record["soc"],
        term=record["term"],
        definition=record.get("definition"),
        grades={int(grade): text for grade, text in record["grades"].items()},
        navigational_note=record.get("navigational_note"),
        v5_change=record.get("v5_change"),
    )


def load_dictionary(version: str = DEFAULT_VERSION) -> CtcaeDictionary:
    """The CTCAE dictionary of ``version``, read once from the shipped data file."""
    return _load_dictionary(str(version).strip())


@cache
def _load_dictionary(version: str) -> CtcaeDictionary:
    filename = DICTIONARY_FILES.get(version)
    if filename is None:
        raise UnknownCtcaeVersionError(version)
    payload = json.loads((DATA_DIR / filename).read_text(encoding="utf-8"))
    metadata = payload["metadata"]
    if metadata["version"] != version:
        raise ValueError(f"{filename} holds CTCAE v{metadata['version']}, not v{version}")
    terms = tuple(_term_from_record(r) for r in payload["terms"])
    if len(terms) != metadata["term_count"]:
        raise ValueError(f"{filename}: {len(terms)} terms, metadata says {metadata['term_count']}")
    return CtcaeDictionary(
        version=version,
        release_date=date.fromisoformat(metadata["release_date"]),
        source=metadata["source"],
        source_file=metadata["source_file"],
        terms=terms,
    )


def get_term(term: str, version: str = DEFAULT_VERSION) -> CtcaeTerm:
    return load_dictionary(version).get(term)


def search_terms(
    query: str, version: str = DEFAULT_VERSION, *, limit: int | None = 20
) -> tuple[CtcaeTerm, ...]:
    return load_dictionary(version).search(query, limit=limit)
