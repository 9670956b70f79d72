"""Every write of the survival app: named data cuts, exports, and the export job's lifecycle.

An export is always logged as an :class:`~survival.models.ExportJob` (page, API or command);
its status changes go through :func:`export_job_transition` and the table in
``survival.domain.jobs``. The files are written by ``survival.writers`` into
``settings.MEDIA_ROOT/exports/<TRIAL>/…`` (or the command's ``--out`` folder), and the
manifest lists the SHA-256 of each, so any copy can be checked against the log.

A named data cut is frozen when it is created: its datasets are stored as Parquet files with
their hashes, and every export of the cut (at once or years later, in any format) is written
from those files, so the same cut and format always give byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.metadata
import json
import logging
import platform
import shutil
import tomllib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.enqueue import enqueue_on_commit, send_quietly
from survival import selectors
from survival.domain.adam import to_xpt_frame
from survival.domain.analysis import DATASET_NAMES, SurvivalAnalysis, analyse
from survival.domain.jobs import (
    DEFAULT_FORMAT,
    EXPORT_FORMATS,
    JobSource,
    JobStatus,
    JobTransitionError,
    check_job_transition,
    is_final,
)
from survival.models import CUT_NAME_VALIDATOR, DataCut, ExportJob
from survival.writers import (
    DATE_FORMAT_LABEL,
    FILE_EXTENSIONS,
    XPT_TABLE_NAMES,
    WrittenFile,
    column_types,
    pandas_read_csv,
    read_parquet_frame,
    sha256_of,
    write_csv,
    write_json,
    write_parquet,
    write_xlsx,
    write_xpt,
    write_zip,
)
from trials.audit import audited
from trials.models import Trial, User

logger = logging.getLogger(__name__)

EXPORT_ROOT = "exports"
MANIFEST_NAME = "manifest.json"
#: A queued job not started after this long is sent again by the sweep.
REQUEUE_AFTER = dt.timedelta(minutes=2)
#: A running job older than this has outlived the task's hard time limit: it failed.
STALE_AFTER = dt.timedelta(minutes=20)
DICTIONARY_LABELS = (
    "Dataset",
    "Variable Name",
    "Variable Name in SAS Transport Files",
    "Variable Label",
    "Type (string, integer, float, date)",
    "Unit",
    "Code List (code=decode; ...)",
)
MISSING_VALUES = (
    "Missing values are empty: an empty CSV field, an empty Excel cell, a SAS missing value "
    "(blank text in XPT), a Parquet null; never 0 nor a sentinel. Text is never an empty string."
)
Progress = Callable[[int, str], None]


class ExportError(Exception):
    """An export that cannot be produced; the message is meant for the statistician."""


# --- Versions -----------------------------------------------------------------------------------


def trialdesk_version() -> str:
    try:
        return importlib.metadata.version("trialdesk")
    except importlib.metadata.PackageNotFoundError:
        pyproject = Path(settings.BASE_DIR) / "pyproject.toml"
        try:
            return str(tomllib.loads(pyproject.read_text())["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"


@functools.cache
def software_versions() -> dict[str, str]:
    """TrialDesk's version and those of the libraries that shape the files' bytes."""
    versions = {"trialdesk": trialdesk_version(), "python": platform.python_version()}
    for package in ("pandas", "numpy", "lifelines", "pyarrow", "pyreadstat", "openpyxl"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "missing"
    return versions


def software_version() -> str:
    return f"trialdesk {trialdesk_version()}"


# --- The analysis -------------------------------------------------------------------------------


def survival_analysis(trial: Trial, *, data_cut: dt.date) -> SurvivalAnalysis:
    """Endpoints, fits, follow-up and ORR of ``trial`` at ``data_cut`` (reads only).

    Raises :class:`ExportError` when the recorded dates cannot give an endpoint (for example a
    progression before the first dose), naming the patient.
    """
    if data_cut < EARLIEST_DATA_CUT:
        raise ExportError(f"The data cut {data_cut:%Y-%m-%d} is before any trial data.")
    inputs = selectors.trial_inputs(trial, data_cut=data_cut)
    try:
        return analyse(inputs)
    except ValueError as exc:
        raise ExportError(f"The endpoints cannot be derived: {exc}. Correct it at source.") from exc


def _today() -> dt.date:
    return timezone.localdate()


#: The earliest data cut accepted (no trial data is older; pandas dates start in 1677).
EARLIEST_DATA_CUT = dt.date(1900, 1, 1)


def check_data_cut(data_cut: dt.date | None, *, today: dt.date | None = None) -> dt.date:
    """The data cut to use (today when none is given); a future or implausibly old date is a
    ``ValidationError`` on ``data_cut``."""
    today = today or _today()
    if data_cut is None:
        return today
    if data_cut > today:
        raise ValidationError({"data_cut": f"{data_cut:%Y-%m-%d} is in the future."})
    if data_cut < EARLIEST_DATA_CUT:
        raise ValidationError(
            {"data_cut": f"{data_cut:%Y-%m-%d} is before {EARLIEST_DATA_CUT:%Y-%m-%d}."}
        )
    return data_cut


# --- Writing an export --------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportResult:
    out_dir: Path
    files: tuple[WrittenFile, ...]
    manifest: dict[str, Any]

    @property
    def row_counts(self) -> dict[str, int]:
        return {f.name.rsplit(".", 1)[0]: f.rows for f in self.files if f.rows is not None}


def _write_dataset(
    frame: pd.DataFrame, name: str, out_dir: Path, fmt: str, stamp: dt.date
) -> WrittenFile:
    path = out_dir / f"{name}.{FILE_EXTENSIONS[fmt]}"
    if fmt == "csv":
        write_csv(frame, path)
    elif fmt == "parquet":
        write_parquet(frame, path)
    elif fmt == "xlsx":
        write_xlsx(frame, path, sheet=name, stamp=stamp)
    elif fmt == "xpt":
        if name == "data_dictionary":
            xpt_frame, labels = frame, list(DICTIONARY_LABELS)
        else:
            xpt_frame, labels = to_xpt_frame(frame, name)
        write_xpt(xpt_frame, path, table_name=XPT_TABLE_NAMES[name], labels=labels, stamp=stamp)
    else:
        raise ExportError(f"Unknown format {fmt!r}: choose one of {', '.join(EXPORT_FORMATS)}.")
    return WrittenFile(path.name, sha256_of(path), path.stat().st_size, len(frame))


def write_export(
    frames: dict[str, pd.DataFrame],
    context: dict[str, Any],
    out_dir: Path,
    *,
    fmt: str,
    cut_name: str | None = None,
    on_progress: Progress | None = None,
    progress_span: tuple[int, int] = (40, 95),
) -> ExportResult:
    """Write every dataset, then the manifest, into ``out_dir`` (created if needed)."""
    if fmt not in EXPORT_FORMATS:
        raise ExportError(f"Unknown format {fmt!r}: choose one of {', '.join(EXPORT_FORMATS)}.")
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.date.fromisoformat(str(context["data_cut"]))
    start, end = progress_span
    written: list[WrittenFile] = []
    datasets: dict[str, Any] = {}
    for index, name in enumerate(DATASET_NAMES):
        frame = frames[name]
        item = _write_dataset(frame, name, out_dir, fmt, stamp)
        written.append(item)
        entry: dict[str, Any] = {
            "file": item.name,
            "rows": item.rows,
            "columns": column_types(frame),
        }
        if fmt == "csv":
            entry["pandas_read_csv"] = pandas_read_csv(frame)
        datasets[name] = entry
        if on_progress is not None:
            done = start + (end - start) * (index + 1) // len(DATASET_NAMES)
            on_progress(done, f"{name} written")
    manifest = {
        **context,
        "data_cut_name": cut_name,
        "format": fmt,
        "date_format": DATE_FORMAT_LABEL,
        "missing_values": MISSING_VALUES,
        "software": dict(software_versions()),
        "datasets": datasets,
        "files": [f.as_dict() for f in written],
    }
    write_json(manifest, out_dir / MANIFEST_NAME)
    return ExportResult(out_dir=out_dir, files=tuple(written), manifest=manifest)


# --- Named data cuts ----------------------------------------------------------------------------


def _media(relative: str) -> Path:
    return Path(settings.MEDIA_ROOT) / relative


def _check_cut_name(name: str) -> str:
    name = (name or "").strip()
    try:
        CUT_NAME_VALIDATOR(name)
    except ValidationError as exc:
        raise ValidationError({"cut_name": exc.messages}) from None
    return name


def data_cut_create(
    *,
    trial: Trial,
    name: str,
    cut_date: dt.date,
    acting_user: User | None,
    analysis: SurvivalAnalysis | None = None,
) -> DataCut:
    """Freeze ``trial``'s datasets at ``cut_date`` under ``name`` (unique per trial)."""
    name = _check_cut_name(name)
    if selectors.find_data_cut(trial, name=name) is not None:
        raise ValidationError({"cut_name": f"{trial.code} already has a data cut named {name}."})
    if analysis is None:
        analysis = survival_analysis(trial, data_cut=cut_date)
    frames = analysis.frames()
    with transaction.atomic(), audited(acting_user=acting_user, reason="data cut frozen"):
        cut = DataCut.objects.create(
            trial=trial,
            name=name,
            cut_date=cut_date,
            created_by=acting_user,
            software_version=software_version(),
        )
        # A random part keeps the folder unique across databases sharing a disk.
        relative = f"{EXPORT_ROOT}/{trial.code}/cuts/{cut.pk}-{uuid.uuid4().hex[:12]}"
        folder = _media(relative)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        hashes, rows = {}, {}
        for dataset in DATASET_NAMES:
            path = folder / f"{dataset}.parquet"
            write_parquet(frames[dataset], path)
            hashes[path.name] = sha256_of(path)
            rows[dataset] = len(frames[dataset])
        context = analysis.context()
        write_json(context, folder / "context.json")
        hashes["context.json"] = sha256_of(folder / "context.json")
        cut.frozen_dir = relative
        cut.frozen_files = hashes
        cut.row_counts = rows
        cut.save(update_fields=["frozen_dir", "frozen_files", "row_counts"])
    logger.info(
        "data cut frozen", extra={"trial": trial.code, "cut": name, "cut_date": str(cut_date)}
    )
    return cut


