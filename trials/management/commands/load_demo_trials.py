import time
from datetime import date

from django.core.management.base import BaseCommand

from trials.demo import DEMO_ACCOUNTS, format_accounts, write_accounts_file
from trials.demo_data.load import load_demo


class Command(BaseCommand):
    help = (
        "Create the demo trials IPD and CFZ with synthetic patients whose whole history is "
        "entered through the services (idempotent: a loaded trial is left as it is)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--today",
            type=date.fromisoformat,
            default=None,
            help="The data cut the history ends at (YYYY-MM-DD; default: today).",
        )

    def handle(self, *args, today=None, **options):
        from django.utils import timezone

        started = time.monotonic()
        today = today or timezone.localdate()

        def progress(line: str) -> None:
            self.stdout.write(f"[{time.monotonic() - started:5.1f}s] {line}")

        # The dictionary is normally installed by a data migration; a database that was
        # emptied since (a flush) gets it back before any adverse event is entered.
        from safety.services import ctcae_dictionary_install

        added = ctcae_dictionary_install(version="5.0", acting_user=None)
        if added:
            progress(f"CTCAE v5.0 dictionary installed ({added} terms)")
        created = load_demo(today=today, progress=progress)
        write_accounts_file(DEMO_ACCOUNTS)
        for code, count in created.items():
            progress(f"{code}: {count} patients created")
        self.stdout.write("Demo accounts (development only):")
        self.stdout.write(format_accounts(DEMO_ACCOUNTS))
