"""What the 3+3 rules decide after an outcome path (the what-if command).

    python manage.py three_plus_three --doses 5 --path "1NNN 2NTT" [--deescalate]

prints one JSON object with at least ``recommended_dose`` (level number, or null when no dose
is tolerable) and ``continue``. A thin wrapper over ``dosing.domain.paths``.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dosing.domain.decision_table import what_if
from dosing.domain.paths import PathError, replay


class Command(BaseCommand):
    help = (
        "Replay a dose-finding outcome path (e.g. '1NNN 2NTT') through the 3+3 rules and "
        "print the recommendation as one JSON object."
    )
    # A pure computation: no database, so no system or migration checks before it runs.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--doses", type=int, required=True, help="number of dose levels K")
        parser.add_argument(
            "--path",
            required=True,
            help="outcomes, cohorts separated by spaces: level then N (no DLT) / T (DLT)",
        )
        parser.add_argument(
            "--deescalate",
            action="store_true",
            help="Korn et al. 1994 variant: de-escalate to confirm 6 at the MTD",
        )
        parser.add_argument(
            "--require-six-at-mtd",
            action="store_true",
            help="expand the recommended level to 6 before declaring it the MTD",
        )
        parser.add_argument(
            "--level-minus-one",
            action="store_true",
            help="the protocol names a dose level -1 below level 1",
        )
        parser.add_argument(
            "--start", type=int, default=None, help="start level (default: first cohort's)"
        )
        parser.add_argument(
            "--early-determination",
            action="store_true",
            help="decide 'MTD exceeded' as soon as 2 DLTs are seen in an incomplete cohort",
        )
        parser.add_argument(
            "--what-if",
            action="store_true",
            help="add the decision for each DLT count of the next cohort",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = replay(
                options["path"],
                options["doses"],
                allow_deescalate=options["deescalate"],
                require_six_at_mtd=options["require_six_at_mtd"],
                lowest_level=-1 if options["level_minus_one"] else 1,
                start_level=options["start"],
                early_determination=options["early_determination"],
            )
        except PathError as exc:
            raise CommandError(f"invalid path {options['path']!r}: {exc}") from exc
        data = result.to_dict()
        if options["what_if"]:
            data["what_if"] = [o.to_dict() for o in what_if(result.settings, result.state)]
        self.stdout.write(json.dumps(data))