def data_cut_frames(cut: DataCut) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """The frozen datasets and analysis context of a named cut, checked against their hashes."""
    folder = _media(cut.frozen_dir)
    for file_name, expected in cut.frozen_files.items():
        path = folder / file_name
        if not path.exists() or sha256_of(path) != expected:
            raise ExportError(
                f"The frozen files of data cut {cut.name} are missing or changed ({file_name}); "
                "it cannot be re-exported identically."
            )
    frames = {name: read_parquet_frame(folder / f"{name}.parquet") for name in DATASET_NAMES}
    context = json.loads((folder / "context.json").read_text())
    return frames, context


# --- Export jobs --------------------------------------------------------------------------------


def export_job_transition(*, job: ExportJob, to_status: str, **fields: Any) -> ExportJob:
    """The one way a job's status changes (table in ``survival.domain.jobs``)."""
    try:
        check_job_transition(job.status, to_status)
    except JobTransitionError as exc:
        raise ValidationError({"status": str(exc)}) from None
    now = timezone.now()
    job.status = to_status
    if to_status == JobStatus.RUNNING:
        job.started_at = now
        job.attempts += 1
        job.progress = 0
        job.error = ""
    if is_final(to_status):
        job.finished_at = now
    if to_status == JobStatus.DONE:
        job.progress = 100
    for name, value in fields.items():
        setattr(job, name, value)
    with audited(acting_user=job.requested_by, reason=f"export {to_status}", export_job=job.pk):
        job.save()
    return job


