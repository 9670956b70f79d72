import sys
from datetime import date

from django.core.management.base import BaseCommand
from django.utils import timezone

from trials.demo_data.validation import format_table, trial_a_checks


class Command(BaseCommand):
    help = (
        "Print trial A's published figures beside the figures TrialDesk computes from the demo "
        "data; exit with status 1 when any differs."
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
        checks = trial_a_checks(data_cut=data_cut or timezone.localdate())
        self.stdout.write(format_table(checks))
        failed = [c for c in checks if not c.ok]
        if failed:
            self.stderr.write(f"{len(failed)} figure(s) differ from the paper.")
            sys.exit(1)
        self.stdout.write(f"All {len(checks)} figures match the paper.")
