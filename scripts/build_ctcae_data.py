"""Convert the NCI CTCAE v5.0 spreadsheet into the dictionary file TrialDesk ships.

One-off converter, run by a developer when the dictionary is (re)imported. The application
never runs it and never reads the spreadsheet: it reads the JSON this script writes
(``safety/data/ctcae_v5.0.json``) through ``safety.domain.ctcae.load_dictionary``.

Source: NCI Common Terminology Criteria for Adverse Events (CTCAE) v5.0, published
27 November 2017, file ``CTCAE_v5.0_2017-11-27.xlsx``, sheet "CTCAE v5.0 Clean Copy"
(downloadable from the NCI CTEP "Protocol Development" pages; a US-government work in the
public domain).

Usage::

    python scripts/build_ctcae_data.py path/to/CTCAE_v5.0_2017-11-27.xlsx
    python scripts/build_ctcae_data.py path/to/CTCAE_v5.0_2017-11-27.xlsx --check

``--check`` rebuilds in memory and exits with status 1 if the shipped file differs.

Normalisation, kept to the minimum so that grade texts stay the NCI's exact strings:

* leading/trailing whitespace is stripped from every cell (NCI writes " -" and a few
  trailing newlines); inner text, including line breaks, is kept verbatim;
* a cell that is "-" after stripping means "grade not available for this term" and becomes
  ``null`` (and, for the definition, "no definition");
* terms are sorted by system organ class, then term; keys are sorted; one term per line so
  that a re-import shows up as a readable diff.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

SHEET_NAME = "CTCAE v5.0 Clean Copy"
EXPECTED_HEADER = (
    "MedDRA Code",
    "MedDRA SOC",
    "CTCAE Term",
    "Grade 1",
    "Grade 2",
    "Grade 3",
    "Grade 4",
    "Grade 5",
    "Definition",
    "Navigational Note",
    "CTCAE v5.0 Change",
)
EXPECTED_TERM_COUNT = 837
NOT_AVAILABLE = "-"

METADATA: dict[str, Any] = {
    "name": "Common Terminology Criteria for Adverse Events",
    "version": "5.0",
    "release_date": "2017-11-27",
    "source": "National Cancer Institute (NCI), Cancer Therapy Evaluation Program (CTEP)",
    "source_file": "CTCAE_v5.0_2017-11-27.xlsx",
    "source_sheet": SHEET_NAME,
    "license": "US government work; public domain",
    "meddra_version": "20.1",
    "not_available_marker": NOT_AVAILABLE,
    "notes": (
        "Cell text copied verbatim from the NCI spreadsheet, outer whitespace stripped. "
        'A grade given as "-" by NCI is not available for the term and is stored as null.'
    ),
}

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "safety" / "data" / "ctcae_v5.0.json"


def _clean(cell: object) -> str | None:
    """Strip a text cell; the NCI "-" marker and empty cells become None."""
    if cell is None:
        return None
    text = str(cell).strip()
    if text in ("", NOT_AVAILABLE):
        return None
    return text


def _header(row: Sequence[object]) -> tuple[str, ...]:
    # The grade headers carry non-breaking spaces ("Grade 1 \xa0\xa0").
    return tuple(str(cell).replace("\xa0", " ").strip() for cell in row if cell is not None)


def rows_to_terms(rows: Iterable[Sequence[object]]) -> list[dict[str, Any]]:
    """Turn spreadsheet rows (header first) into sorted term records."""
    iterator = iter(rows)
    header = _header(next(iterator))
    if header != EXPECTED_HEADER:
        raise ValueError(f"unexpected header {header!r}; expected {EXPECTED_HEADER!r}")
    terms: list[dict[str, Any]] = []
    for row in iterator:
        if all(cell is None for cell in row):
            continue
        code, soc, term, g1, g2, g3, g4, g5, definition, note, change = row[:11]
        if not isinstance(code, int):
            raise ValueError(f"MedDRA code must be an integer, got {code!r} for {term!r}")
        terms.append(
            {
                "meddra_code": code,
                "soc": _clean(soc),
                "term": _clean(term),
                "definition": _clean(definition),
                "navigational_note": _clean(note),
                "v5_change": _clean(change),
                "grades": {str(n): _clean(text) for n, text in enumerate((g1, g2, g3, g4, g5), 1)},
            }
        )
    terms.sort(key=lambda t: (t["soc"], t["term"]))
    _validate(terms)
    return terms


def _validate(terms: list[dict[str, Any]]) -> None:
    if len(terms) != EXPECTED_TERM_COUNT:
        raise ValueError(f"expected {EXPECTED_TERM_COUNT} terms, found {len(terms)}")
    for key in ("meddra_code", "term"):
        values = [t[key] for t in terms]
        if len(set(values)) != len(values):
            raise ValueError(f"duplicate {key} values in the spreadsheet")
    for t in terms:
        if not t["soc"] or not t["term"]:
            raise ValueError(f"term without SOC or name: {t!r}")


def render(terms: list[dict[str, Any]]) -> str:
    """Compact, sorted JSON with one term per line."""
    metadata = dict(METADATA, term_count=len(terms))

    def dump(obj: object) -> str:
        return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))

    lines = ",\n".join(dump(t) for t in terms)
    return f'{{"metadata":{dump(metadata)},\n"terms":[\n{lines}\n]}}\n'


def read_rows(xlsx_path: Path) -> list[tuple[object, ...]]:
    import openpyxl  # a dev-time dependency of this script only

    workbook = openpyxl.load_workbook(xlsx_path, read_only=True, data_only=True)
    try:
        sheet = workbook[SHEET_NAME]
        return list(sheet.iter_rows(values_only=True))
    finally:
        workbook.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("xlsx", type=Path, help="path to CTCAE_v5.0_2017-11-27.xlsx")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--check", action="store_true", help="fail if the shipped file is out of date"
    )
    args = parser.parse_args(argv)

    text = render(rows_to_terms(read_rows(args.xlsx)))
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date; rerun without --check", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({EXPECTED_TERM_COUNT} terms, {len(text.encode())} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