def _job_progress(job: ExportJob) -> Progress:
    def update(percent: int, step: str) -> None:
        job.progress, job.step = percent, step
        ExportJob.objects.filter(pk=job.pk).update(progress=percent, step=step[:100])

    return update


def export_job_start(
    *,
    trial: Trial,
    acting_user: User,
    fmt: str = DEFAULT_FORMAT,
    data_cut: dt.date | None = None,
    cut_name: str | None = None,
    source: str = JobSource.WEB,
    today: dt.date | None = None,
) -> ExportJob:
    """Queue an export of ``trial`` (run by the ``survival.run_export`` task after commit).

    With ``cut_name``: an existing named cut is exported from its frozen files (a different
    ``data_cut`` is refused); a new name freezes a new cut at ``data_cut`` first.
    """
    if not selectors.can_see_analysis(acting_user, trial):
        raise PermissionDenied("Only the trial's statisticians and trial admins export it.")
    today = today or _today()
    errors: dict[str, list[str]] = {}
    if fmt not in EXPORT_FORMATS:
        errors["format"] = [f"Choose one of {', '.join(EXPORT_FORMATS)}."]
    named = None
    name = ""
    try:
        cut_date = check_data_cut(data_cut, today=today)
    except ValidationError as exc:
        errors.update(exc.message_dict)
        cut_date = today
    if cut_name:
        try:
            name = _check_cut_name(cut_name)
        except ValidationError as exc:
            errors.update(exc.message_dict)
        else:
            named = selectors.find_data_cut(trial, name=name)
            if named is not None:
                if data_cut is not None and data_cut != named.cut_date:
                    errors["data_cut"] = [
                        f"Data cut {named.name} is frozen at {named.cut_date:%Y-%m-%d}; leave "
                        "the date empty to export it again, or choose a new name."
                    ]
                cut_date = named.cut_date
    if errors:
        raise ValidationError(errors)
    from survival import tasks

    with transaction.atomic(), audited(acting_user=acting_user, reason="export requested"):
        job = ExportJob.objects.create(
            trial=trial,
            requested_by=acting_user,
            source=source,
            format=fmt,
            data_cut=cut_date,
            named_cut=named,
            cut_name=name,
        )
        enqueue_on_commit(tasks.run_export, job.pk)
    logger.info(
        "export queued",
        extra={"trial": trial.code, "job": job.pk, "format": fmt, "user": acting_user.pk},
    )
    return job


