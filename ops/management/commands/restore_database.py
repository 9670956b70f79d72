"""python manage.py restore_database --file F --target-db NAME [--replace]."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ops.backup import BackupError, restore_database


class Command(BaseCommand):
    help = (
        "Restore a backup made by backup_database into the database --target-db on the app's "
        "database server (created when missing; all or nothing)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--file", type=Path, required=True, help="The .dump file")
        parser.add_argument("--target-db", required=True, help="Database to restore into")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Drop and re-create --target-db if it exists (nobody may be connected to it)",
        )

    def handle(self, *args, file: Path, target_db: str, replace: bool, **options):
        try:
            target = restore_database(archive=file, target_db=target_db, replace=replace)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Restored {file} into {target.describe()}")
