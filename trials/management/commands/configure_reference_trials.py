from django.core.management.base import BaseCommand, CommandError

from trials.reference_trials import REFERENCE_TRIALS, configure_reference_trial


class Command(BaseCommand):
    help = (
        "Apply trial A's (IPD) and trial B's (CFZ) configuration: protocol version 1, agents, "
        "dose levels and eligibility criteria (idempotent; existing records are kept)."
    )

    def add_arguments(self, parser):
        parser.add_argument("codes", nargs="*", help=f"Default: {' '.join(REFERENCE_TRIALS)}")

    def handle(self, *args, codes, **options):
        unknown = sorted(set(codes) - set(REFERENCE_TRIALS))
        if unknown:
            raise CommandError(f"No configuration for {', '.join(unknown)}.")
        for code in codes or REFERENCE_TRIALS:
            trial = configure_reference_trial(code, acting_user=None)
            self.stdout.write(f"{trial.code}: configured ({trial.get_status_display()})")