def _claim(job_id: int) -> ExportJob | None:
    with transaction.atomic():
        job = (
            ExportJob.objects.select_for_update(of=("self",))
            .select_related("trial", "named_cut", "requested_by")
            .filter(pk=job_id)
            .first()
        )
        if job is None or is_final(job.status):
            return job
        return export_job_transition(job=job, to_status=JobStatus.RUNNING, step="starting")


def _frames_for(
    job: ExportJob, progress: Progress
) -> tuple[dict[str, pd.DataFrame], dict[str, Any], DataCut | None]:
    """The frames to write: a named cut's frozen ones (freezing it first when new), or live."""
    trial = job.trial
    cut = job.named_cut
    if cut is None and job.cut_name:
        cut = selectors.find_data_cut(trial, name=job.cut_name)
        if cut is None:
            progress(10, "reading the trial's records")
            analysis = survival_analysis(trial, data_cut=job.data_cut)
            progress(30, "freezing the data cut")
            try:
                cut = data_cut_create(
                    trial=trial,
                    name=job.cut_name,
                    cut_date=job.data_cut,
                    acting_user=job.requested_by,
                    analysis=analysis,
                )
            except (IntegrityError, ValidationError):
                cut = selectors.find_data_cut(trial, name=job.cut_name)  # created meanwhile
        if cut is None or cut.cut_date != job.data_cut:
            raise ExportError(
                f"Data cut {job.cut_name} already exists with another date; choose a new name."
            )
    if cut is not None:
        progress(35, "reading the frozen data cut")
        frames, context = data_cut_frames(cut)
        return frames, context, cut
    progress(10, "reading the trial's records")
    analysis = survival_analysis(trial, data_cut=job.data_cut)
    progress(30, "deriving endpoints and fitting Kaplan–Meier")
    frames = analysis.frames()
    return frames, analysis.context(), None


def _folder_name(job: ExportJob, cut: DataCut | None) -> str:
    label = cut.name if cut is not None else f"{job.data_cut:%Y-%m-%d}"
    return f"{job.trial.code}_{label}_{job.format}"


def _run(job: ExportJob, out_dir: Path, *, make_zip: bool) -> ExportJob:
    progress = _job_progress(job)
    frames, context, cut = _frames_for(job, progress)
    progress(40, "writing the datasets")
    if out_dir.exists() and make_zip:
        shutil.rmtree(out_dir)  # a re-delivered job starts over
    result = write_export(
        frames,
        context,
        out_dir,
        fmt=job.format,
        cut_name=cut.name if cut else None,
        on_progress=progress,
    )
    fields: dict[str, Any] = {
        "named_cut": cut,
        "files": [f.as_dict() for f in result.files]
        + [
            {
                "name": MANIFEST_NAME,
                "sha256": sha256_of(out_dir / MANIFEST_NAME),
                "bytes": (out_dir / MANIFEST_NAME).stat().st_size,
            }
        ],
        "row_counts": result.row_counts,
        "software_version": software_version(),
        "step": "done",
    }
    if make_zip:
        progress(97, "packing the download")
        folder = _folder_name(job, cut)
        zip_path = out_dir.parent / f"{folder}.zip"
        names = [out_dir / f["name"] for f in fields["files"]]
        write_zip(names, zip_path, folder=folder)
        fields["zip_path"] = str(zip_path.relative_to(Path(settings.MEDIA_ROOT)))
        fields["zip_sha256"] = sha256_of(zip_path)
    return export_job_transition(job=job, to_status=JobStatus.DONE, **fields)


