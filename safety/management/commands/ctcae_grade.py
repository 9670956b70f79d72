"""Grade one laboratory value against CTCAE and print the result as JSON.

    python manage.py ctcae_grade --term "Neutrophil count decreased" --value 0.8 --unit "10^9/L"
    python manage.py ctcae_grade --term "Creatinine increased" --value 159 --unit umol/L \\
        --uln 106 --baseline 70

``--lln``, ``--uln`` and ``--baseline`` are in the same unit as ``--value``. "grade": 0 means
within normal limits. The printed "value" and "unit" are the value as graded (converted into
the unit of NCI's cut-points); "input_value"/"input_unit" echo what was given.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from safety.domain.ctcae import DEFAULT_VERSION, UnknownCtcaeVersionError
from safety.domain.lab_grading import LabGradingError, grade_lab_value, lab_gradable_terms


def _number(text: str) -> Decimal:
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        raise CommandError(f"not a number: {text!r}") from None


class Command(BaseCommand):
    help = "Suggest the CTCAE grade of a laboratory value (prints JSON)."

    def add_arguments(self, parser: CommandParser) -> None:
        terms = ", ".join(lab_gradable_terms(DEFAULT_VERSION))
        parser.add_argument("--term", required=True, help=f"CTCAE term; one of: {terms}")
        parser.add_argument("--value", required=True, help="the laboratory value")
        parser.add_argument("--unit", required=True, help='unit of --value, e.g. "10^9/L", "/mm3"')
        parser.add_argument("--lln", help="site lower limit of normal, in --unit")
        parser.add_argument("--uln", help="site upper limit of normal, in --unit")
        parser.add_argument("--baseline", help="patient's baseline value, in --unit")
        parser.add_argument("--ctcae-version", default=DEFAULT_VERSION, help="CTCAE version")

    def handle(self, *args: Any, **options: Any) -> None:
        optional = {
            name: None if options[name] is None else _number(options[name])
            for name in ("lln", "uln", "baseline")
        }
        try:
            result = grade_lab_value(
                options["term"],
                _number(options["value"]),
                options["unit"],
                ctcae_version=options["ctcae_version"],
                **optional,
            )
        except (LabGradingError, UnknownCtcaeVersionError) as exc:
            raise CommandError(str(exc)) from exc
        payload = {
            "grade": result.grade,
            "term": result.term,
            "value": result.value_converted,
            "unit": result.unit,
            "rule": result.rule_text,
            "lln": result.lln,
            "uln": result.uln,
            "baseline": result.baseline,
            "defaults_used": list(result.defaults_used),
            "input_value": result.input_value,
            "input_unit": result.input_unit,
            "ctcae_version": result.ctcae_version,
        }
        self.stdout.write(json.dumps(payload, ensure_ascii=False))
