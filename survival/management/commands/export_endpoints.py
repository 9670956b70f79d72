"""Write a trial's ADaM-style datasets, Kaplan–Meier tables, data dictionary and manifest.

``python manage.py export_endpoints --trial CODE --out DIR [--format csv|xlsx|xpt|parquet]
[--data-cut YYYY-MM-DD] [--name CUTNAME]``, as TrialDesk's survival specification (``survival.md``) ("The
export") specifies. Prints a JSON summary (folder, files with SHA-256, row counts). Every run is
logged as an export job (source "command").
"""

from __future__ import annotations

import datetime as dt
import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from survival.domain.jobs import DEFAULT_FORMAT, EXPORT_FORMATS
from survival.services import ExportError, export_run_now
from trials.models import Trial, User


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--data-cut must be a date as YYYY-MM-DD, got {text!r}") from None


class Command(BaseCommand):
    help = (
        "Export a trial's analysis datasets (adsl, adtte, adae, adrs, km_summary, "
        "km_estimates), their data dictionary and a manifest with SHA-256 hashes into a folder. "
        "With --name, the data cut is frozen under that name the first time and exported "
        "identically from then on."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--trial", required=True, help="trial code, e.g. IPD")
        parser.add_argument("--out", required=True, help="folder to write (created if missing)")
        parser.add_argument(
            "--format",
            choices=EXPORT_FORMATS,
            default=DEFAULT_FORMAT,
            help=f"file format (default {DEFAULT_FORMAT})",
        )
        parser.add_argument(
            "--data-cut",
            type=_date,
            default=None,
            help="ignore records dated after this day (YYYY-MM-DD; default today, or the "
            "named cut's date)",
        )
        parser.add_argument(
            "--name", default=None, help="named data cut to freeze or to export again"
        )
        parser.add_argument(
            "--user", default=None, help="email of the person exporting (kept in the export log)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        trial = Trial.objects.filter(code=options["trial"]).first()
        if trial is None:
            raise CommandError(f"no trial with code {options['trial']!r}")
        user = None
        if options["user"]:
            user = User.objects.filter(email__iexact=options["user"]).first()
            if user is None:
                raise CommandError(f"no user with email {options['user']!r}")
        out_dir = Path(options["out"]).resolve()
        try:
            job = export_run_now(
                trial=trial,
                out_dir=out_dir,
                fmt=options["format"],
                data_cut=options["data_cut"],
                cut_name=options["name"],
                acting_user=user,
            )
        except ExportError as exc:
            raise CommandError(str(exc)) from None
        summary = {
            "trial": trial.code,
            "data_cut": job.data_cut.isoformat(),
            "data_cut_name": job.named_cut.name if job.named_cut else None,
            "format": job.format,
            "out": str(out_dir),
            "export_job": job.pk,
            "rows": job.row_counts,
            "files": job.files,
        }
        self.stdout.write(json.dumps(summary, indent=2, sort_keys=True))
