"""Compute the IMWG response for one patient-line from a JSON case and print one JSON object.

``python manage.py imwg_response --input CASE.json`` (``-`` reads stdin). The input is the
engine's JSON shape (``settings``, ``baseline``, ``assessments``, ``new_therapy_date``,
``death_date``), or a case file that wraps it as ``{"input": {...}, ...}``. Optional
investigator entries (``assessments[i].entered_response`` / ``entered_pd_basis`` and
``entered_best_overall_response``) are compared with the computed calls.

Output: ``assessments`` (date, timepoint, confirmed, status, flags, trace),
``best_overall_response``, ``best_response_date``, ``progression_date``, ``flags``,
``ruleset_version``, ``trace`` and ``discrepancies``. Bad input exits non-zero with a message
naming the field.
"""

from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from response.domain.imwg import ImwgInput, ImwgInputError, evaluate
from response.domain.imwg_discrepancy import classify_discrepancies, entries_from_dict


class Command(BaseCommand):
    help = (
        "Compute IMWG timepoint and confirmed responses, best overall response and progression "
        "date (IMWG 2016 by default) for one case and print them as JSON. --input takes a JSON "
        "file, or - for stdin."
    )
    # call_command(..., stdin=StringIO(...)) feeds "-" in tests, as createsuperuser does
    stealth_options = ("stdin",)

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--input", required=True, help="path to the JSON case, or - to read stdin"
        )
        parser.add_argument(
            "--no-trace", action="store_true", help="leave the rule trace out of the output"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        data = _load(options["input"], options.get("stdin"))
        if isinstance(data, Mapping) and "input" in data and "baseline" not in data:
            data = data["input"]  # a case file: {"id", "input", "expected", ...}
        try:
            case = ImwgInput.from_dict(data)
            entered, entered_bor = entries_from_dict(data)
            result = evaluate(case)
            discrepancies = classify_discrepancies(
                case, result, entered=entered, entered_bor=entered_bor
            )
        except ImwgInputError as exc:
            raise CommandError(f"invalid input: {exc}") from None
        out = result.to_dict(include_trace=not options["no_trace"])
        out["discrepancies"] = [d.to_dict() for d in discrepancies]
        self.stdout.write(json.dumps(out, indent=2))


def _load(source: str, stdin: Any) -> Any:
    try:
        if source == "-":
            text = (stdin or sys.stdin).read()
        else:
            text = Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot read {source}: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(
            f"{source}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