def _fail(job: ExportJob, exc: BaseException) -> ExportJob:
    message = str(exc) if isinstance(exc, ExportError) else f"The export failed: {exc!r}"
    if exc.__class__.__name__ == "SoftTimeLimitExceeded":
        message = "The export took too long and was stopped; try again or ask an administrator."
    logger.warning("export failed", extra={"job": job.pk, "error": repr(exc)})
    job.refresh_from_db()
    if is_final(job.status):
        return job
    return export_job_transition(job=job, to_status=JobStatus.FAILED, error=message[:2000])


def export_job_run(*, job_id: int) -> ExportJob | None:
    """Run a queued job (the task's one call). Idempotent: a finished job is left as it is,
    a re-delivered running job starts over and writes the same files."""
    job = _claim(job_id)
    if job is None or is_final(job.status):
        return job
    # A random part keeps the folder unguessable and unique across databases sharing a disk.
    relative = (
        job.output_dir or f"{EXPORT_ROOT}/{job.trial.code}/job-{job.pk}-{uuid.uuid4().hex[:12]}"
    )
    job.output_dir = relative
    ExportJob.objects.filter(pk=job.pk).update(output_dir=relative)
    try:
        return _run(job, _media(relative) / "files", make_zip=True)
    except Exception as exc:  # noqa: BLE001 - any failure is recorded on the job, for the user
        return _fail(job, exc)


def export_run_now(
    *,
    trial: Trial,
    out_dir: Path,
    fmt: str = DEFAULT_FORMAT,
    data_cut: dt.date | None = None,
    cut_name: str | None = None,
    acting_user: User | None = None,
    today: dt.date | None = None,
) -> ExportJob:
    """Export at once into ``out_dir`` (the ``export_endpoints`` command), logged as a job.

    Raises :class:`ExportError` (with the job marked failed) when the export cannot be made.
    """
    today = today or _today()
    if fmt not in EXPORT_FORMATS:
        raise ExportError(f"Unknown format {fmt!r}: choose one of {', '.join(EXPORT_FORMATS)}.")
    try:
        cut_date = check_data_cut(data_cut, today=today)
        name = _check_cut_name(cut_name) if cut_name else ""
    except ValidationError as exc:
        raise ExportError("; ".join(exc.messages)) from None
    named = selectors.find_data_cut(trial, name=name) if name else None
    if named is not None:
        if data_cut is not None and data_cut != named.cut_date:
            raise ExportError(
                f"Data cut {named.name} is frozen at {named.cut_date:%Y-%m-%d}; leave out "
                "--data-cut to export it again, or choose a new name."
            )
        cut_date = named.cut_date
    with audited(acting_user=acting_user, reason="export on the command line"):
        job = ExportJob.objects.create(
            trial=trial,
            requested_by=acting_user,
            source=JobSource.COMMAND,
            format=fmt,
            data_cut=cut_date,
            named_cut=named,
            cut_name=name,
            output_dir=str(out_dir),
        )
    job = export_job_transition(job=job, to_status=JobStatus.RUNNING, step="starting")
    try:
        return _run(job, out_dir, make_zip=False)
    except Exception as exc:
        failed = _fail(job, exc)
        raise ExportError(failed.error) from exc


def export_jobs_sweep(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Beat's safety net: send again the jobs still queued (a message lost while the broker
    was down), and fail the running jobs that outlived the task's time limit."""
    from survival import tasks

    now = now or timezone.now()
    requeued = 0
    for job_id in ExportJob.objects.filter(
        status=JobStatus.QUEUED, created_at__lt=now - REQUEUE_AFTER
    ).values_list("pk", flat=True):
        requeued += int(send_quietly(tasks.run_export, job_id))
    failed = 0
    for job in ExportJob.objects.filter(
        status=JobStatus.RUNNING,
        started_at__lt=now - STALE_AFTER,
        source__in=[JobSource.WEB, JobSource.API],
    ).select_related("requested_by"):
        export_job_transition(
            job=job,
            to_status=JobStatus.FAILED,
            error="The export stopped without finishing (time limit or worker lost); "
            "start it again.",
        )
        failed += 1
    return {"requeued": requeued, "failed": failed}


def export_zip_path(job: ExportJob) -> Path | None:
    """The download of a finished job, if its file is still there and unchanged."""
    if job.status != JobStatus.DONE or not job.zip_path:
        return None
    path = _media(job.zip_path)
    if not path.exists() or sha256_of(path) != job.zip_sha256:
        return None
    return path
