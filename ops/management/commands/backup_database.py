"""python manage.py backup_database [--out PATH]: a pg_dump (custom format) of the database."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ops.backup import BackupError, backup_database, default_backup_dir


class Command(BaseCommand):
    help = (
        "Write a pg_dump (custom format) of the app's database to "
        "var/backups/trialdesk-<UTC time>.dump, or to --out."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--out",
            type=Path,
            help=f"File to write (default: {default_backup_dir()}/trialdesk-<UTC time>.dump)",
        )

    def handle(self, *args, out: Path | None = None, **options):
        try:
            path = backup_database(out=out)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(str(path))
