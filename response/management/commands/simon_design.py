"""Print the optimal and minimax Simon (1989) two-stage designs as one JSON object."""

from __future__ import annotations

import json
import math
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from response.domain.simon import (
    DEFAULT_NMAX,
    MAX_NMAX,
    NoFeasibleDesignError,
    SimonDesignError,
    search_designs,
)


def _probability(text: str) -> float:
    """Parse a number; range checks happen in the domain so the messages are the same."""
    try:
        value = float(text)
    except ValueError:
        raise CommandError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise CommandError(f"expected a finite number, got {text!r}")
    return value


class Command(BaseCommand):
    help = (
        "Search Simon's optimal and minimax two-stage designs (Simon 1989) for H0: p <= p0 "
        "vs H1: p >= p1 and print {'optimal': {...}, 'minimax': {...}} as JSON. r1 and r are "
        "the largest response counts that still mean failure: stop after n1 patients if r1 or "
        "fewer respond; the drug is promising if more than r of n respond."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--p0", required=True, help="uninteresting response rate, in (0, 1)")
        parser.add_argument("--p1", required=True, help="desirable response rate, in (p0, 1)")
        parser.add_argument("--alpha", required=True, help="type I error, in (0, 1)")
        parser.add_argument("--beta", required=True, help="type II error (1 - power), in (0, 1)")
        parser.add_argument(
            "--nmax",
            type=int,
            default=DEFAULT_NMAX,
            help=f"largest total sample size searched (2 to {MAX_NMAX}; default {DEFAULT_NMAX})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        p0 = _probability(options["p0"])
        p1 = _probability(options["p1"])
        alpha = _probability(options["alpha"])
        beta = _probability(options["beta"])
        nmax = options["nmax"]
        try:
            result = search_designs(p0, p1, alpha, beta, nmax)
        except SimonDesignError as exc:
            raise CommandError(str(exc)) from exc
        except NoFeasibleDesignError as exc:
            raise CommandError(str(exc)) from exc
        for note in result.warnings:
            self.stderr.write(note)
        payload = {
            "optimal": result.optimal.as_dict(),
            "minimax": result.minimax.as_dict(),
            "p0": p0,
            "p1": p1,
            "alpha_target": alpha,
            "beta_target": beta,
            "nmax": nmax,
            "warnings": list(result.warnings),
            "rule_version": result.rule_version,
        }
        self.stdout.write(json.dumps(payload))
