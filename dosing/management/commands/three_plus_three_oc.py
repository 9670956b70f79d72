"""Operating characteristics of the 3+3 design for assumed true DLT rates.

    python manage.py three_plus_three_oc --tox 0.05,0.1,0.2,0.3,0.5 [--deescalate]
                                          [--sims 20000 --seed 1]

prints one JSON object with the exact ``p_no_dose``, ``p_select`` (one per level) and
``expected_n``; with ``--sims`` also a seeded Monte Carlo check under ``simulation``. A thin
wrapper over ``dosing.domain.operating_characteristics``.
"""

from __future__ import annotations

import json
import random
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dosing.domain.escalation import EscalationInputError, EscalationSettings
from dosing.domain.operating_characteristics import (
    exact_operating_characteristics,
    simulate_operating_characteristics,
)

MAX_SIMS = 1_000_000


def _parse_rates(text: str) -> list[float]:
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise CommandError(f"--tox must be comma-separated probabilities, got {text!r}")
    try:
        rates = [float(p) for p in parts]
    except ValueError:
        raise CommandError(f"--tox must be comma-separated probabilities, got {text!r}") from None
    for p in rates:
        if not 0.0 <= p <= 1.0:
            raise CommandError(f"--tox: every DLT probability must lie in [0, 1], got {p}")
    return rates


class Command(BaseCommand):
    help = (
        "Exact operating characteristics (P(select each level), P(no dose), E[N]) of the "
        "3+3 design for true DLT probabilities; optional Monte Carlo check."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--tox",
            required=True,
            help="true DLT probability per level, lowest first, e.g. 0.05,0.1,0.2",
        )
        parser.add_argument("--deescalate", action="store_true", help="Korn et al. 1994 variant")
        parser.add_argument("--require-six-at-mtd", action="store_true")
        parser.add_argument(
            "--level-minus-one",
            action="store_true",
            help="the first rate is for a dose level -1 below the start level 1",
        )
        parser.add_argument("--sims", type=int, default=None, help="Monte Carlo trials")
        parser.add_argument("--seed", type=int, default=None, help="seed for --sims")

    def handle(self, *args: Any, **options: Any) -> None:
        rates = _parse_rates(options["tox"])
        minus_one = options["level_minus_one"]
        num_levels = len(rates) - 1 if minus_one else len(rates)
        if num_levels < 1:
            raise CommandError("--tox: give a DLT probability for every level (at least 1)")
        sims = options["sims"]
        if sims is not None and not 1 <= sims <= MAX_SIMS:
            raise CommandError(f"--sims must be between 1 and {MAX_SIMS}, got {sims}")
        if options["seed"] is not None and sims is None:
            raise CommandError("--seed only applies together with --sims")
        try:
            settings = EscalationSettings(
                num_levels=num_levels,
                allow_deescalate=options["deescalate"],
                require_six_at_mtd=options["require_six_at_mtd"],
                lowest_level=-1 if minus_one else 1,
            )
            data = exact_operating_characteristics(rates, settings).to_dict()
            if sims is not None:
                seed = options["seed"] if options["seed"] is not None else random.randrange(2**32)
                simulated = simulate_operating_characteristics(
                    rates, settings, sims, random.Random(seed)
                )
                data["simulation"] = {"seed": seed, **simulated.to_dict()}
        except EscalationInputError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(data))
