"""The export job's status workflow, as a transition table, and the export's vocabulary.

Source: TrialDesk's survival specification (``survival.md``) ("The export": a background job with progress,
every export logged). One table, read by one transition service
(``survival.services.export_job_transition``): nothing else assigns a job's status.

``running → running`` is allowed on purpose: tasks are acknowledged late and re-delivered when
a worker dies mid-export, and the re-run writes the same files again (the output is
deterministic), so it simply starts over.
"""

from __future__ import annotations

from enum import StrEnum

EXPORT_FORMATS: tuple[str, ...] = ("csv", "xlsx", "xpt", "parquet")
DEFAULT_FORMAT = "csv"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    @property
    def label(self) -> str:
        return JOB_STATUS_LABELS[self]


JOB_STATUS_LABELS: dict[str, str] = {
    JobStatus.QUEUED: "Queued",
    JobStatus.RUNNING: "Running",
    JobStatus.DONE: "Done",
    JobStatus.FAILED: "Failed",
}


class JobSource(StrEnum):
    WEB = "web"
    API = "api"
    COMMAND = "command"

    @property
    def label(self) -> str:
        return {"web": "Web page", "api": "API", "command": "Command line"}[self.value]


JOB_TRANSITIONS: frozenset[tuple[JobStatus, JobStatus]] = frozenset(
    {
        (JobStatus.QUEUED, JobStatus.RUNNING),
        (JobStatus.QUEUED, JobStatus.FAILED),  # e.g. the sweep gives up on a job never started
        (JobStatus.RUNNING, JobStatus.RUNNING),  # re-delivered after a worker died
        (JobStatus.RUNNING, JobStatus.DONE),
        (JobStatus.RUNNING, JobStatus.FAILED),
    }
)


class JobTransitionError(ValueError):
    """The requested status change is not in the table."""


def check_job_transition(current: str, target: str) -> JobStatus:
    """The target status if ``current → target`` is allowed, else ``JobTransitionError``."""
    try:
        frm, to = JobStatus(current), JobStatus(target)
    except ValueError:
        raise JobTransitionError(f"unknown job status {current!r} or {target!r}") from None
    if (frm, to) not in JOB_TRANSITIONS:
        raise JobTransitionError(f"an export job cannot go from {frm.value} to {to.value}")
    return to


def is_final(status: str) -> bool:
    return status in (JobStatus.DONE, JobStatus.FAILED)
