"""The response query workflow: a discrepancy between the computed IMWG call and the
investigator's entry (TrialDesk IMWG note 5.5) is raised as a query for the site to answer.

One transition table, read by one transition service (``response.services.query_transition``);
nothing else assigns a query's status (after django-oscar's order status pipeline).

* ``open`` → ``answered``: the site (coordinator) or the investigator answers.
* ``answered`` → ``closed``: the investigator accepts the answer.
* ``answered`` → ``open``: the investigator does not accept it (re-opened with a reason).
* ``open`` → ``closed``: the investigator closes it without an answer (e.g. the entry is right
  and the reason is stated).
* ``open``/``answered`` → ``withdrawn``: the system, when a re-evaluation or a corrected entry
  makes the discrepancy disappear. A closed query stays closed.

Pure: no Django import.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class QueryStatus(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


QUERY_STATUS_LABELS: Final = {
    QueryStatus.OPEN: "Open",
    QueryStatus.ANSWERED: "Answered",
    QueryStatus.CLOSED: "Closed",
    QueryStatus.WITHDRAWN: "Withdrawn (no longer applies)",
}

#: Who may act: the trial roles of ``trials.models.Role``, plus "system" for re-evaluations.
SYSTEM: Final = "system"
COORDINATOR: Final = "coordinator"
INVESTIGATOR: Final = "investigator"

#: (from, to) → the actors allowed to make that step.
QUERY_TRANSITIONS: Final[dict[tuple[QueryStatus, QueryStatus], frozenset[str]]] = {
    (QueryStatus.OPEN, QueryStatus.ANSWERED): frozenset({COORDINATOR, INVESTIGATOR}),
    (QueryStatus.ANSWERED, QueryStatus.CLOSED): frozenset({INVESTIGATOR}),
    (QueryStatus.ANSWERED, QueryStatus.OPEN): frozenset({INVESTIGATOR}),
    (QueryStatus.OPEN, QueryStatus.CLOSED): frozenset({INVESTIGATOR}),
    (QueryStatus.OPEN, QueryStatus.WITHDRAWN): frozenset({SYSTEM}),
    (QueryStatus.ANSWERED, QueryStatus.WITHDRAWN): frozenset({SYSTEM}),
}

#: Queries still waiting for someone.
ACTIVE_STATUSES: Final = frozenset({QueryStatus.OPEN, QueryStatus.ANSWERED})


class QueryTransitionError(ValueError):
    """The step is not in the table, or not for this actor; ``field`` names the input."""

    def __init__(self, message: str, *, field: str = "to_status") -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def query_targets(current: str, actors: frozenset[str] | set[str]) -> list[QueryStatus]:
    """The statuses ``actors`` may move a query to from ``current``."""
    return [
        to
        for (frm, to), allowed in QUERY_TRANSITIONS.items()
        if frm == current and allowed & set(actors)
    ]


def check_query_transition(
    current: str, target: str, *, actors: frozenset[str] | set[str]
) -> QueryStatus:
    """The target status if one of ``actors`` may take the step; else a clear error."""
    try:
        to = QueryStatus(target)
        frm = QueryStatus(current)
    except ValueError:
        raise QueryTransitionError(f"Unknown query status {target!r}.") from None
    allowed = QUERY_TRANSITIONS.get((frm, to))
    if allowed is None:
        possible = ", ".join(QUERY_STATUS_LABELS[s] for s in query_targets(frm, allowed_all()))
        raise QueryTransitionError(
            f"A query that is {QUERY_STATUS_LABELS[frm].lower()} cannot become "
            f"{QUERY_STATUS_LABELS[to].lower()}"
            + (f" (possible: {possible})." if possible else " (it is final).")
        )
    if not allowed & set(actors):
        who = " or ".join(sorted(allowed))
        raise QueryTransitionError(
            f"Only the {who} may mark this query {QUERY_STATUS_LABELS[to].lower()}.",
            field="non_field_errors",
        )
    return to


def allowed_all() -> frozenset[str]:
    actors: set[str] = set()
    for allowed in QUERY_TRANSITIONS.values():
        actors |= allowed
    return frozenset(actors)
