import sys
from datetime import date

from django.core.management.base import BaseCommand
from django.utils import timezone

from trials.demo_data.validation import format_table, trial_a_checks, trial_b_checks


class Command(BaseCommand):
    help = (
        "Print trial A's published figures, and trial B's synthetic design, beside the figures "
        "TrialDesk computes from the demo data; exit with status 1 when any differs."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--data-cut",
            type=date.fromisoformat,
            default=None,
            help="Data cut of the survival analysis (YYYY-MM-DD; default: today, the date "
            "load_demo_trials ends the history at).",
        )

    def handle(self, *args, data_cut=None, **options):
        a = trial_a_checks(data_cut=data_cut or timezone.localdate())
        b = trial_b_checks()
        self.stdout.write("Trial A (IPD): the publication")
        self.stdout.write(format_table(a))
        self.stdout.write("")
        self.stdout.write("Trial B (CFZ): the synthetic design (no published results)")
        self.stdout.write(format_table(b, reference="design"))
        failed = [c for c in [*a, *b] if not c.ok]
        if failed:
            self.stderr.write(
                f"{len(failed)} figure(s) differ: " + "; ".join(c.figure for c in failed)
            )
            sys.exit(1)
        self.stdout.write(
            f"All {len(a)} figures of trial A match the paper; all {len(b)} figures of trial B "
            "match its design."
        )
